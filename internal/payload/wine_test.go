package payload

import (
	"testing"

	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/winetest"
)

// The MSI under a real installer, Wine's msiexec: winetest.CheckMSI's whole life cycle, on two
// revisions of a fake kernel's MSI. The e2e suite runs the same on the smoke release's.
func TestMSIUnderWine(t *testing.T) {
	testtool.Need(t, "wixl", "msiinfo", "faketime", "wine", "wineserver")
	_, contents := fakeRun(t)
	winetest.CheckMSI(t, winetest.MSIs{Product: "Windows Subsystem for Linux Kernel", MinWindowsBuild: 19045,
		Old: makeMSIOf(t, "6.12.118.1"), New: makeMSIOf(t, "6.12.118.2"), OldVersion: "6.12.118.1", NewVersion: "6.12.118.2",
		Files: map[string][]byte{"kernel": contents["x86_64/kernel"], "modules.vhdx": contents["x86_64/modules.vhdx"]}})
}
