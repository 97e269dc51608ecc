package install

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	mountPath   = regexp.MustCompile(`^/mnt/([a-zA-Z])(/.*)?$`)
	windowsPath = regexp.MustCompile(`^([A-Za-z]):\\`)
)

// WindowsPath names a folder under WSL's drive mounts (/mnt/c/Users/ada) as Windows does
// (C:\Users\ada).
func WindowsPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	m := mountPath.FindStringSubmatch(abs)
	if m == nil {
		return "", fmt.Errorf("%s is not under a Windows drive (/mnt/c/...): say how Windows names it with --windows-path 'C:\\Users\\name'", p)
	}
	rest := strings.ReplaceAll(m[2], "/", `\`)
	if rest == "" {
		rest = `\`
	}
	return strings.ToUpper(m[1]) + ":" + rest, nil
}

// isWindowsPath says whether p is an absolute Windows path: a drive's (C:\...) or a share's.
func isWindowsPath(p string) bool {
	return windowsPath.MatchString(p) || strings.HasPrefix(p, `\\`)
}

// checkWSLPath refuses a path .wslconfig cannot carry to WSL as it is. WSL's parser keeps one
// byte of each character (so anything beyond ASCII arrives broken), ends a value at `#`, takes
// `"` as quoting and drops trailing spaces; `;` starts a comment for most other INI readers and
// separates paths in Windows lists; Windows itself forbids <>|?* and a ':' after the drive, and
// drops a trailing space or dot from a folder's name. suggest is a path that works.
func checkWSLPath(p, suggest string) error {
	bad := ""
	for i, r := range p {
		switch {
		case r > 0x7e:
			bad = fmt.Sprintf("%q, which is not ASCII: WSL's .wslconfig parser keeps one byte of each character", r)
		case r < 0x20:
			bad = fmt.Sprintf("the control character %q", r)
		case r == '#':
			bad = "'#', where WSL's .wslconfig parser ends the value"
		case r == '"':
			bad = `'"', which WSL's .wslconfig parser takes as quoting`
		case r == ';':
			bad = "';', a comment to many INI readers and a separator in Windows path lists"
		case strings.ContainsRune("<>|?*", r), r == ':' && i != 1:
			bad = fmt.Sprintf("%q, which Windows does not allow in a file name", r)
		}
		if bad != "" {
			break
		}
	}
	for _, part := range strings.Split(p, `\`) {
		if bad == "" && part != strings.TrimRight(part, " .") && part != "." && part != ".." {
			bad = fmt.Sprintf("the folder name %q ending in a space or dot, which Windows drops", part)
		}
	}
	if bad == "" {
		return nil
	}
	return fmt.Errorf("cannot point .wslconfig at %s: it has %s; install where the path is plain ASCII, e.g. %s", p, bad, suggest)
}

// localPath is where this machine sees a Windows path, when it can tell: under the Windows home
// (home is how this machine sees winHome), or under a drive mounted at /mnt/<drive>/ when home
// is too. ok is false when it cannot tell.
func localPath(win, home, winHome string) (string, bool) {
	if rest, ok := cutFolder(win, winHome); ok {
		return filepath.Join(home, filepath.FromSlash(strings.ReplaceAll(rest, `\`, "/"))), true
	}
	m := windowsPath.FindStringSubmatch(win)
	abs, err := filepath.Abs(home)
	if m == nil || err != nil || !mountPath.MatchString(abs) {
		return "", false
	}
	return "/mnt/" + strings.ToLower(m[1]) + "/" + strings.ReplaceAll(win[3:], `\`, "/"), true
}

// cutFolder is the Windows path win relative to the folder dir, when win lies in it (compared as
// Windows does, without regard to case).
func cutFolder(win, dir string) (string, bool) {
	prefix := strings.TrimRight(dir, `\`) + `\`
	if dir == "" || len(win) <= len(prefix) || !strings.EqualFold(win[:len(prefix)], prefix) {
		return "", false
	}
	return win[len(prefix):], true
}
