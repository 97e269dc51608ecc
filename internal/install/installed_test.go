package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	msiKernel  = `C:\wsl-kernel\6.12.118.1\kernel`
	msiModules = `C:\wsl-kernel\6.12.118.1\modules.vhdx`
	// msiLines are the lines Point adds for them.
	msiLines = `kernel=C:\\wsl-kernel\\6.12.118.1\\kernel` + "\n" + `kernelModules=C:\\wsl-kernel\\6.12.118.1\\modules.vhdx` + "\n"
)

// installed is what the MSI's custom action hands Point and Restore for version's files.
func (h *home) installed(version string) Installed {
	h.ops++
	dir := `C:\wsl-kernel\` + version + `\`
	return Installed{Home: h.dir, WindowsHome: `C:\Users\ada`, Kernel: dir + "kernel", Modules: dir + "modules.vhdx",
		Record: MSIRecordName, Now: time.Date(2026, 12, 7, 8, 0, h.ops, 0, time.UTC)}
}

func (h *home) point(o Installed) *Result {
	h.t.Helper()
	res, err := Point(o)
	if err != nil {
		h.t.Fatalf("Point(%s) = %v", o.Kernel, err)
	}
	return res
}

func (h *home) restore(o Installed) *Result {
	h.t.Helper()
	res, err := Restore(o)
	if err != nil {
		h.t.Fatalf("Restore(%s) = %v", o.Kernel, err)
	}
	return res
}

// wslconfig is the file's bytes, or nil when there is none.
func (h *home) wslconfig() []byte {
	b, err := os.ReadFile(filepath.Join(h.dir, ".wslconfig"))
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	return b
}

func (h *home) exists(name string) bool {
	_, err := os.Lstat(filepath.Join(h.dir, name))
	return err == nil
}

// The MSI's install points .wslconfig at its files the way kbuild install does (every other
// byte kept, in the file's encoding), and its uninstall puts back every byte, or no file.
func TestPointAndRestoreGiveTheFileBack(t *testing.T) {
	const mine = "# mine\r\n[wsl2] # Zoë's settings\r\nmemory=8GB\r\nkernel=C:\\\\old\\\\kernel\r\n[experimental]\r\nsparseVhd=true\r\n"
	const want = "# mine\r\n[wsl2] # Zoë's settings\r\nmemory=8GB\r\nkernel=C:\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\r\n" +
		"kernelModules=C:\\\\wsl-kernel\\\\6.12.118.1\\\\modules.vhdx\r\n[experimental]\r\nsparseVhd=true\r\n"
	for _, c := range []struct {
		name      string
		old, want []byte // nil: no file
	}{
		{"no .wslconfig", nil, []byte("[wsl2]\n" + msiLines)},
		{"no [wsl2] section, no final newline", []byte("[experimental]\nsparseVhd=true"), []byte("[experimental]\nsparseVhd=true\n\n[wsl2]\n" + msiLines)},
		{"UTF-8", []byte(mine), []byte(want)},
		{"UTF-8 with BOM", bomUTF8.encode(mine), bomUTF8.encode(want)},
		{"UTF-16 LE (PowerShell 5.1)", utf16Bytes(mine, false), utf16Bytes(want, false)},
	} {
		h := newHome(t, c.old)
		o := h.installed("6.12.118.1")
		res := h.point(o)
		if got := h.wslconfig(); string(got) != string(c.want) {
			t.Errorf("%s: after Point .wslconfig = %q, want %q", c.name, got, c.want)
		}
		if res.Settings["kernel"] != msiKernel || res.Settings["kernelModules"] != msiModules || res.Folder != "6.12.118.1" {
			t.Errorf("%s: Point = %+v", c.name, res)
		}
		if (c.old != nil) != (res.Backup != "") {
			t.Errorf("%s: backup %q", c.name, res.Backup)
		}
		h.restore(o)
		if got := h.wslconfig(); string(got) != string(c.old) {
			t.Errorf("%s: after Restore .wslconfig = %q, want %q", c.name, got, c.old)
		}
		if h.exists(MSIRecordName) {
			t.Errorf("%s: Restore left the record", c.name)
		}
	}
}

// A .wslconfig edited between install and uninstall keeps the edit: the keys that still name
// this install's files get their old lines back where they stand, a key the user changed stays.
func TestRestoreAfterAnEdit(t *testing.T) {
	const old = "[wsl2]\nkernel = C:\\\\old\\\\kernel # mine\nswap=0\n"
	for _, c := range []struct {
		name, from, to, want, warning string
	}{
		{"another key changed",
			"swap=0\n", "swap=4GB\n",
			"[wsl2]\nkernel = C:\\\\old\\\\kernel # mine\nswap=4GB\n", ""},
		{"kernel changed by the user",
			`kernel = C:\\wsl-kernel\\6.12.118.1\\kernel # mine`, `kernel=C:\\mine`,
			"[wsl2]\nkernel=C:\\\\mine\nswap=0\n", "[wsl2] kernel was changed since this install set it (now C:\\mine)"},
		{"kernelModules removed by the user",
			`kernelModules=C:\\wsl-kernel\\6.12.118.1\\modules.vhdx` + "\n", "",
			"[wsl2]\nkernel = C:\\\\old\\\\kernel # mine\nswap=0\n", "[wsl2] kernelModules was changed since this install set it (now absent)"},
	} {
		h := newHome(t, []byte(old))
		o := h.installed("6.12.118.1")
		h.point(o)
		pointed := string(h.wslconfig())
		if !strings.Contains(pointed, c.from) {
			t.Fatalf("%s: %q lacks %q", c.name, pointed, c.from)
		}
		h.write(".wslconfig", []byte(strings.Replace(pointed, c.from, c.to, 1)))
		res := h.restore(o)
		if got := string(h.wslconfig()); got != c.want {
			t.Errorf("%s: after Restore .wslconfig = %q, want %q", c.name, got, c.want)
		}
		if got := strings.Join(res.Warnings, "\n"); c.warning == "" && got != "" || !strings.Contains(got, c.warning) {
			t.Errorf("%s: warnings %q, want %q", c.name, got, c.warning)
		}
		if res.Backup == "" || h.read(filepath.Base(res.Backup)) != strings.Replace(pointed, c.from, c.to, 1) {
			t.Errorf("%s: no backup of the edited file: %q", c.name, res.Backup)
		}
		if h.exists(MSIRecordName) {
			t.Errorf("%s: Restore left the record", c.name)
		}
	}
}

