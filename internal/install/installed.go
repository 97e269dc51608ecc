package install

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
)

// Installed are files another installer put in place (the MSI: its custom action, a Windows
// build of cmd/wslconfig-action, calls Point after installing them and Restore before removing
// them). .wslconfig is pointed at them and back by the same editor, with the same checks, as
// Install and Rollback use; nothing is copied.
type Installed struct {
	// Home is the user's profile folder, where .wslconfig is, as this machine sees it: on Windows,
	// where the MSI's custom action runs, C:\Users\ada itself.
	Home string
	// WindowsHome is how Windows names Home; empty: Home (on Windows they are the same).
	WindowsHome string
	// Kernel and Modules are the installed files as Windows names them; Modules is empty for a
	// kernel without modules (Point then removes kernelModules=).
	Kernel, Modules string
	// Record names the file in Home where Point notes what it replaced, for Restore:
	// MSIRecordName for the MSI.
	Record string
	// Exists says whether the file a Windows path names is there; nil when this machine cannot
	// tell (Restore then puts back a previous value without checking it).
	Exists func(windowsPath string) bool
	Now    time.Time // for the backup's name
}

// MSIRecordName is the file beside .wslconfig where the MSI's custom action records what it
// replaced: the name wslconfig.ps1, its predecessor, used.
const MSIRecordName = ".wslconfig.wsl-kernel-msi.json"

// record is what Point notes: the state Install notes, and the file as it was before the first
// Point and as Point left it, so that Restore can put back every byte when nothing else
// changed the file since.
type record struct {
	state
	// Original holds .wslconfig's bytes before Point changed it; HadFile is false when there was
	// no .wslconfig (Restore then removes the one Point made).
	Original []byte `json:"original,omitempty"`
	HadFile  bool   `json:"had_file"`
	// Left is the SHA-256 of the bytes Point left in .wslconfig.
	Left string `json:"left_sha256"`
}

// Point sets [wsl2] kernel= and kernelModules= in Home's .wslconfig to the installed files,
// keeping every other byte, and records what it replaced. A second Point of the same files (a
// repair) keeps the first one's record. It refuses, changing nothing, a path WSL's parser cannot
// read and a .wslconfig it cannot read back exactly; should writing .wslconfig fail, the record
// is put back as it was and no backup is left.
func Point(o Installed) (*Result, error) {
	winHome, err := checkInstalled(o)
	if err != nil {
		return nil, err
	}
	res := &Result{Folder: o.folder(), Kernel: o.Kernel, Modules: o.Modules, WSLConfig: filepath.Join(o.Home, ".wslconfig"), Settings: map[string]string{}}
	want := settings{Label: res.Folder, Keys: map[string]*setting{}}
	for key, path := range o.paths() {
		want.Keys[key] = &setting{Value: path}
		res.Settings[key] = path
	}
	f, err := readWSLConfig(res.WSLConfig)
	if err != nil {
		return nil, err
	}
	p := paths{home: o.Home, winHome: winHome}
	before := currentSettings(f.cfg, p.home, p.winHome)
	if res.Removed, err = apply(f, want, ownKeys); err != nil {
		return nil, err
	}
	res.Warnings = installWarnings(f.enc, want, winHome, false)
	path := filepath.Join(o.Home, o.Record)
	oldBytes, oldErr := os.ReadFile(path)
	sc, warning := nextState(path, before, want, f.cfg, p)
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	left := f.enc.encode(f.cfg.String())
	rec := record{state: sc.st, Original: f.raw, HadFile: f.exists, Left: fmt.Sprintf("%x", sha256.Sum256(left))}
	if old, ok, _ := loadRecord(path); ok && old.Current.sameValues(before) && f.exists && old.Left == fmt.Sprintf("%x", sha256.Sum256(f.raw)) {
		// The file is as the last Point left it: what was there before that one is still the
		// original.
		rec.Original, rec.HadFile = old.Original, old.HadFile
	}
	if err := saveRecord(path, rec); err != nil {
		return nil, fmt.Errorf("recording what .wslconfig said, for the uninstall: %w", err)
	}
	backup, err := f.write(o.Now)
	res.Backup = backup
	if err != nil {
		// Nothing changed after all: the record and the backup go.
		if backup != "" {
			os.Remove(backup)
		}
		res.Backup = ""
		if oldErr == nil {
			atomicfile.WriteFile(path, oldBytes, 0o644)
		} else if errors.Is(oldErr, os.ErrNotExist) {
			os.Remove(path)
		}
		return res, err
	}
	return res, nil
}

