// Package winetest runs Windows programs and installers under Wine, in a prefix of a test's own:
// the MSI's unit test (internal/payload) and the e2e suite's test of the smoke release's MSI
// share it, and CheckMSI, the installer's whole life cycle.
package winetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/wslkernel/wslkernel/internal/install"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// Prefix is a Wine prefix of a test's own: a Windows whose installer, msiexec, runs our MSIs
// for real, deferred custom actions included.
type Prefix struct {
	t            testing.TB
	Dir, Profile string // the prefix, and the user's profile folder in it
	env          []string
}

// New makes a prefix in a temporary folder (wineboot: about 20 s and 700 MB, the
// builtin DLLs copied in), with HOME there too, since Wine links the profile's Desktop and
// Documents to it. Wine 8 (Debian 12) lacks bcryptprimitives.dll, which every Go program since
// Go 1.22 loads at start for ProcessPrng (Windows 10 has it); the prefix gets a stand-in that
// forwards ProcessPrng to advapi32's RtlGenRandom.
func New(t testing.TB) *Prefix {
	t.Helper()
	testtool.Need(t, "wine", "wineserver")
	tmp := t.TempDir()
	w := &Prefix{t: t, Dir: filepath.Join(tmp, "prefix")}
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "WINE") && k != "DISPLAY" && k != "WAYLAND_DISPLAY" && k != "HOME" {
			w.env = append(w.env, kv)
		}
	}
	// No display, no Mono or Gecko to offer, no debug chatter.
	w.env = append(w.env, "WINEPREFIX="+w.Dir, "WINEARCH=win64", "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "HOME="+home)
	// Cleanups run last first: this prefix's wineserver, and every Windows process of the prefix
	// with it, goes before its folder. (Should the test be killed, they end on their own: the
	// wineserver does 3 s after its last program.)
	t.Cleanup(func() { w.Command("wineserver", "-k").Run() })
	if out, code := w.Wine("wineboot", "-i"); code != 0 {
		t.Fatalf("wineboot -i: exit %d\n%s", code, out)
	}
	users, _ := filepath.Glob(filepath.Join(w.Dir, "drive_c", "users", "*"))
	users = slices.DeleteFunc(users, func(u string) bool { return filepath.Base(u) == "Public" })
	if len(users) != 1 {
		t.Fatalf("the prefix's users: %v", users)
	}
	w.Profile = users[0]
	// Refused reads what MessageBoxW is asked to show from Wine's relay trace of it alone.
	w.Reg(`HKCU\Software\Wine\Debug`, "RelayInclude", "user32.MessageBoxW")
	shim := forwarderDLL("bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036")
	if err := os.WriteFile(filepath.Join(w.Dir, "drive_c", "windows", "system32", "bcryptprimitives.dll"), shim, 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// Reg sets a string value in the prefix's registry.
func (w *Prefix) Reg(key, name, value string) {
	w.t.Helper()
	if out, code := w.Wine("reg", "add", key, "/v", name, "/t", "REG_SZ", "/d", value, "/f"); code != 0 {
		w.t.Fatalf("reg add %s /v %s: exit %d\n%s", key, name, code, out)
	}
}

// Command is a Wine tool (wineserver) run for the prefix.
func (w *Prefix) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = w.env
	return cmd
}

// Wine runs a Windows program in the prefix; it returns what it said and its exit code, which
// Wine cuts to 8 bits (msiexec's 1603 is 67).
func (w *Prefix) Wine(args ...string) (string, int) {
	return w.WineEnv(nil, args...)
}

func (w *Prefix) WineEnv(env []string, args ...string) (string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wine", args...)
	cmd.Env = append(slices.Clone(w.env), env...)
	// A file, not a pipe: the services a program starts (services.exe, winedevice.exe) inherit it
	// and outlive the program, and a pipe would be read until they end.
	out, err := os.CreateTemp(w.t.TempDir(), "wine-output-")
	if err != nil {
		w.t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	said, _ := os.ReadFile(out.Name())
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		w.t.Fatalf("wine %s: %v\n%s", strings.Join(args, " "), err, said)
	}
	return string(said), code
}

// WinPath is how Windows in the prefix names a file of this machine (Wine's Z: is /).
func WinPath(p string) string {
	return `Z:` + strings.ReplaceAll(p, "/", `\`)
}

// Msiexec runs msiexec with args, logging verbosely; it returns the exit code and the log.
func (w *Prefix) Msiexec(args ...string) (int, string) {
	w.t.Helper()
	log := filepath.Join(w.t.TempDir(), "msiexec.log")
	_, code := w.Wine(append(append([]string{"msiexec"}, args...), "/qn", "/l*v", WinPath(log))...)
	data, _ := os.ReadFile(log)
	return code, string(data)
}

// Refused runs msiexec /i msi with a basic UI, which is where Windows Installer shows a launch
// condition's message: Wine shows it with MessageBoxW (its msiexec logs no such message), which,
// with no display, returns at once; Wine's relay trace of that call holds the text. It returns
// msiexec's exit code and the messages.
func (w *Prefix) Refused(msi string) (int, []string) {
	w.t.Helper()
	out, code := w.WineEnv([]string{"WINEDEBUG=-all,+relay"}, "msiexec", "/i", WinPath(msi), "/qb")
	var messages []string
	for _, line := range strings.Split(out, "\n") {
		if _, call, ok := strings.Cut(line, "Call user32.MessageBoxW("); ok {
			if _, text, ok := strings.Cut(call, ` L"`); ok {
				text, _, _ = strings.Cut(text, `",`)
				messages = append(messages, text)
			}
		}
	}
	return code, messages
}

