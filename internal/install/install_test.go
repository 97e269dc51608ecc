package install

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// home is a Windows home in a temporary folder, with builds to install from.
type home struct {
	t     *testing.T
	dir   string
	build string
	ops   int
}

func newHome(t *testing.T, wslconfig []byte) *home {
	h := &home{t: t, dir: t.TempDir(), build: t.TempDir()}
	if wslconfig != nil {
		h.write(".wslconfig", wslconfig)
	}
	return h
}

func (h *home) write(name string, data []byte) {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *home) read(name string) string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func (h *home) options(version, kernel string, modules bool) Options {
	h.t.Helper()
	h.ops++
	dir := filepath.Join(h.build, version, kernel)
	o := Options{Kernel: filepath.Join(dir, "kernel"), Version: version, Home: h.dir, WindowsHome: `C:\Users\ada`,
		Now: time.Date(2026, 11, 30, 8, 0, h.ops, 0, time.UTC)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(o.Kernel, []byte("bzImage "+kernel), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if modules {
		o.Modules = filepath.Join(dir, "modules.vhdx")
		if err := os.WriteFile(o.Modules, []byte("vhdx "+kernel), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	return o
}

// install installs a build whose kernel file holds "bzImage <kernel>".
func (h *home) install(version, kernel string, modules bool) *Result {
	h.t.Helper()
	res, err := Install(h.options(version, kernel, modules))
	if err != nil {
		h.t.Fatalf("Install(%s, %s) = %v", version, kernel, err)
	}
	return res
}

func (h *home) rollback() (*Result, error) {
	h.ops++
	return Rollback(Options{Home: h.dir, WindowsHome: `C:\Users\ada`, Now: time.Date(2026, 11, 30, 9, 0, h.ops, 0, time.UTC)})
}

// entries is what install writes for a folder: kernel= and, with modules, kernelModules=.
func entries(folder string, modules bool, nl string) string {
	s := `kernel=C:\\Users\\ada\\wsl-kernel\\` + folder + `\\kernel` + nl
	if modules {
		s += `kernelModules=C:\\Users\\ada\\wsl-kernel\\` + folder + `\\modules.vhdx` + nl
	}
	return s
}

// Install copies both files, points .wslconfig at them with Windows paths, keeps the user's other
// settings and the file's encoding and line endings, and keeps the old file as a backup.
func TestInstallKeepsTheFileAsItWas(t *testing.T) {
	const mine = "# mine\r\n[wsl2] # Zoë's settings\r\nmemory=8GB\r\nkernel=C:\\\\old\\\\kernel\r\n"
	const want = "# mine\r\n[wsl2] # Zoë's settings\r\nmemory=8GB\r\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\r\n" +
		"kernelModules=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\modules.vhdx\r\n"
	for _, c := range []struct {
		name      string
		old, want []byte // nil: no file
		warning   string
	}{
		{"no .wslconfig", nil, []byte("[wsl2]\n" + entries("6.12.118.1", true, "\n")), "under your Windows profile"},
		{"UTF-8", []byte(mine), []byte(want), "under your Windows profile"},
		{"UTF-8 with BOM", bomUTF8.encode(mine), bomUTF8.encode(want), "under your Windows profile"},
		{"UTF-16 LE (PowerShell 5.1)", utf16Bytes(mine, false), utf16Bytes(want, false), "under your Windows profile"},
		{"UTF-16 BE", utf16Bytes(mine, true), utf16Bytes(want, true), "UTF-16 BE"},
	} {
		h := newHome(t, c.old)
		res := h.install("6.12.118.1", "a", true)
		if got := h.read(".wslconfig"); got != string(c.want) {
			t.Errorf("%s: .wslconfig = %q, want %q", c.name, got, c.want)
		}
		if c.old != nil && (res.Backup == "" || h.read(filepath.Base(res.Backup)) != string(c.old)) {
			t.Errorf("%s: backup %q does not hold the old file", c.name, res.Backup)
		}
		for name, want := range map[string]string{"wsl-kernel/6.12.118.1/kernel": "bzImage a", "wsl-kernel/6.12.118.1/modules.vhdx": "vhdx a"} {
			if got := h.read(name); got != want {
				t.Errorf("%s: %s = %q, want %q", c.name, name, got, want)
			}
		}
		if got := strings.Join(res.Warnings, "\n"); c.warning != "" && !strings.Contains(got, c.warning) || c.warning == "" && got != "" {
			t.Errorf("%s: warnings %q, want one with %q", c.name, got, c.warning)
		}
	}
}

// A build without modules takes kernelModules= away: the old modules would not fit the new kernel.
func TestInstallWithoutModulesRemovesKernelModules(t *testing.T) {
	h := newHome(t, []byte("[wsl2]\nkernel=C:\\\\old\\\\kernel\nkernelModules=C:\\\\old\\\\modules.vhdx # old\nswap=0\n"))
	res := h.install("6.12.118.1", "a", false)
	if got, want := h.read(".wslconfig"), "[wsl2]\n"+entries("6.12.118.1", false, "\n")+"swap=0\n"; got != want {
		t.Errorf(".wslconfig = %q, want %q", got, want)
	}
	if strings.Join(res.Removed, ",") != "kernelModules" || res.Modules != "" {
		t.Errorf("result = %+v, want kernelModules removed and no modules", res)
	}
}

// Install never writes over a file WSL may be running: the same build again uses its folder as it
// is, another build of the same version gets a folder of its own.
func TestInstallFolders(t *testing.T) {
	h := newHome(t, nil)
	for _, c := range []struct {
		kernel, folder string
		reused         bool
	}{
		{"a", "6.12.118.1", false},
		{"a", "6.12.118.1", true},
		{"b", "6.12.118.1_2", false},
		{"a", "6.12.118.1", true},
		{"c", "6.12.118.1_3", false},
	} {
		res := h.install("6.12.118.1", c.kernel, true)
		if res.Folder != c.folder || res.Reused != c.reused {
			t.Errorf("install of %s: folder %s (reused %v), want %s (%v)", c.kernel, res.Folder, res.Reused, c.folder, c.reused)
		}
		if got := h.read(".wslconfig"); got != "[wsl2]\n"+entries(c.folder, true, "\n") {
			t.Errorf("install of %s: .wslconfig = %q", c.kernel, got)
		}
	}
	for folder, kernel := range map[string]string{"6.12.118.1": "a", "6.12.118.1_2": "b", "6.12.118.1_3": "c"} {
		if got := h.read("wsl-kernel/" + folder + "/kernel"); got != "bzImage "+kernel {
			t.Errorf("%s/kernel = %q, want bzImage %s", folder, got, kernel)
		}
	}
}

// A refused install changes nothing: no files, no state, .wslconfig as it was.
func TestInstallRefuses(t *testing.T) {
	for _, c := range []struct {
		name      string
		wslconfig []byte
		edit      func(o *Options)
		want      string
	}{
		{"not a Windows path", nil, func(o *Options) { o.WindowsHome = "/home/ada" }, "not a Windows path"},
		{"home missing", nil, func(o *Options) { o.Home = filepath.Join(o.Home, "nope") }, "the Windows home"},
		{"no Windows path", nil, func(o *Options) { o.WindowsHome = "" }, "--windows-path"},
		{"kernel missing", nil, func(o *Options) { o.Kernel += ".nope" }, "kernel.nope"},
		{"non-ASCII home", nil, func(o *Options) { o.WindowsHome = `C:\Users\Zoë` }, `not ASCII: WSL's .wslconfig parser keeps one byte of each character; install where the path is plain ASCII, e.g. C:\wsl-kernel\6.12.118.1 (--dir /mnt/c/wsl-kernel)`},
		{"# in the path", nil, func(o *Options) { o.WindowsHome = `C:\Users\c#dev` }, "'#', where WSL's .wslconfig parser ends the value"},
		{"; in the Windows dir", nil, func(o *Options) { o.Dir, o.WindowsDir = filepath.Join(o.Home, "k"), `D:\a;b` }, "';'"},
		{"a version that is a path", nil, func(o *Options) { o.Version = "../6.1" }, "cannot name a folder"},
		{"a value ending in a backslash at the end of the file", []byte("[x]\nA=\\"), func(*Options) {}, "would change what WSL reads for x.a"},
		{"UTF-16 .wslconfig without BOM", utf16Bytes("[wsl2]\n", false)[2:], func(*Options) {}, "without a byte-order mark"},
	} {
		h := newHome(t, c.wslconfig)
		o := h.options("6.12.118.1", "a", true)
		c.edit(&o)
		if _, err := Install(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Install = %v, want an error with %q", c.name, err, c.want)
		}
		files, _ := filepath.Glob(filepath.Join(h.dir, "*"))
		inside, _ := filepath.Glob(filepath.Join(h.dir, "*", "*"))
		if want := map[bool]int{true: 1, false: 0}[c.wslconfig != nil]; len(files) > want+1 || len(inside) != 0 {
			t.Errorf("%s: a refused install left %v %v", c.name, files, inside)
		}
		if c.wslconfig != nil && h.read(".wslconfig") != string(c.wslconfig) {
			t.Errorf("%s: a refused install changed .wslconfig", c.name)
		}
	}
}

// Rollback goes back to what the last install replaced, line for line; a second one goes
// forward again.
func TestRollback(t *testing.T) {
	const own = "[wsl2]\r\nmemory=8GB\r\n  kernel = C:\\\\Users\\\\ada\\\\mine\\\\bzImage  # my own\r\n"
	for _, c := range []struct {
		name   string
		old    []byte
		steps  func(h *home)
		back   string // .wslconfig after the rollback, decoded
		folder string // Result.Folder of the rollback
	}{
		{"back to WSL's own kernel", []byte("[wsl2]\nmemory=8GB\n"),
			func(h *home) { h.install("6.12.118.1", "a", true) },
			"[wsl2]\nmemory=8GB\n", ""},
		{"back to the user's own kernel line, UTF-16", utf16Bytes(own, false),
			func(h *home) { h.write("mine/bzImage", []byte("theirs")); h.install("6.12.118.1", "a", true) },
			own, ""},
		{"back to the previous install, modules put back", nil,
			func(h *home) { h.install("6.12.117.1", "a", true); h.install("6.12.118.1", "b", false) },
			"[wsl2]\n" + entries("6.12.117.1", true, "\n"), "6.12.117.1"},
		{"the same build again keeps the previous one", nil,
			func(h *home) {
				h.install("6.12.117.1", "a", true)
				h.install("6.12.118.1", "b", true)
				h.install("6.12.118.1", "b", true)
			},
			"[wsl2]\n" + entries("6.12.117.1", true, "\n"), "6.12.117.1"},
		{"a broken record is replaced, with a warning", []byte("[wsl2]\nswap=0\n"),
			func(h *home) {
				h.write(StateName, []byte("{"))
				if res := h.install("6.12.118.1", "a", false); !strings.Contains(strings.Join(res.Warnings, ""), "rollback record was broken") {
					h.t.Errorf("warnings %q, want one about the broken record", res.Warnings)
				}
			},
			"[wsl2]\nswap=0\n", ""},
	} {
		h := newHome(t, c.old)
		c.steps(h)
		forward := h.read(".wslconfig")
		res, err := h.rollback()
		if err != nil {
			t.Errorf("%s: Rollback = %v", c.name, err)
			continue
		}
		text, _, _ := decodeText("", []byte(h.read(".wslconfig")))
		if text != c.back || res.Folder != c.folder {
			t.Errorf("%s: after Rollback .wslconfig = %q (folder %q), want %q (%q)", c.name, text, res.Folder, c.back, c.folder)
		}
		if c.old != nil && h.read(".wslconfig") != string(c.old) {
			t.Errorf("%s: Rollback did not give back the user's bytes", c.name)
		}
		if _, err := h.rollback(); err != nil || h.read(".wslconfig") != forward {
			t.Errorf("%s: second Rollback = %v, .wslconfig %q; want it as before the first %q", c.name, err, h.read(".wslconfig"), forward)
		}
	}
}

func TestRollbackRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		steps   func(h *home)
		want    string
		nothing bool // errors.Is ErrNothingToRollBack
	}{
		{"nothing installed", func(*home) {}, "no kbuild install is recorded", true},
		{"previous folder gone", func(h *home) {
			h.install("6.12.117.1", "a", true)
			h.install("6.12.118.1", "b", true)
			os.RemoveAll(filepath.Join(h.dir, "wsl-kernel", "6.12.117.1"))
		}, `the previous kernel=C:\Users\ada\wsl-kernel\6.12.117.1\kernel is gone`, true},
		{"edited since", func(h *home) {
			h.install("6.12.118.1", "b", true)
			h.write(".wslconfig", []byte("[wsl2]\nkernel=C:\\\\elsewhere\n"))
		}, `was changed since kbuild last set it: [wsl2] kernel=C:\elsewhere, no kernelModules=, where kbuild left kernel=C:\Users\ada\wsl-kernel\6.12.118.1\kernel`, false},
		{"a broken state file", func(h *home) { h.write(StateName, []byte("{")) }, StateName + ": unexpected end of JSON input", false},
	} {
		h := newHome(t, nil)
		c.steps(h)
		before, _ := os.ReadFile(filepath.Join(h.dir, ".wslconfig"))
		_, err := h.rollback()
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrNothingToRollBack) != c.nothing {
			t.Errorf("%s: Rollback = %v, want an error with %q (nothing to roll back: %v)", c.name, err, c.want, c.nothing)
		}
		if after, _ := os.ReadFile(filepath.Join(h.dir, ".wslconfig")); !bytes.Equal(after, before) {
			t.Errorf("%s: a refused rollback changed .wslconfig", c.name)
		}
	}
}

// A .wslconfig that cannot be a text file WSL reads is refused before it is read: a device, a
// FIFO, a folder, or one past 1 MiB (which took install to Go's out-of-memory before); so is a
// read-only one, which Windows would not let us replace (root on Linux would).
func TestInstallRefusesAWSLConfigThatIsNoTextFile(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"a symlink to /dev/zero", func(t *testing.T, path string) { symlink(t, "/dev/zero", path) }, "(a symlink to /dev/zero) is a character device, not a regular file"},
		{"a named pipe", func(t *testing.T, path string) {
			if err := unix.Mkfifo(path, 0o644); err != nil {
				t.Skip(err)
			}
		}, "is a named pipe, not a regular file"},
		{"a folder", func(t *testing.T, path string) { os.Mkdir(path, 0o755) }, "is a folder, not a regular file"},
		{"past 1 MiB", func(t *testing.T, path string) { os.WriteFile(path, bytes.Repeat([]byte("#\n"), 1<<19+1), 0o644) }, "is 1048578 bytes, larger than the 1048576"},
		{"a symlink leading nowhere", func(t *testing.T, path string) { symlink(t, filepath.Join(t.TempDir(), "gone"), path) }, "following its symlink"},
		{"read-only", func(t *testing.T, path string) { os.WriteFile(path, []byte("[wsl2]\n"), 0o444) }, "is read-only: nothing was changed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHome(t, nil)
			path := filepath.Join(h.dir, ".wslconfig")
			c.make(t, path)
			_, err := Install(h.options("6.12.118.1", "a", true))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Install = %v, want an error naming %s with %q", err, path, c.want)
			}
			if left, _ := filepath.Glob(filepath.Join(h.dir, "wsl-kernel", "*")); len(left) != 0 {
				t.Errorf("a refused install left %v", left)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// A symlinked .wslconfig (a dotfile manager's) stays a symlink: the file it leads to is edited in
// place, and the backup holds what that file held.
func TestInstallEditsASymlinkedWSLConfigsTarget(t *testing.T) {
	const mine = "[wsl2]\nmemory=8GB\n"
	h := newHome(t, nil)
	dotfiles := filepath.Join(t.TempDir(), "dotfiles")
	os.MkdirAll(dotfiles, 0o755)
	target := filepath.Join(dotfiles, "wslconfig")
	if err := os.WriteFile(target, []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(h.dir, ".wslconfig")
	symlink(t, target, link)

	res := h.install("6.12.118.1", "a", true)
	if got, err := os.Readlink(link); err != nil || got != target {
		t.Fatalf(".wslconfig = a link to %q (%v), want it still a link to %s", got, err, target)
	}
	want := mine + entries("6.12.118.1", true, "\n")
	if got, _ := os.ReadFile(target); string(got) != want {
		t.Errorf("the link's target = %q, want %q", got, want)
	}
	if info, err := os.Stat(target); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the link's target: %v %v, want its mode 0600 kept", info, err)
	}
	if res.Backup == "" || h.read(filepath.Base(res.Backup)) != mine {
		t.Errorf("backup %q does not hold the target's old text", res.Backup)
	}
	if left, _ := filepath.Glob(filepath.Join(dotfiles, "*.tmp-*")); len(left) != 0 {
		t.Errorf("writing the target left %v", left)
	}
	if _, err := h.rollback(); err != nil {
		t.Fatalf("Rollback = %v", err)
	}
	if got, _ := os.ReadFile(target); string(got) != mine {
		t.Errorf("after the rollback the link's target = %q, want %q", got, mine)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("after the rollback .wslconfig is %v (%v), want still a symlink", info, err)
	}
}

// WSL 2.7.1 to 2.7.4 attach the modules disk without granting the VM access: a disk under the
// user's profile fails there, one in a folder of C:\ does not. Install warns for the first only,
// and not for a kernel without modules.
func TestWarnsOfAModulesDiskUnderTheProfile(t *testing.T) {
	for _, c := range []struct {
		name    string
		dir     string // Windows folder; "" is the default, under the profile
		modules bool
		warn    bool
	}{
		{"default folder", "", true, true},
		{"profile named in another case", `c:\USERS\ADA\k`, true, true},
		{"a folder of C:", `C:\wsl-kernel`, true, false},
		{"a sibling whose name starts like the profile", `C:\Users\ada2\k`, true, false},
		{"no modules disk", "", false, false},
	} {
		h := newHome(t, nil)
		o := h.options("6.12.118.1", "a", c.modules)
		if c.dir != "" {
			o.Dir, o.WindowsDir = filepath.Join(h.dir, "k"), c.dir
		}
		res, err := Install(o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := strings.Contains(strings.Join(res.Warnings, "\n"), "under your Windows profile")
		if got != c.warn {
			t.Errorf("%s: warned %v, want %v: %q", c.name, got, c.warn, res.Warnings)
		}
	}
}

// The artifacts layout's disk is installed as artifacts.vhd, the name WSL gives it (Windows opens
// a .vhd as a VHD), and kernelModules= names it; a name WSL would not open is refused.
func TestInstallTheArtifactsDisk(t *testing.T) {
	h := newHome(t, []byte("[wsl2]\nswap=0\n"))
	o := h.options("6.12.118.1", "a", true)
	o.ModulesName = ArtifactsDisk
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	want := "[wsl2]\nswap=0\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\nkernelModules=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\artifacts.vhd\n"
	if got := h.read(".wslconfig"); got != want {
		t.Errorf(".wslconfig = %q, want %q", got, want)
	}
	if got := h.read("wsl-kernel/6.12.118.1/artifacts.vhd"); got != "vhdx a" || res.Modules != filepath.Join(h.dir, "wsl-kernel/6.12.118.1/artifacts.vhd") {
		t.Errorf("installed disk %q at %s", got, res.Modules)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "wsl-kernel/6.12.118.1/modules.vhdx")); !os.IsNotExist(err) {
		t.Errorf("a modules.vhdx beside artifacts.vhd: %v", err)
	}
	o = h.options("6.12.118.2", "b", true)
	o.ModulesName = "modules.img"
	if _, err := Install(o); err == nil || !strings.Contains(err.Error(), `the modules disk's name "modules.img": want modules.vhdx or artifacts.vhd`) {
		t.Errorf("Install(modules.img) = %v", err)
	}
}
