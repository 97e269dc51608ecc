//go:build windows

// Command aces prints the access-control entries of each file or folder named, one a line:
// path, type, flags and access mask (hex), SID. winetest's CheckGrants reads back with it
// what the MSI's grant action set.
package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

func main() {
	for _, p := range os.Args[1:] {
		sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			fmt.Printf("%s\terror\t%v\n", p, err)
			continue
		}
		dacl, _, err := sd.DACL()
		if err != nil || dacl == nil {
			fmt.Printf("%s\terror\tno DACL: %v\n", p, err)
			continue
		}
		for i := uint32(0); i < uint32(dacl.AceCount); i++ {
			var ace *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(dacl, i, &ace); err != nil {
				fmt.Printf("%s\terror\t%v\n", p, err)
				break
			}
			sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
			fmt.Printf("%s\t%d\t%#x\t%#x\t%s\n", p, ace.Header.AceType, ace.Header.AceFlags, ace.Mask, sid.String())
		}
	}
}