// Restore puts back what Point replaced, before the files it pointed at are removed. When
// .wslconfig is byte for byte as Point left it, the original file comes back exactly (none, if
// there was none); otherwise each key that still names this install's file gets its previous
// lines back where it stands, and a key the user changed since stays theirs (with a warning).
// A previous value whose file is gone is not put back: both keys are removed instead, so WSL
// boots its own kernel rather than none. Without a record of this install (another user's
// install, a record removed by hand) the keys that name its files are removed, for the same
// reason. It fails only when .wslconfig cannot be read back exactly or written.
func Restore(o Installed) (*Result, error) {
	winHome, err := checkInstalled(o)
	if err != nil {
		return nil, err
	}
	res := &Result{WSLConfig: filepath.Join(o.Home, ".wslconfig"), Settings: map[string]string{}}
	path := filepath.Join(o.Home, o.Record)
	rec, ok, err := loadRecord(path)
	if err != nil {
		res.Warnings = append(res.Warnings, err.Error())
	}
	ours := settings{Keys: map[string]*setting{}}
	for key, p := range o.paths() {
		ours.Keys[key] = &setting{Value: p}
	}
	mine := ok && rec.Current.sameValues(ours)
	if !mine {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s holds no record of this install: the [wsl2] keys that name its files are removed, so WSL boots its own kernel", path))
		rec = record{}
	}
	f, err := readWSLConfig(res.WSLConfig)
	if err != nil {
		return nil, err
	}
	if mine && f.exists && rec.Left == fmt.Sprintf("%x", sha256.Sum256(f.raw)) {
		// Untouched since Point: the original, every byte, and no backup of a file that holds
		// nothing of the user's that the original does not.
		res.Folder = rec.Previous.Label
		for k, v := range rec.Previous.Keys {
			res.Settings[k] = v.Value
		}
		if !rec.HadFile {
			err = os.Remove(f.target)
		} else {
			err = atomicfile.WriteFile(f.target, rec.Original, f.perm)
		}
		if err != nil {
			return res, err
		}
		return res, os.Remove(path)
	}
	now := currentSettings(f.cfg, o.Home, winHome)
	back := settings{Keys: map[string]*setting{}}
	var keys []string
	gone := false
	for _, k := range ownKeys {
		cur, set := now.Keys[k], ours.Keys[k]
		if !mine && set == nil {
			continue // no record says what was there before
		}
		if (cur == nil) != (set == nil) || cur != nil && cur.Value != set.Value {
			res.Warnings = append(res.Warnings, fmt.Sprintf("[wsl2] %s was changed since this install set it (%s): it stays as it is", k, describeKey(cur)))
			continue
		}
		keys = append(keys, k)
		if prev := rec.Previous.Keys[k]; prev != nil {
			back.Keys[k] = prev
			res.Settings[k] = prev.Value
			if o.Exists != nil && !o.Exists(prev.Value) {
				gone = true
				res.Warnings = append(res.Warnings, fmt.Sprintf("the previous %s=%s is gone", k, prev.Value))
			}
		}
	}
	if gone {
		res.Warnings = append(res.Warnings, "so kernel= and kernelModules= are removed instead, and WSL boots its own kernel")
		back.Keys, res.Settings = map[string]*setting{}, map[string]string{}
	}
	if len(keys) > 0 {
		if res.Removed, err = apply(f, back, keys); err != nil {
			return res, err
		}
		if res.Backup, err = f.write(o.Now); err != nil {
			return res, err
		}
	}
	if mine {
		res.Folder = rec.Previous.Label
		if err := os.Remove(path); err != nil {
			return res, err
		}
	}
	return res, nil
}

func describeKey(s *setting) string {
	if s == nil {
		return "now absent"
	}
	return "now " + s.Value
}

// checkInstalled checks o's paths before anything is read; it returns how Windows names Home.
func checkInstalled(o Installed) (string, error) {
	winHome := cmp.Or(o.WindowsHome, o.Home)
	if !isWindowsPath(winHome) {
		return "", fmt.Errorf("the profile folder %q is not a Windows path (C:\\Users\\name)", winHome)
	}
	info, err := os.Stat(o.Home)
	if err != nil {
		return "", fmt.Errorf("the profile folder %s: %w", o.Home, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("the profile folder %s is not a folder", o.Home)
	}
	if o.Record == "" || strings.ContainsAny(o.Record, `/\`) {
		return "", fmt.Errorf("the record's name %q must be a file name", o.Record)
	}
	for key, p := range o.paths() {
		if !isWindowsPath(p) {
			return "", fmt.Errorf("%s %q is not a Windows path", key, p)
		}
		if err := checkWSLPath(p, `C:\wsl-kernel\<version>`); err != nil {
			return "", err
		}
	}
	if o.Kernel == "" {
		return "", errors.New("no kernel to point .wslconfig at")
	}
	return winHome, nil
}

// paths are the keys o sets and the files they name.
func (o Installed) paths() map[string]string {
	m := map[string]string{"kernel": o.Kernel}
	if o.Modules != "" {
		m["kernelModules"] = o.Modules
	}
	return m
}

// folder is the name of the folder the kernel is in: the install's label.
func (o Installed) folder() string {
	dir := o.Kernel[:max(strings.LastIndexByte(o.Kernel, '\\'), 0)]
	return dir[strings.LastIndexByte(dir, '\\')+1:]
}

func loadRecord(path string) (record, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, false, fmt.Errorf("%s: %w: the record of what the installer replaced in .wslconfig is unreadable", path, err)
	}
	return r, true, nil
}

func saveRecord(path string, r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}
