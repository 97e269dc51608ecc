//go:build !windows

package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// fakeWSL is a distro in a temporary folder: its root (proc, etc, mnt/c/Users/ada) and a PATH
// holding stand-ins for the Windows programs interop would start; a stand-in writes its
// arguments to <name>.args.
type fakeWSL struct {
	WSL
	bin string
}

func newFakeWSL(t *testing.T) *fakeWSL {
	root, bin := t.TempDir(), t.TempDir()
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	w := &fakeWSL{WSL: WSL{Root: root, Getenv: func(string) string { return "" }, Runner: runner.Exec{}}, bin: bin}
	w.file("proc/sys/fs/binfmt_misc/WSLInterop", "enabled\ninterpreter /init\n")
	if err := os.MkdirAll(filepath.Join(root, "mnt/c/Users/ada"), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *fakeWSL) file(name, text string) {
	p := filepath.Join(w.Root, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte(text), 0o644)
}

// program puts a stand-in for a Windows program on PATH: a script that records its arguments,
// one a line, and runs body.
func (w *fakeWSL) program(t *testing.T, name, body string) {
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + filepath.Join(w.bin, name+".args") + "'\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(w.bin, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func (w *fakeWSL) args(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join(w.bin, name+".args"))
	if err != nil {
		t.Fatalf("%s did not run: %v", name, err)
	}
	return string(b)
}

// cmd.exe started from a Linux folder warns first, as the real one does.
const unc = `printf '%s\r\n' "'\\\\wsl.localhost\\Debian\\home\\ada'" 'CMD.EXE was started with the above path as the current directory.' 'UNC paths are not supported.  Defaulting to Windows directory.' >&2`

// WSL is known as WSL knows itself: its interop handler, WSL_DISTRO_NAME, a Microsoft kernel.
func TestInsideWSL(t *testing.T) {
	for _, c := range []struct {
		name, file, text, env string
		want                  bool
	}{
		{"interop handler", "proc/sys/fs/binfmt_misc/WSLInterop", "enabled", "", true},
		{"interop handler registered late (systemd)", "proc/sys/fs/binfmt_misc/WSLInterop-late", "enabled", "", true},
		{"WSL_DISTRO_NAME", "", "", "Debian", true},
		{"a WSL kernel", "proc/version", "Linux version 6.12.118.1-microsoft-standard-WSL2 (kbuild@wslkernel) #1 SMP", "", true},
		{"a Debian kernel", "proc/version", "Linux version 6.12.57+deb13-amd64 (debian-kernel@lists.debian.org) #1 SMP", "", false},
		{"nothing", "", "", "", false},
	} {
		w := WSL{Root: t.TempDir(), Getenv: func(k string) string {
			if k == "WSL_DISTRO_NAME" {
				return c.env
			}
			return ""
		}}
		if c.file != "" {
			(&fakeWSL{WSL: w}).file(c.file, c.text)
		}
		if got := w.Inside(); got != c.want {
			t.Errorf("%s: Inside() = %v, want %v", c.name, got, c.want)
		}
	}
}

// The profile comes from cmd.exe's %USERPROFILE%, its warning about UNC paths skipped, and is
// found under the distro's automount root.
func TestProfileThroughInterop(t *testing.T) {
	for _, c := range []struct{ name, conf, want string }{
		{"default automount root", "", "mnt/c/Users/ada"},
		{"wsl.conf's automount root", "[automount]\nroot = /win/\noptions = metadata\n", "win/c/Users/ada"},
	} {
		w := newFakeWSL(t)
		w.program(t, "cmd.exe", unc+"\nprintf 'C:\\\\Users\\\\ada\\r\\n'")
		if c.conf != "" {
			w.file("etc/wsl.conf", c.conf)
			os.MkdirAll(filepath.Join(w.Root, c.want), 0o755)
		}
		home, winHome, err := w.Profile(context.Background())
		if want := filepath.Join(w.Root, c.want); err != nil || home != want || winHome != `C:\Users\ada` {
			t.Errorf("%s: Profile() = %q, %q, %v; want %q, C:\\Users\\ada", c.name, home, winHome, err, want)
		}
		if got := w.args(t, "cmd.exe"); got != "/d\n/v:on\n/c\necho(!USERPROFILE!\n" {
			t.Errorf("%s: cmd.exe was run with %q", c.name, got)
		}
	}
}

func TestProfileThroughInteropRefuses(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"no USERPROFILE", `printf '\r\n'`, `answered "\r\n", not a folder on a drive`},
		{"a way out of the folder", `printf 'C:\\Users\\..\\..\\etc\r\n'`, `answered "C:\\Users\\..\\..\\etc\r\n", not a folder on a drive`},
		{"a drive not mounted", `printf 'D:\\Users\\ada\r\n'`, `your Windows profile, D:\Users\ada, should be at`},
		{"interop off", "echo 'exec format error' >&2; exit 126", "is interop on ([interop] enabled in /etc/wsl.conf)?"},
	} {
		w := newFakeWSL(t)
		w.program(t, "cmd.exe", c.body)
		if _, _, err := w.Profile(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--windows-home") {
			t.Errorf("%s: Profile() = %v; want an error saying %q and naming --windows-home", c.name, err, c.want)
		}
	}
}

