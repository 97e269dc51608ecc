//go:build !windows

package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// WSL is the WSL distro kbuild install may be running in (a Linux program, like the runner), seen as WSL's own tools see it:
// through the files WSL's init provides and, for the Windows side, interop (cmd.exe, icacls.exe
// started from Linux). Tests point Root at a folder of their own and put stand-ins on PATH.
type WSL struct {
	Root   string              // where /proc, /etc and the drive mounts are: "/" but in tests
	Getenv func(string) string // os.Getenv but in tests
	Runner runner.Runner
}

// Inside says whether this is a WSL distro, as WSL's tools tell: the binfmt handler WSL
// registers for Windows programs (WSLInterop; WSLInterop-late when systemd starts first), the
// WSL_DISTRO_NAME WSL's init gives every process it starts, or a kernel whose /proc/version
// names Microsoft (WSL 1 and 2 both do; a kbuild kernel keeps -microsoft-standard-WSL2).
func (w WSL) Inside() bool {
	for _, name := range []string{"WSLInterop", "WSLInterop-late"} {
		if _, err := os.Stat(w.path("proc/sys/fs/binfmt_misc", name)); err == nil {
			return true
		}
	}
	if w.Getenv != nil && w.Getenv("WSL_DISTRO_NAME") != "" {
		return true
	}
	version, _ := os.ReadFile(w.path("proc/version"))
	return bytes.Contains(bytes.ToLower(version), []byte("microsoft"))
}

func (w WSL) path(parts ...string) string {
	root := w.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// Profile is the Windows user's profile folder, as this distro sees it (home: /mnt/c/Users/ada)
// and as Windows names it (winHome: C:\Users\ada): %USERPROFILE% as cmd.exe expands it through
// interop, as wslvar does, then the drive's mount under the distro's automount root
// (/etc/wsl.conf [automount] root, /mnt/ by default), as wslpath translates it.
func (w WSL) Profile(ctx context.Context) (home, winHome string, err error) {
	var out bytes.Buffer
	cmd := w.windowsProgram("cmd.exe")
	// Delayed expansion (/v:on, !USERPROFILE!) expands the variable after cmd.exe has parsed the
	// line, so a profile folder whose name holds &, ^, ( or | (all allowed in Windows user
	// names) is echoed as it is, never parsed as more commands; "echo(" echoes an empty value
	// as an empty line.
	if err := w.Runner.Run(ctx, cmd, profileQuery, nil, &out); err != nil {
		return "", "", fmt.Errorf("asking Windows for your profile folder through WSL interop (%s %s): %v\n%s"+
			"is interop on ([interop] enabled in /etc/wsl.conf)? Or say where it is: --windows-home /mnt/c/Users/<you>", cmd, strings.Join(profileQuery, " "), err, out.String())
	}
	// cmd.exe started in a Linux folder first warns that UNC paths are not supported, then
	// answers: the answer is the last line.
	all := strings.Split(strings.TrimSpace(strings.ReplaceAll(out.String(), "\r", "")), "\n")
	winHome = strings.TrimSpace(all[len(all)-1])
	if !windowsPath.MatchString(winHome) || hasDotDot(winHome) {
		return "", "", fmt.Errorf("%s %s answered %q, not a folder on a drive (C:\\Users\\<you>): say where your profile is: --windows-home /mnt/c/Users/<you>", cmd, strings.Join(profileQuery, " "), out.String())
	}
	home = w.drivePath(winHome)
	if info, err := os.Stat(home); err != nil || !info.IsDir() {
		return "", "", fmt.Errorf("your Windows profile, %s, should be at %s in this distro, but no folder is there: is drive %s mounted? Say where it is: --windows-home", winHome, home, winHome[:2])
	}
	return home, winHome, nil
}

// profileQuery asks cmd.exe for %USERPROFILE% (see Profile).
var profileQuery = []string{"/d", "/v:on", "/c", "echo(!USERPROFILE!"}

// hasDotDot says whether a Windows path has a "." or ".." component, which would take the
// distro path made of it somewhere else than the folder it names.
func hasDotDot(win string) bool {
	for _, c := range strings.FieldsFunc(win, func(r rune) bool { return r == '\\' || r == '/' }) {
		if c == "." || c == ".." {
			return true
		}
	}
	return false
}

// drivePath is where the distro mounts the Windows path win (C:\Users\ada): under the automount
// root, /mnt/ unless /etc/wsl.conf says otherwise.
func (w WSL) drivePath(win string) string {
	root := "/mnt/"
	if conf, err := os.ReadFile(w.path("etc/wsl.conf")); err == nil {
		if v, _, ok := ParseConfig(string(conf)).Get("automount", "root"); ok && strings.HasPrefix(v, "/") {
			root = v
		}
	}
	rest := strings.ReplaceAll(strings.TrimLeft(win[2:], `\`), `\`, "/")
	return w.path(root, strings.ToLower(win[:1]), rest)
}

// windowsProgram is how to start a Windows program of System32: by name when interop put
// Windows' PATH on this one (the default), else from its drive (appendWindowsPath=false).
func (w WSL) windowsProgram(name string) string {
	if _, err := w.Runner.LookPath(name); err == nil {
		return name
	}
	return w.drivePath(`C:\Windows\System32\` + name)
}

// GrantReaders gives Readers read and execute on the Windows folder dir, inherited by its
// files, with icacls.exe through interop.
func (w WSL) GrantReaders(ctx context.Context, dir string) error {
	var out bytes.Buffer
	cmd := w.windowsProgram("icacls.exe")
	args := icaclsGrant(dir)
	if err := w.Runner.Run(ctx, cmd, args, nil, &out); err != nil {
		return fmt.Errorf("granting WSL's readers access to %s (%s %s): %v\n%s", dir, cmd, strings.Join(args, " "), err, strings.TrimRight(out.String(), "\r\n"))
	}
	return nil
}

// Complete fills in what a kbuild install run inside WSL can find out itself: the Windows
// profile, when o names none, and Grant, through icacls.exe. Outside WSL it leaves o as it is.
func (w WSL) Complete(ctx context.Context, o *Options) error {
	if !w.Inside() {
		return nil
	}
	if o.Home == "" {
		var err error
		if o.Home, o.WindowsHome, err = w.Profile(ctx); err != nil {
			return err
		}
	}
	o.Grant = func(_, winDir string) error { return w.GrantReaders(ctx, winDir) }
	return nil
}