// A repair (Point again over its own edit) keeps the first record; an upgrade (Restore the old
// version, Point the new) ends, at the uninstall, where the user started.
func TestRepairAndUpgrade(t *testing.T) {
	const old = "[wsl2]\r\nkernel=C:\\\\old\\\\kernel\r\n"
	h := newHome(t, []byte(old))
	a := h.installed("6.12.118.1")
	h.point(a)
	h.point(a)
	if got := string(h.wslconfig()); got != "[wsl2]\r\n"+strings.ReplaceAll(msiLines, "\n", "\r\n") {
		t.Errorf("after a repair: %q", got)
	}
	h.restore(a)
	b := h.installed("6.12.118.2")
	h.point(b)
	if got := string(h.wslconfig()); !strings.Contains(got, `kernel=C:\\wsl-kernel\\6.12.118.2\\kernel`+"\r\n") || strings.Contains(got, "118.1") {
		t.Errorf("after the upgrade: %q", got)
	}
	h.restore(b)
	if got := string(h.wslconfig()); got != old {
		t.Errorf("after the uninstall: %q, want %q", got, old)
	}
}

// Without a record of this install, or when what it replaced is gone, the keys that name its
// files are removed: WSL boots its own kernel rather than fail to find ours.
func TestRestoreWithoutARecord(t *testing.T) {
	const old = "[wsl2]\nkernel=C:\\\\old\\\\kernel\nkernelModules=C:\\\\old\\\\modules.vhdx\nswap=0\n"
	for _, c := range []struct {
		name    string
		prepare func(h *home, o *Installed)
		warning string
	}{
		{"record removed", func(h *home, _ *Installed) { os.Remove(filepath.Join(h.dir, MSIRecordName)) }, "holds no record of this install"},
		{"record broken", func(h *home, _ *Installed) { h.write(MSIRecordName, []byte("{")) }, "unreadable"},
		{"the old files are gone", func(_ *home, o *Installed) {
			o.Exists = func(p string) bool { return !strings.HasPrefix(p, `C:\old\`) }
		}, `the previous kernel=C:\old\kernel is gone`},
	} {
		h := newHome(t, []byte(old))
		o := h.installed("6.12.118.1")
		h.point(o)
		h.write(".wslconfig", append(h.wslconfig(), "# edited\n"...)) // no exact restore
		c.prepare(h, &o)
		res := h.restore(o)
		if got := string(h.wslconfig()); got != "[wsl2]\nswap=0\n# edited\n" {
			t.Errorf("%s: .wslconfig = %q", c.name, got)
		}
		if got := strings.Join(res.Warnings, "\n"); !strings.Contains(got, c.warning) {
			t.Errorf("%s: warnings %q, want %q", c.name, got, c.warning)
		}
	}

	// Another install's record (a second release line) is not this one's: it stays.
	h := newHome(t, []byte(old))
	h.point(h.installed("6.12.118.1"))
	other := h.installed("6.18.1.1")
	res := h.restore(other)
	if got := string(h.wslconfig()); !strings.Contains(got, `kernel=C:\\wsl-kernel\\6.12.118.1\\kernel`) || !h.exists(MSIRecordName) {
		t.Errorf("restoring another install changed this one's: %q, %+v", got, res)
	}
}

// Point refuses, changing nothing, what kbuild install refuses: a path WSL cannot read, a
// .wslconfig it cannot read back.
func TestPointRefuses(t *testing.T) {
	for _, c := range []struct {
		name      string
		wslconfig []byte
		mode      os.FileMode
		edit      func(*Installed)
		want      string
	}{
		{"a path WSL cannot read", nil, 0, func(o *Installed) { o.Kernel = `C:\wsl kernel#1\kernel` }, "'#'"},
		{"not a Windows path", nil, 0, func(o *Installed) { o.Kernel = "/mnt/c/kernel" }, "not a Windows path"},
		{"UTF-16 without a BOM", []byte("[\x00w\x00"), 0, nil, "NUL"},
		{"read-only", []byte("[wsl2]\n"), 0o444, nil, "is read-only"},
		{"a value ending in a backslash at the end of the file", []byte("[x]\nA=\\"), 0, nil, "would change what WSL reads for x.a"},
	} {
		h := newHome(t, c.wslconfig)
		if c.mode != 0 {
			os.Chmod(filepath.Join(h.dir, ".wslconfig"), c.mode)
		}
		o := h.installed("6.12.118.1")
		if c.edit != nil {
			c.edit(&o)
		}
		if _, err := Point(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Point = %v, want an error with %q", c.name, err, c.want)
		}
		if got := h.wslconfig(); string(got) != string(c.wslconfig) || h.exists(MSIRecordName) {
			t.Errorf("%s: Point changed something: %q", c.name, got)
		}
	}
}

// Whatever .wslconfig holds, Point then Restore gives it back byte for byte, or Point refuses
// and changes nothing.
func FuzzPointRestore(f *testing.F) {
	for _, seed := range []string{"", "[wsl2]\nkernel=a\n", "\xef\xbb\xbf[wsl2]\r\nkernel = \"a#\" # c\r\n[x]\n", "kernel=a\\\n", "\xff\xfe[\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHome(t, data)
		o := h.installed("6.12.118.1")
		if _, err := Point(o); err != nil {
			if got := h.wslconfig(); string(got) != string(data) || h.exists(MSIRecordName) {
				t.Fatalf("Point(%q) failed (%v) and changed the file to %q", data, err, got)
			}
			return
		}
		if _, err := Restore(o); err != nil {
			t.Fatalf("Restore after Point(%q) = %v", data, err)
		}
		if got := h.wslconfig(); string(got) != string(data) {
			t.Fatalf("Point, Restore: %q became %q", data, got)
		}
	})
}