// Files lists the files under a folder of drive_c, relative to it; none when it is not there.
func (w *Prefix) Files(dir string) []string {
	var out []string
	root := filepath.Join(w.Dir, "drive_c", dir)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// UTF16LE is text in UTF-16 LE with its byte-order mark, as Windows PowerShell 5.1 writes files.
func UTF16LE(text string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(text)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// CheckGrants reads back, with testdata/aces (GetNamedSecurityInfo), what grant gave the readers
// on the folder and its files: read and execute (FILE_GENERIC_READ|FILE_GENERIC_EXECUTE,
// 0x1200a9), inherited by files and folders (OI|CI) on the folder and inherited on the files.
// Debian's Wine 8 keeps no security descriptor (its wineserver is built without the xattr that
// would hold one): it turns a DACL into the file's Unix mode and, asked for one, makes a DACL up
// from the mode (SYSTEM, the user, Everyone). Then the readers cannot be read back, and the test
// says so rather than fail.
func (w *Prefix) CheckGrants(folder string, files ...string) {
	w.t.Helper()
	exe := filepath.Join(w.t.TempDir(), "aces.exe")
	_, here, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-trimpath", "-o", exe, "./testdata/aces")
	build.Dir = filepath.Dir(here)
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		w.t.Fatalf("building testdata/aces: %v\n%s", err, out)
	}
	paths := []string{folder}
	for _, f := range files {
		paths = append(paths, folder+`\`+f)
	}
	out, code := w.Wine(append([]string{exe}, paths...)...)
	if code != 0 {
		w.t.Fatalf("aces: exit %d\n%s", code, out)
	}
	type ace struct{ flags, mask uint32 }
	got := map[string]map[string]ace{} // path → SID → entry
	for _, line := range strings.Split(strings.TrimSpace(strings.ReplaceAll(out, "\r", "")), "\n") {
		var path, sid string
		var typ int
		var a ace
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue
		}
		path, sid = f[0], f[4]
		fmt.Sscanf(f[1], "%d", &typ)
		fmt.Sscanf(f[2], "%v", &a.flags)
		fmt.Sscanf(f[3], "%v", &a.mask)
		if typ == 0 { // ACCESS_ALLOWED_ACE_TYPE
			if got[path] == nil {
				got[path] = map[string]ace{}
			}
			got[path][sid] = a
		}
	}
	const readExecute, objectContainerInherit, inherited = 0x1200a9, 0x3, 0x10
	readers := install.Readers
	if _, kept := got[folder][readers[0]]; !kept {
		w.t.Logf("Wine cannot show the readers' entries (it keeps no security descriptor; it shows the one it makes from the Unix mode):\n%s", out)
		return
	}
	for _, p := range paths {
		for _, sid := range readers {
			a, ok := got[p][sid]
			wantFlags := uint32(inherited)
			if p == folder {
				wantFlags = objectContainerInherit
			}
			if !ok || a.mask&readExecute != readExecute || a.flags&wantFlags != wantFlags {
				w.t.Errorf("%s: %s has %+v (present %v), want mask %#x with flags %#x", p, sid, a, ok, readExecute, wantFlags)
			}
		}
	}
}

// ActionLog is what wslconfig-action wrote to its log in the user's temporary folder.
func (w *Prefix) ActionLog() string {
	for _, dir := range []string{"Temp", "AppData/Local/Temp"} {
		if data, err := os.ReadFile(filepath.Join(w.Profile, dir, "wslconfig-action.log")); err == nil {
			return string(data)
		}
	}
	return "(no wslconfig-action.log)"
}

// forwarderDLL is a PE32+ (x64) DLL named name whose one export, fn, forwards to target
// ("dll.Function"): no code at all, the loader resolves it to target.
func forwarderDLL(name, fn, target string) []byte {
	const rva, fileAlign, headers = 0x1000, 0x200, 0x200
	le := binary.LittleEndian
	// The .edata section: the export directory, the function, name and ordinal tables (one entry
	// each), then the strings. A function whose address lies inside the export directory's range
	// is a forwarder, its address that of the "dll.Function" string.
	const funcs, names, ords, strs = 40, 44, 48, 50
	nameAt, fnAt := strs, strs+len(name)+1
	targetAt := fnAt + len(fn) + 1
	sec := make([]byte, targetAt+len(target)+1)
	le.PutUint32(sec[12:], uint32(rva+nameAt))
	le.PutUint32(sec[16:], 1) // ordinal base
	le.PutUint32(sec[20:], 1) // functions
	le.PutUint32(sec[24:], 1) // names
	le.PutUint32(sec[28:], rva+funcs)
	le.PutUint32(sec[32:], rva+names)
	le.PutUint32(sec[36:], rva+ords)
	le.PutUint32(sec[funcs:], uint32(rva+targetAt))
	le.PutUint32(sec[names:], uint32(rva+fnAt))
	le.PutUint16(sec[ords:], 0)
	copy(sec[nameAt:], name)
	copy(sec[fnAt:], fn)
	copy(sec[targetAt:], target)
	raw := (len(sec) + fileAlign - 1) / fileAlign * fileAlign
	out := make([]byte, headers+raw)
	copy(out, "MZ")
	le.PutUint32(out[0x3c:], 0x40) // e_lfanew
	copy(out[0x40:], "PE\x00\x00")
	coff := out[0x44:]
	le.PutUint16(coff[0:], 0x8664)  // AMD64
	le.PutUint16(coff[2:], 1)       // sections
	le.PutUint16(coff[16:], 240)    // the optional header's size
	le.PutUint16(coff[18:], 0x2022) // executable, large address aware, DLL
	opt := out[0x44+20:]
	le.PutUint16(opt[0:], 0x20b) // PE32+
	le.PutUint32(opt[8:], uint32(raw))
	le.PutUint64(opt[24:], 0x180000000) // image base
	le.PutUint32(opt[32:], 0x1000)      // section alignment
	le.PutUint32(opt[36:], fileAlign)
	le.PutUint16(opt[40:], 6) // OS version
	le.PutUint16(opt[48:], 6) // subsystem version
	le.PutUint32(opt[56:], rva+0x1000)
	le.PutUint32(opt[60:], headers)
	le.PutUint16(opt[68:], 3)     // console subsystem
	le.PutUint16(opt[70:], 0x140) // dynamic base, NX compatible
	le.PutUint64(opt[72:], 0x100000)
	le.PutUint64(opt[80:], 0x1000)
	le.PutUint64(opt[88:], 0x100000)
	le.PutUint64(opt[96:], 0x1000)
	le.PutUint32(opt[108:], 16)  // data directories
	le.PutUint32(opt[112:], rva) // the export directory
	le.PutUint32(opt[116:], uint32(len(sec)))
	sh := out[0x44+20+240:]
	copy(sh, ".edata")
	le.PutUint32(sh[8:], uint32(len(sec)))
	le.PutUint32(sh[12:], rva)
	le.PutUint32(sh[16:], uint32(raw))
	le.PutUint32(sh[20:], headers)
	le.PutUint32(sh[36:], 0x40000040) // initialized data, readable
	copy(out[headers:], sec)
	if len(sec) > 0x1000 {
		panic(fmt.Sprintf("forwarderDLL: %d bytes of exports", len(sec)))
	}
	return out
}
