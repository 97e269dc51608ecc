package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSetKeepsEverythingElse(t *testing.T) {
	const win = `C:\Users\ada\wsl-kernel\6.12.118.1\kernel`
	for _, c := range []struct{ name, in, want string }{
		{"empty file", "", "[wsl2]\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\n"},
		{"no wsl2 section",
			"[experimental]\nautoMemoryReclaim=gradual\n",
			"[experimental]\nautoMemoryReclaim=gradual\n\n[wsl2]\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\n"},
		{"key replaced where it stands, duplicate dropped, comments kept",
			"# mine\n[wsl2]\nmemory=8GB\nkernel=C:\\\\old\\\\kernel # was\n; a note\nKernel=C:\\\\older\nswap=0\n[experimental]\nsparseVhd=true\n",
			"# mine\n[wsl2]\nmemory=8GB\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\n; a note\nswap=0\n[experimental]\nsparseVhd=true\n"},
		{"key added after the section's last line, before blank lines and the next section",
			"[wsl2]\nmemory=8GB\n\n[experimental]\nsparseVhd=true\n",
			"[wsl2]\nmemory=8GB\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\n\n[experimental]\nsparseVhd=true\n"},
		{"CRLF stays CRLF, a commented-out key stays",
			"[wsl2]\r\n#kernel=C:\\\\x\r\nprocessors=4\r\n",
			"[wsl2]\r\n#kernel=C:\\\\x\r\nprocessors=4\r\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\r\n"},
	} {
		if got := Set(c.in, "wsl2", "kernel", win); got != c.want {
			t.Errorf("%s: Set =\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestWindowsPath(t *testing.T) {
	for in, want := range map[string]string{"/mnt/c/Users/ada": `C:\Users\ada`, "/mnt/d": `D:\`, "/mnt/c/Users/ada/": `C:\Users\ada`} {
		if got, err := WindowsPath(in); err != nil || got != want {
			t.Errorf("WindowsPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := WindowsPath("/home/ada"); err == nil || !strings.Contains(err.Error(), "--windows-path") {
		t.Errorf("WindowsPath(/home/ada) = %v, want an error pointing at --windows-path", err)
	}
}

// Install copies both files, points .wslconfig at them with Windows paths, keeps the user's
// other settings, and keeps the old file as a backup.
func TestInstallIntoAWindowsHome(t *testing.T) {
	build := t.TempDir()
	os.WriteFile(filepath.Join(build, "kernel"), []byte("bzImage"), 0o644)
	os.WriteFile(filepath.Join(build, "modules.vhdx"), []byte("vhdxfile"), 0o644)
	home := t.TempDir()
	mine := "[wsl2]\nmemory=8GB\nkernel=C:\\\\old\\\\kernel\n"
	os.WriteFile(filepath.Join(home, ".wslconfig"), []byte(mine), 0o644)
	res, err := Install(Options{Kernel: filepath.Join(build, "kernel"), Modules: filepath.Join(build, "modules.vhdx"),
		Version: "6.12.118.1", Home: home, WindowsHome: `C:\Users\ada`, Now: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(home, "wsl-kernel/6.12.118.1/kernel"):       "bzImage",
		filepath.Join(home, "wsl-kernel/6.12.118.1/modules.vhdx"): "vhdxfile",
		filepath.Join(home, ".wslconfig.bak-20261130T080000Z"):    mine,
		filepath.Join(home, ".wslconfig"): "[wsl2]\nmemory=8GB\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\n" +
			"kernelModules=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\modules.vhdx\n",
	} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if res.Backup == "" || res.Settings["kernelModules"] != `C:\Users\ada\wsl-kernel\6.12.118.1\modules.vhdx` {
		t.Errorf("result = %+v", res)
	}
}

func TestInstallRefusesBadInput(t *testing.T) {
	build := t.TempDir()
	os.WriteFile(filepath.Join(build, "kernel"), []byte("bzImage"), 0o644)
	home := t.TempDir()
	for name, o := range map[string]Options{
		"not a Windows path": {Kernel: filepath.Join(build, "kernel"), Home: home, WindowsHome: "/home/ada"},
		"home missing":       {Kernel: filepath.Join(build, "kernel"), Home: filepath.Join(home, "nope"), WindowsHome: `C:\Users\ada`},
		"no Windows path":    {Kernel: filepath.Join(build, "kernel"), Home: home},
		"kernel missing":     {Kernel: filepath.Join(build, "nope"), Home: home, WindowsHome: `C:\Users\ada`},
	} {
		if _, err := Install(o); err == nil {
			t.Errorf("%s: Install succeeded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".wslconfig")); !os.IsNotExist(err) {
		t.Errorf("a failed install wrote .wslconfig")
	}
}
