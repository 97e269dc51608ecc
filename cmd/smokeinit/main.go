// Command smokeinit is the /init of the smoke initramfs. It prints the boot marker with the running
// kernel's release and exits; init exiting panics the kernel, and with panic=-1 and -no-reboot
// qemu then exits, so a boot test needs no shutdown path. Static (CGO_ENABLED=0), so it is built
// for any target arch by setting GOARCH.
package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/wslkernel/wslkernel/internal/boot"
)

func main() {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		fmt.Fprintf(os.Stderr, "%s error=%v\n", boot.Marker, err)
		os.Exit(1)
	}
	fmt.Printf("%s release=%s machine=%s\n", boot.Marker, cString(u.Release[:]), cString(u.Machine[:]))
}

func cString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
