package winetest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/install"
)

// MSIs are two revisions of one kernel's MSI, as kbuild package makes them.
type MSIs struct {
	Product         string // the MSI's product (package.product): Windows Subsystem for Linux Kernel
	MinWindowsBuild int    // the build it needs (package.min_windows_build); at most 19045
	Old, New        string // the paths of the older and the newer revision's MSI
	OldVersion      string // their kernel versions: 6.12.118.1, 6.12.118.2
	NewVersion      string
	// Files are the bytes each install must put into C:\wsl-kernel\<version>\ (kernel,
	// modules.vhdx), beside the custom action.
	Files map[string][]byte
}

// Action is the MSI's custom action, installed beside the kernel.
const Action = "wslconfig-action.exe"

// CheckMSI puts the MSIs through a real installer's life: Wine's msiexec, in a prefix of the
// test's own, set to Windows 10. It refuses build 18362 with its message, and Windows on arm64
// (its PROCESSOR_ARCHITECTURE) naming it; a .wslconfig the editor cannot read (UTF-16 without a
// byte-order mark) fails the install, which rolls back and leaves it untouched, the reason in the
// action's log; at build 19045 the old revision installs its files into C:\wsl-kernel\<version>\
// and points the user's UTF-16 .wslconfig at them (doubled backslashes, every other line kept
// byte for byte), its folder granted to WSL's readers where Wine can show it; the new revision
// upgrades it (the old folder gone, .wslconfig pointing at the new one); a downgrade is refused
// with its message; the uninstall puts .wslconfig back byte for byte; and a custom action that
// fails (a read-only .wslconfig) rolls the install back, leaving no files. One prefix serves
// every step, in order; each step's time is logged.
func CheckMSI(t *testing.T, m MSIs) {
	start := time.Now()
	since := time.Now()
	step := func(what string) {
		t.Logf("%-48s %5.1f s", what, time.Since(since).Seconds())
		since = time.Now()
	}
	w := New(t)
	step("prefix made (wineboot -i)")

	wslconfig := filepath.Join(w.Profile, ".wslconfig")
	mine := "# my settings\r\n[wsl2] # Zoë's\r\nmemory=8GB\r\nkernel = C:\\\\old\\\\kernel   # the last one\r\nswap=0\r\n[experimental]\r\nsparseVhd=true\r\n"
	pointed := func(v string) []byte {
		return UTF16LE(strings.NewReplacer(`C:\\old\\kernel`, `C:\\wsl-kernel\\`+v+`\\kernel`,
			"swap=0\r\n", "swap=0\r\nkernelModules=C:\\\\wsl-kernel\\\\"+v+"\\\\modules.vhdx\r\n").Replace(mine))
	}
	write := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(wslconfig, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(UTF16LE(mine))
	check := func(when string, want []byte, folders ...string) {
		t.Helper()
		if got, _ := os.ReadFile(wslconfig); !bytes.Equal(got, want) {
			t.Errorf("%s: .wslconfig is\n%q\nwant\n%q", when, got, want)
		}
		var files []string
		for _, v := range folders {
			for name := range m.Files {
				files = append(files, v+"/"+name)
			}
			files = append(files, v+"/"+Action)
		}
		slices.Sort(files)
		if got := w.Files("wsl-kernel"); !slices.Equal(got, files) {
			t.Errorf("%s: C:\\wsl-kernel holds %q, want %q", when, got, files)
		}
	}
	install1 := func(msi, what string) {
		t.Helper()
		if code, log := w.Msiexec("/i", WinPath(msi)); code != 0 {
			t.Fatalf("%s: msiexec exit %d\n%s\n%s", what, code, log, w.ActionLog())
		}
	}
	refuse := func(what, msi, want string) {
		t.Helper()
		if code, messages := w.Refused(msi); code == 0 || !slices.Contains(messages, want) {
			t.Errorf("%s: msiexec exit %d, messages %q; want a refusal saying %q", what, code, messages, want)
		}
	}

	// Build 18362 (Wine's "win10") is below the MSI's.
	if out, code := w.Wine("winecfg", "-v", "win10"); code != 0 {
		t.Fatalf("winecfg -v win10: exit %d\n%s", code, out)
	}
	refuse("build 18362", m.Old, m.Product+" needs Windows build "+strconv.Itoa(m.MinWindowsBuild)+" or later.")
	check("after the refusal on build 18362", UTF16LE(mine))
	step("build 18362 refused")

	for _, name := range []string{"CurrentBuildNumber", "CurrentBuild"} {
		w.Reg(`HKLM\Software\Microsoft\Windows NT\CurrentVersion`, name, "19045")
	}
	// Windows on arm64 runs an x64 installer, and says what it is in the system environment.
	env := `HKLM\System\CurrentControlSet\Control\Session Manager\Environment`
	w.Reg(env, "PROCESSOR_ARCHITECTURE", "ARM64")
	refuse("Windows on arm64", m.Old, m.Product+" "+m.OldVersion+" is the x64 kernel, and this Windows runs on ARM64: WSL boots only a kernel of the machine's own architecture. Install the arm64 kernel (its CAB or NuGet package) instead.")
	check("after the refusal on arm64", UTF16LE(mine))
	w.Reg(env, "PROCESSOR_ARCHITECTURE", "AMD64")
	step("arm64 refused")

	// UTF-16 without a byte-order mark: neither WSL nor the editor can tell what it is.
	noBOM := UTF16LE(mine)[2:]
	write(noBOM)
	// Windows Installer logs an EXE custom action's exit code, not what it said (Wine's log
	// not even that: "Return value 0"), so the reason is in the action's own log.
	code, log := w.Msiexec("/i", WinPath(m.Old))
	if !failed(code) {
		t.Errorf("install over a .wslconfig without a byte-order mark: msiexec exit %d, want 1603 or 1627\n%s", code, log)
	}
	check("after the install over an unreadable .wslconfig", noBOM)
	if got := w.ActionLog(); !strings.Contains(got, "looks like UTF-16 without a byte-order mark") {
		t.Errorf("the action's log does not say why set failed:\n%s", got)
	}
	write(UTF16LE(mine))
	step("unreadable .wslconfig: rolled back")

	install1(m.Old, "install "+m.OldVersion)
	check("after installing "+m.OldVersion, pointed(m.OldVersion), m.OldVersion)
	for name, want := range m.Files {
		if got, _ := os.ReadFile(filepath.Join(w.Dir, "drive_c", "wsl-kernel", m.OldVersion, name)); !bytes.Equal(got, want) {
			t.Errorf("the installed %s is not the build's", name)
		}
	}
	var granted strings.Builder
	install.DescribeGrant(&granted, `C:\wsl-kernel\`+m.OldVersion)
	if got := w.ActionLog(); !strings.Contains(got, granted.String()) {
		t.Errorf("the action's log does not say grant ran:\n%s", got)
	}
	w.CheckGrants(`C:\wsl-kernel\`+m.OldVersion, "kernel", "modules.vhdx")
	step(m.OldVersion + " installed")

	install1(m.New, "upgrade to "+m.NewVersion)
	check("after the upgrade to "+m.NewVersion, pointed(m.NewVersion), m.NewVersion)
	step("upgraded to " + m.NewVersion)

	refuse("downgrade", m.Old, "A newer version of "+m.Product+" is already installed: uninstall it first to go back to "+m.OldVersion+".")
	check("after the refused downgrade", pointed(m.NewVersion), m.NewVersion)
	step("downgrade refused")

	if code, log := w.Msiexec("/x", WinPath(m.New)); code != 0 {
		t.Fatalf("uninstall: msiexec exit %d\n%s\n%s", code, log, w.ActionLog())
	}
	check("after the uninstall", UTF16LE(mine))
	if _, err := os.Stat(filepath.Join(w.Profile, install.MSIRecordName)); err == nil {
		t.Errorf("the uninstall left %s", install.MSIRecordName)
	}
	step("uninstalled")

	// A custom action that fails: the .wslconfig is read-only (Wine shows a file without write
	// permission as FILE_ATTRIBUTE_READONLY), so set refuses it; the install rolls back.
	if err := os.Chmod(wslconfig, 0o444); err != nil {
		t.Fatal(err)
	}
	if code, log := w.Msiexec("/i", WinPath(m.Old)); !failed(code) {
		t.Errorf("install over a read-only .wslconfig: msiexec exit %d, want 1603 or 1627\n%s", code, log)
	}
	check("after the failed install", UTF16LE(mine))
	if _, err := os.Stat(filepath.Join(w.Profile, install.MSIRecordName)); err == nil {
		t.Errorf("the failed install left %s", install.MSIRecordName)
	}
	if got := w.ActionLog(); !strings.Contains(got, "is read-only: nothing was changed") {
		t.Errorf("the action's log does not say why set failed:\n%s", got)
	}
	step("read-only .wslconfig: rolled back")
	t.Logf("%-48s %5.1f s", "total", time.Since(start).Seconds())
	t.Logf("the action's log:\n%s", w.ActionLog())
}

// failed says whether msiexec's exit code (cut to 8 bits by Wine) is a failed install's: 1603, a
// fatal error during installation, as Windows reports a failed custom action, or 1627, function
// failed, as Wine 8 does.
func failed(code int) bool {
	return code == 1603&0xff || code == 1627&0xff
}