// kbuild install inside WSL: the profile found through interop, the files installed under it,
// icacls.exe giving WSL's readers read and execute on their folder before .wslconfig names
// them, so no warning; should icacls.exe fail, .wslconfig is left as it was.
func TestInstallInsideWSL(t *testing.T) {
	w := newFakeWSL(t)
	w.program(t, "cmd.exe", unc+"\nprintf 'C:\\\\Users\\\\ada\\r\\n'")
	w.program(t, "icacls.exe", `printf '%s\n' "processed file: $1"; echo 'Successfully processed 1 files; Failed processing 0 files'`)
	h := &home{t: t, build: t.TempDir()}
	o := h.options("6.12.118.1", "a", true)
	o.Home, o.WindowsHome = "", ""
	if err := w.Complete(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	h.dir = o.Home
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.args(t, "icacls.exe"), "C:\\Users\\ada\\wsl-kernel\\6.12.118.1\n/grant\n*S-1-5-32-545:(OI)(CI)RX\n*S-1-15-2-1:(OI)(CI)RX\n*S-1-15-2-2:(OI)(CI)RX\n"; got != want {
		t.Errorf("icacls.exe ran with\n%s\nwant\n%s", got, want)
	}
	if want := "[wsl2]\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\nkernelModules=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\modules.vhdx\n"; h.read(".wslconfig") != want {
		t.Errorf(".wslconfig:\n%s\nwant\n%s", h.read(".wslconfig"), want)
	}
	var said strings.Builder
	res.Describe(&said)
	if res.Granted != `C:\Users\ada\wsl-kernel\6.12.118.1` || len(res.Warnings) != 0 ||
		!strings.Contains(said.String(), `granted        read and execute on C:\Users\ada\wsl-kernel\6.12.118.1 to S-1-5-32-545, S-1-15-2-1, S-1-15-2-2`) {
		t.Errorf("Granted %q, warnings %q, described:\n%s", res.Granted, res.Warnings, said.String())
	}

	w.program(t, "icacls.exe", `printf '%s\n' "$1: Access is denied."; echo 'Successfully processed 0 files; Failed processing 1 files'; exit 5`)
	before := h.read(".wslconfig")
	o = h.options("6.12.118.2", "b", true)
	o.Home, o.WindowsHome, o.Now = "", "", time.Now()
	w.Complete(context.Background(), &o)
	if _, err := Install(o); err == nil || !strings.Contains(err.Error(), `C:\Users\ada\wsl-kernel\6.12.118.2: Access is denied.`) || !strings.Contains(err.Error(), ".wslconfig was not changed") {
		t.Errorf("Install with icacls.exe failing = %v", err)
	}
	if h.read(".wslconfig") != before {
		t.Errorf("a failed grant changed .wslconfig:\n%s", h.read(".wslconfig"))
	}
}

// Outside WSL, Complete leaves the options alone: no profile guessed, nothing granted.
func TestCompleteOutsideWSL(t *testing.T) {
	w := WSL{Root: t.TempDir(), Getenv: func(string) string { return "" }, Runner: runner.Exec{}}
	var o Options
	if err := w.Complete(context.Background(), &o); err != nil || o.Home != "" || o.Grant != nil {
		t.Errorf("Complete() = %v; options %+v", err, o)
	}
}
