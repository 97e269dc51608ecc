// Package install puts a built kernel where WSL takes it from: the kernel and modules.vhdx copied
// into the user's Windows home, and .wslconfig's [wsl2] kernel= and kernelModules= pointed at
// them, every other line of the file kept as it was and the old file kept as a backup.
package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
)

// Options say what to install and where.
type Options struct {
	Kernel  string // the built kernel image
	Modules string // modules.vhdx; empty when the kernel has no modules
	Version string // the kernel's version, for the folder name
	// Home is the Windows user's home folder as this machine sees it (under WSL: /mnt/c/Users/ada).
	Home string
	// WindowsHome is the same folder as Windows names it (C:\Users\ada); empty: worked out from
	// a /mnt/<drive>/ path.
	WindowsHome string
	Now         time.Time // for the backup's name
}

// Result is what Install did.
type Result struct {
	Kernel, Modules string // where the files went (this machine's paths)
	WSLConfig       string
	Backup          string // the previous .wslconfig, kept; empty when there was none
	Settings        map[string]string
}

// Install copies the files into <home>\wsl-kernel\<version>\ and points .wslconfig at them.
func Install(o Options) (*Result, error) {
	win := o.WindowsHome
	if win == "" {
		var err error
		if win, err = WindowsPath(o.Home); err != nil {
			return nil, err
		}
	}
	if !regexp.MustCompile(`^[A-Za-z]:\\`).MatchString(win) && !strings.HasPrefix(win, `\\`) {
		return nil, fmt.Errorf("--windows-path %q is not a Windows path (C:\\Users\\name)", win)
	}
	info, err := os.Stat(o.Home)
	if err != nil {
		return nil, fmt.Errorf("the Windows home %s: %w", o.Home, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("the Windows home %s is not a folder", o.Home)
	}
	rel := []string{"wsl-kernel", o.Version}
	dir := filepath.Join(append([]string{o.Home}, rel...)...)
	winDir := strings.TrimRight(win, `\`) + `\` + strings.Join(rel, `\`)
	res := &Result{WSLConfig: filepath.Join(o.Home, ".wslconfig"), Settings: map[string]string{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res.Kernel = filepath.Join(dir, "kernel")
	if err := atomicfile.Copy(o.Kernel, res.Kernel, 0o644); err != nil {
		return nil, err
	}
	res.Settings["kernel"] = winDir + `\kernel`
	if o.Modules != "" {
		res.Modules = filepath.Join(dir, "modules.vhdx")
		if err := atomicfile.Copy(o.Modules, res.Modules, 0o644); err != nil {
			return nil, err
		}
		res.Settings["kernelModules"] = winDir + `\modules.vhdx`
	}

	old, err := os.ReadFile(res.WSLConfig)
	switch {
	case errors.Is(err, os.ErrNotExist):
		old = nil
	case err != nil:
		return nil, err
	default:
		res.Backup = fmt.Sprintf("%s.bak-%s", res.WSLConfig, o.Now.UTC().Format("20060102T150405Z"))
		if err := atomicfile.WriteFile(res.Backup, old, 0o644); err != nil {
			return nil, err
		}
	}
	text := string(old)
	for _, k := range []string{"kernel", "kernelModules"} {
		if v, ok := res.Settings[k]; ok {
			text = Set(text, "wsl2", k, v)
		}
	}
	if err := atomicfile.WriteFile(res.WSLConfig, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

// WindowsPath names a folder under WSL's drive mounts (/mnt/c/Users/ada) as Windows does
// (C:\Users\ada).
func WindowsPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`^/mnt/([a-zA-Z])(/.*)?$`).FindStringSubmatch(abs)
	if m == nil {
		return "", fmt.Errorf("%s is not under a Windows drive (/mnt/c/...): say how Windows names it with --windows-path 'C:\\Users\\name'", p)
	}
	rest := strings.ReplaceAll(m[2], "/", `\`)
	if rest == "" {
		rest = `\`
	}
	return strings.ToUpper(m[1]) + ":" + rest, nil
}

// Set gives key the value in [section] of an INI text such as .wslconfig, keeping everything
// else: other sections and keys, comments, blank lines and the line endings. An existing key is
// replaced where it stands (later duplicates removed); a missing one is added after the
// section's last line; a missing section is added at the end. The value is written as WSL reads
// it, each backslash doubled.
func Set(text, section, key, value string) string {
	nl := "\n"
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	}
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	if text == "" {
		lines = nil
	}
	entry := key + "=" + strings.ReplaceAll(value, `\`, `\\`)
	// The section's lines: from its header to the next header.
	start, end := -1, len(lines)
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "[") || !strings.HasSuffix(t, "]") {
			continue
		}
		if start >= 0 {
			end = i
			break
		}
		if strings.EqualFold(strings.TrimSpace(t[1:len(t)-1]), section) {
			start = i
		}
	}
	if start < 0 {
		if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
			lines = append(lines, "")
		}
		return strings.Join(append(lines, "["+section+"]", entry), nl) + nl
	}
	var out []string
	out = append(out, lines[:start+1]...)
	replaced := false
	for _, line := range lines[start+1 : end] {
		t := strings.TrimSpace(line)
		if k, _, ok := strings.Cut(t, "="); ok && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, ";") && strings.EqualFold(strings.TrimSpace(k), key) {
			if !replaced {
				out, replaced = append(out, entry), true
			}
			continue
		}
		out = append(out, line)
	}
	if !replaced {
		at := len(out)
		for at > start+1 && strings.TrimSpace(out[at-1]) == "" {
			at--
		}
		out = append(out[:at], append([]string{entry}, out[at:]...)...)
	}
	return strings.Join(append(out, lines[end:]...), nl) + nl
}
