package payload

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/wslkernel/wslkernel/internal/install"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// winePrefix is a Wine prefix of a test's own: a Windows whose installer, msiexec, runs our MSIs
// for real, deferred custom actions included.
type winePrefix struct {
	t            *testing.T
	dir, profile string // the prefix, and the user's profile folder in it
	env          []string
}

// newWinePrefix makes a prefix in a temporary folder (wineboot: about 20 s and 700 MB, the
// builtin DLLs copied in), with HOME there too, since Wine links the profile's Desktop and
// Documents to it. Wine 8 (Debian 12) lacks bcryptprimitives.dll, which every Go program since
// Go 1.22 loads at start for ProcessPrng (Windows 10 has it); the prefix gets a stand-in that
// forwards ProcessPrng to advapi32's RtlGenRandom.
func newWinePrefix(t *testing.T) *winePrefix {
	t.Helper()
	testtool.Need(t, "wine", "wineserver")
	tmp := t.TempDir()
	w := &winePrefix{t: t, dir: filepath.Join(tmp, "prefix")}
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
	w.env = append(w.env, "WINEPREFIX="+w.dir, "WINEARCH=win64", "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "HOME="+home)
	// Cleanups run last first: this prefix's wineserver, and every Windows process of the prefix
	// with it, goes before its folder. (Should the test be killed, they end on their own: the
	// wineserver does 3 s after its last program.)
	t.Cleanup(func() { w.command("wineserver", "-k").Run() })
	if out, code := w.wine("wineboot", "-i"); code != 0 {
		t.Fatalf("wineboot -i: exit %d\n%s", code, out)
	}
	users, _ := filepath.Glob(filepath.Join(w.dir, "drive_c", "users", "*"))
	users = slices.DeleteFunc(users, func(u string) bool { return filepath.Base(u) == "Public" })
	if len(users) != 1 {
		t.Fatalf("the prefix's users: %v", users)
	}
	w.profile = users[0]
	shim := forwarderDLL("bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036")
	if err := os.WriteFile(filepath.Join(w.dir, "drive_c", "windows", "system32", "bcryptprimitives.dll"), shim, 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *winePrefix) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = w.env
	return cmd
}

// wine runs a Windows program in the prefix; it returns what it said and its exit code, which
// Wine cuts to 8 bits (msiexec's 1603 is 67).
func (w *winePrefix) wine(args ...string) (string, int) {
	return w.wineEnv(nil, args...)
}

func (w *winePrefix) wineEnv(env []string, args ...string) (string, int) {
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

// winPath is how Windows in the prefix names a file of this machine (Wine's Z: is /).
func winPath(p string) string {
	return `Z:` + strings.ReplaceAll(p, "/", `\`)
}

// msiexec runs msiexec with args, logging verbosely; it returns the exit code and the log.
func (w *winePrefix) msiexec(args ...string) (int, string) {
	w.t.Helper()
	log := filepath.Join(w.t.TempDir(), "msiexec.log")
	_, code := w.wine(append(append([]string{"msiexec"}, args...), "/qn", "/l*v", winPath(log))...)
	data, _ := os.ReadFile(log)
	return code, string(data)
}

// refused runs msiexec /i msi with a basic UI, which is where Windows Installer shows a launch
// condition's message: Wine shows it with MessageBoxW (its msiexec logs no such message), which,
// with no display, returns at once; Wine's relay trace of that call holds the text. It returns
// msiexec's exit code and the messages.
func (w *winePrefix) refused(msi string) (int, []string) {
	w.t.Helper()
	out, code := w.wineEnv([]string{"WINEDEBUG=-all,+relay"}, "msiexec", "/i", winPath(msi), "/qb")
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

// files lists the files under a folder of drive_c, relative to it; none when it is not there.
func (w *winePrefix) files(dir string) []string {
	var out []string
	root := filepath.Join(w.dir, "drive_c", dir)
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

// utf16LE is text in UTF-16 LE with its byte-order mark, as Windows PowerShell 5.1 writes files.
func utf16LE(text string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(text)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// The MSI under a real installer: Wine's msiexec in a prefix of the test's own, set to Windows
// 10. It refuses build 18362 with its message; at 19045 it installs the files into
// C:\wsl-kernel\<version>\ and points the user's UTF-16 .wslconfig at them (doubled
// backslashes, every other line kept byte for byte); a higher revision upgrades (the old folder
// gone, .wslconfig pointing at the new one); a downgrade is refused with its message; the
// uninstall puts .wslconfig back byte for byte; and a custom action that fails (a read-only
// .wslconfig) rolls the install back, leaving no files. One prefix serves every step, in order.
func TestMSIUnderWine(t *testing.T) {
	testtool.Need(t, "wixl", "msiinfo", "faketime", "wine", "wineserver")
	start := time.Now()
	step := func(what string, since time.Time) { t.Logf("%-48s %5.1f s", what, time.Since(since).Seconds()) }
	since := time.Now()
	msis := map[string]string{}
	for _, v := range []string{"6.12.118.1", "6.12.118.2"} {
		msis[v] = makeMSIOf(t, v)
	}
	_, _, contents := fakeRun(t)
	step("two MSIs built", since)
	since = time.Now()
	w := newWinePrefix(t)
	step("prefix made (wineboot -i)", since)

	const product = "Windows Subsystem for Linux Kernel"
	wslconfig := filepath.Join(w.profile, ".wslconfig")
	mine := "# my settings\r\n[wsl2] # Zoë's\r\nmemory=8GB\r\nkernel = C:\\\\old\\\\kernel   # the last one\r\nswap=0\r\n[experimental]\r\nsparseVhd=true\r\n"
	pointed := func(v string) []byte {
		return utf16LE(strings.NewReplacer(`C:\\old\\kernel`, `C:\\wsl-kernel\\`+v+`\\kernel`,
			"swap=0\r\n", "swap=0\r\nkernelModules=C:\\\\wsl-kernel\\\\"+v+"\\\\modules.vhdx\r\n").Replace(mine))
	}
	if err := os.WriteFile(wslconfig, utf16LE(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want []byte, folders ...string) {
		t.Helper()
		if got, _ := os.ReadFile(wslconfig); !bytes.Equal(got, want) {
			t.Errorf("%s: .wslconfig is\n%q\nwant\n%q", when, got, want)
		}
		var want2 []string
		for _, v := range folders {
			for _, name := range []string{"kernel", "modules.vhdx", actionName} {
				want2 = append(want2, v+"/"+name)
			}
		}
		if got := w.files("wsl-kernel"); !slices.Equal(got, want2) {
			t.Errorf("%s: C:\\wsl-kernel holds %q, want %q", when, got, want2)
		}
	}

	// Build 18362 (Wine's "win10") is below the MSI's 19045.
	since = time.Now()
	if out, code := w.wine("winecfg", "-v", "win10"); code != 0 {
		t.Fatalf("winecfg -v win10: exit %d\n%s", code, out)
	}
	if out, code := w.wine("reg", "add", `HKCU\Software\Wine\Debug`, "/v", "RelayInclude", "/t", "REG_SZ", "/d", "user32.MessageBoxW", "/f"); code != 0 {
		t.Fatalf("reg add RelayInclude: exit %d\n%s", code, out)
	}
	code, messages := w.refused(msis["6.12.118.1"])
	if want := product + " needs Windows build 19045 or later."; code == 0 || !slices.Contains(messages, want) {
		t.Errorf("build 18362: msiexec exit %d, messages %q; want a refusal saying %q", code, messages, want)
	}
	check("after the refusal on build 18362", utf16LE(mine))
	step("build 18362 refused", since)

	since = time.Now()
	for _, name := range []string{"CurrentBuildNumber", "CurrentBuild"} {
		if out, code := w.wine("reg", "add", `HKLM\Software\Microsoft\Windows NT\CurrentVersion`, "/v", name, "/t", "REG_SZ", "/d", "19045", "/f"); code != 0 {
			t.Fatalf("reg add %s: exit %d\n%s", name, code, out)
		}
	}
	code, log := w.msiexec("/i", winPath(msis["6.12.118.1"]))
	if code != 0 {
		t.Fatalf("install 6.12.118.1: msiexec exit %d\n%s\n%s", code, log, w.actionLog())
	}
	check("after installing 6.12.118.1", pointed("6.12.118.1"), "6.12.118.1")
	for name, want := range map[string][]byte{"kernel": contents["x86_64/kernel"], "modules.vhdx": contents["x86_64/modules.vhdx"]} {
		if got, _ := os.ReadFile(filepath.Join(w.dir, "drive_c", "wsl-kernel", "6.12.118.1", name)); !bytes.Equal(got, want) {
			t.Errorf("the installed %s is not the build's", name)
		}
	}
	granted := `granted        read and execute on C:\wsl-kernel\6.12.118.1 to S-1-5-32-545, S-1-15-2-1, S-1-15-2-2`
	if got := w.actionLog(); !strings.Contains(got, granted) {
		t.Errorf("the action's log does not say grant ran:\n%s", got)
	}
	w.checkGrants(`C:\wsl-kernel\6.12.118.1`, "kernel", "modules.vhdx")
	step("6.12.118.1 installed", since)

	since = time.Now()
	if code, log := w.msiexec("/i", winPath(msis["6.12.118.2"])); code != 0 {
		t.Fatalf("upgrade to 6.12.118.2: msiexec exit %d\n%s\n%s", code, log, w.actionLog())
	}
	check("after the upgrade to 6.12.118.2", pointed("6.12.118.2"), "6.12.118.2")
	step("upgraded to 6.12.118.2", since)

	since = time.Now()
	code, messages = w.refused(msis["6.12.118.1"])
	if want := "A newer version of " + product + " is already installed: uninstall it first to go back to 6.12.118.1."; code == 0 || !slices.Contains(messages, want) {
		t.Errorf("downgrade: msiexec exit %d, messages %q; want a refusal saying %q", code, messages, want)
	}
	check("after the refused downgrade", pointed("6.12.118.2"), "6.12.118.2")
	step("downgrade refused", since)

	since = time.Now()
	if code, log := w.msiexec("/x", winPath(msis["6.12.118.2"])); code != 0 {
		t.Fatalf("uninstall: msiexec exit %d\n%s\n%s", code, log, w.actionLog())
	}
	check("after the uninstall", utf16LE(mine))
	if _, err := os.Stat(filepath.Join(w.profile, install.MSIRecordName)); err == nil {
		t.Errorf("the uninstall left %s", install.MSIRecordName)
	}
	step("uninstalled", since)

	// A custom action that fails: the .wslconfig is read-only (Wine shows a file without write
	// permission as FILE_ATTRIBUTE_READONLY), so set refuses it; the install rolls back.
	since = time.Now()
	if err := os.Chmod(wslconfig, 0o444); err != nil {
		t.Fatal(err)
	}
	code, log = w.msiexec("/i", winPath(msis["6.12.118.1"]))
	if code == 0 {
		t.Errorf("install over a read-only .wslconfig: msiexec exit 0\n%s", log)
	}
	check("after the failed install", utf16LE(mine))
	if _, err := os.Stat(filepath.Join(w.profile, install.MSIRecordName)); err == nil {
		t.Errorf("the failed install left %s", install.MSIRecordName)
	}
	if got := w.actionLog(); !strings.Contains(got, "is read-only: nothing was changed") {
		t.Errorf("the action's log does not say why set failed:\n%s", got)
	}
	step("failed action rolled back", since)
	t.Logf("%-48s %5.1f s", "total", time.Since(start).Seconds())
	t.Logf("the action's log:\n%s", w.actionLog())
}

// checkGrants reads back, with testdata/aces (GetNamedSecurityInfo), what grant gave the readers
// on the folder and its files: read and execute (FILE_GENERIC_READ|FILE_GENERIC_EXECUTE,
// 0x1200a9), inherited by files and folders (OI|CI) on the folder and inherited on the files.
// Debian's Wine 8 keeps no security descriptor (its wineserver is built without the xattr that
// would hold one): it turns a DACL into the file's Unix mode and, asked for one, makes a DACL up
// from the mode (SYSTEM, the user, Everyone). Then the readers cannot be read back, and the test
// says so rather than fail.
func (w *winePrefix) checkGrants(folder string, files ...string) {
	w.t.Helper()
	exe := filepath.Join(w.t.TempDir(), "aces.exe")
	build := exec.Command("go", "build", "-trimpath", "-o", exe, "./testdata/aces")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		w.t.Fatalf("building testdata/aces: %v\n%s", err, out)
	}
	paths := []string{folder}
	for _, f := range files {
		paths = append(paths, folder+`\`+f)
	}
	out, code := w.wine(append([]string{exe}, paths...)...)
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
	readers := []string{"S-1-5-32-545", "S-1-15-2-1", "S-1-15-2-2"}
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

// actionLog is what wslconfig-action wrote to its log in the user's temporary folder.
func (w *winePrefix) actionLog() string {
	for _, dir := range []string{"Temp", "AppData/Local/Temp"} {
		if data, err := os.ReadFile(filepath.Join(w.profile, dir, "wslconfig-action.log")); err == nil {
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
