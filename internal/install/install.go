// Package install puts a built kernel where WSL takes it from: the kernel and its modules disk
// (modules.vhdx, or artifacts.vhd with the artifacts layout) copied into a folder of their own
// under <home>\wsl-kernel\ (or --dir), and .wslconfig's [wsl2] kernel= and kernelModules=
// pointed at them, every other line and byte of the file kept, in its own encoding, and the old
// file kept as a backup. It records what it replaced (StateName), so
// Rollback can put it back.
package install

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The names a modules disk is installed under (Options.ModulesName).
const (
	FlatDisk      = "modules.vhdx"
	ArtifactsDisk = "artifacts.vhd"
)

// Options say what to install and where.
type Options struct {
	Kernel  string // the built kernel image
	Modules string // the modules disk; empty when the kernel has no modules
	// ModulesName is the modules disk's name in the install's folder, which kernelModules= names:
	// modules.vhdx (the default: the flat layout) or artifacts.vhd (the artifacts layout, the
	// name WSL gives it; Windows opens a .vhd as a VHD).
	ModulesName string
	Version     string // the kernel's version, for the folder name
	// Home is the Windows user's home folder as this machine sees it (under WSL: /mnt/c/Users/ada).
	Home string
	// WindowsHome is the same folder as Windows names it (C:\Users\ada); empty: worked out from
	// a /mnt/<drive>/ path.
	WindowsHome string
	// Dir holds the installed kernels, a folder each, as this machine sees it; empty:
	// <Home>/wsl-kernel. WindowsDir is how Windows names it; empty: from WindowsHome for the
	// default Dir, else from a /mnt/<drive>/ path.
	Dir, WindowsDir string
	Now             time.Time // for the backup's name
	// Grant gives Readers read and execute on the install's folder (dir as this machine sees
	// it, winDir as Windows names it), once its files are there; nil when this machine cannot
	// (Linux outside WSL): then a folder under the profile gets a warning instead.
	Grant func(dir, winDir string) error
}

// Result is what Install or Rollback did.
type Result struct {
	Kernel, Modules string // where the files are (this machine's paths); Rollback: when known
	Folder          string // the install's folder name under Dir; empty: not one of ours
	Reused          bool   // the folder already held these very files, so nothing was copied
	WSLConfig       string
	Backup          string            // the previous .wslconfig, kept; empty when there was none
	Granted         string            // the folder (a Windows path) Readers were given read and execute on
	Settings        map[string]string // [wsl2] keys set, as WSL reads them
	Removed         []string          // [wsl2] keys removed
	Warnings        []string
}

// Describe writes what was done to .wslconfig, a line each: the [wsl2] keys set or removed, the
// backup kept, the warnings. kbuild install and the MSI's custom action report it so.
func (r *Result) Describe(w io.Writer) {
	fmt.Fprintf(w, "  .wslconfig     %s: [wsl2]", r.WSLConfig)
	for _, k := range []string{"kernel", "kernelModules"} {
		if v, ok := r.Settings[k]; ok {
			fmt.Fprintf(w, " %s=%s", k, v)
		}
	}
	for _, k := range r.Removed {
		fmt.Fprintf(w, " (%s= removed)", k)
	}
	fmt.Fprintln(w)
	if r.Granted != "" {
		DescribeGrant(w, r.Granted)
	}
	if r.Backup != "" {
		fmt.Fprintf(w, "  previous       %s\n", r.Backup)
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "  warning        %s\n", warning)
	}
}

// paths are where things go, resolved and checked.
type paths struct {
	home, winHome, dir, winDir string
}

func resolvePaths(o Options) (paths, error) {
	p := paths{home: o.Home, winHome: o.WindowsHome, dir: o.Dir, winDir: o.WindowsDir}
	var err error
	if p.winHome == "" {
		if p.winHome, err = WindowsPath(o.Home); err != nil {
			return p, err
		}
	}
	if !isWindowsPath(p.winHome) {
		return p, fmt.Errorf("--windows-path %q is not a Windows path (C:\\Users\\name)", p.winHome)
	}
	info, err := os.Stat(o.Home)
	if err != nil {
		return p, fmt.Errorf("the Windows home %s: %w", o.Home, err)
	}
	if !info.IsDir() {
		return p, fmt.Errorf("the Windows home %s is not a folder", o.Home)
	}
	if p.dir == "" {
		p.dir = filepath.Join(o.Home, "wsl-kernel")
		if p.winDir == "" {
			p.winDir = strings.TrimRight(p.winHome, `\`) + `\wsl-kernel`
		}
	}
	if p.winDir == "" {
		if p.winDir, err = WindowsPath(p.dir); err != nil {
			return p, fmt.Errorf("--dir: %w", err)
		}
	}
	if !isWindowsPath(p.winDir) {
		return p, fmt.Errorf("--windows-dir %q is not a Windows path (C:\\wsl-kernel)", p.winDir)
	}
	p.winDir = strings.TrimRight(p.winDir, `\`)
	return p, nil
}

// Install copies the files into a folder of their own and points .wslconfig at them: the folder
// is <Dir>/<version>, or <version>_2, _3... when that one holds other files (WSL may be running
// the kernel in it, so a file there is never replaced). It refuses, before changing anything, a
// path WSL's parser cannot read and a .wslconfig it cannot read back exactly.
func Install(o Options) (*Result, error) {
	p, err := resolvePaths(o)
	if err != nil {
		return nil, err
	}
	if o.Version == "" || strings.ContainsAny(o.Version, `/\`) || strings.Trim(o.Version, ".") == "" {
		return nil, fmt.Errorf("version %q cannot name a folder: it must be non-empty, without slashes", o.Version)
	}
	disk := o.ModulesName
	switch disk {
	case "":
		disk = FlatDisk
	case FlatDisk, ArtifactsDisk:
	default:
		return nil, fmt.Errorf("the modules disk's name %q: want %s or %s, the names WSL opens by their extension", disk, FlatDisk, ArtifactsDisk)
	}
	files := map[string]string{"kernel": o.Kernel}
	if o.Modules != "" {
		files[disk] = o.Modules
	}
	folder, reuse, err := chooseFolder(p.dir, o.Version, files)
	if err != nil {
		return nil, err
	}
	res := &Result{Folder: folder, Reused: reuse, WSLConfig: filepath.Join(o.Home, ".wslconfig"), Settings: map[string]string{}}
	want := settings{Label: folder, Keys: map[string]*setting{}}
	for key, name := range map[string]string{"kernel": "kernel", "kernelModules": disk} {
		if files[name] == "" {
			continue
		}
		win := p.winDir + `\` + folder + `\` + name
		if err := checkWSLPath(win, `C:\wsl-kernel\`+folder+` (--dir /mnt/c/wsl-kernel)`); err != nil {
			return nil, err
		}
		want.Keys[key] = &setting{Value: win, File: filepath.Join(p.dir, folder, name)}
		res.Settings[key] = win
	}
	f, err := readWSLConfig(res.WSLConfig)
	if err != nil {
		return nil, err
	}
	before := currentSettings(f.cfg, p.home, p.winHome)
	if res.Removed, err = apply(f, want, ownKeys); err != nil {
		return nil, err
	}
	if !reuse {
		if err := copyFolder(filepath.Join(p.dir, folder), files); err != nil {
			return nil, err
		}
	}
	res.Kernel = want.Keys["kernel"].File
	if m := want.Keys["kernelModules"]; m != nil {
		res.Modules = m.File
	}
	// Granted before .wslconfig names the files: WSL 2.7.1 to 2.7.4 could not read them else.
	if o.Grant != nil {
		winFolder := p.winDir + `\` + folder
		if err := o.Grant(filepath.Join(p.dir, folder), winFolder); err != nil {
			return nil, fmt.Errorf("%w\n.wslconfig was not changed: WSL 2.7.1 to 2.7.4 could not read the modules disk without the grant", err)
		}
		res.Granted = winFolder
	}
	res.Warnings = installWarnings(f.enc, want, p.winHome, res.Granted != "")
	sc, warning := nextState(statePath(o.Home), before, want, f.cfg, p)
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	return res, commit(f, res, sc, o.Now)
}

// apply makes keys (of the owned ones) of f say what s says: a key s has is set (to its recorded
// lines when it has them), one it lacks is removed; the other keys are left as they are. It
// returns the keys removed. It refuses an edit after which WSL would not read exactly that, or
// would read any other key differently.
func apply(f *wslConfigFile, s settings, keys []string) (removed []string, err error) {
	orig, cfg := ParseConfig(f.cfg.String()), f.cfg
	for _, k := range keys {
		v := s.Keys[k]
		switch {
		case v == nil:
			if _, _, ok := cfg.Get("wsl2", k); ok {
				removed = append(removed, k)
			}
			cfg.Remove("wsl2", k)
		case v.lines() != "":
			cfg.setLines("wsl2", k, strings.Split(v.lines(), "\n"))
		default:
			cfg.Set("wsl2", k, v.Value)
		}
	}
	if id := changedKey(orig, cfg, "wsl2.kernel", "wsl2.kernelModules"); id != "" {
		return nil, fmt.Errorf("%s: changing [wsl2] kernel= and kernelModules= would change what WSL reads for %s (a line ending in a backslash?): fix that line by hand, then install again", f.path, id)
	}
	for _, k := range keys {
		got, _, ok := cfg.Get("wsl2", k)
		if want := s.Keys[k]; ok != (want != nil) || ok && got != want.Value {
			return nil, fmt.Errorf("%s: could not make WSL read [wsl2] %s as wanted (it would read %q): fix the file by hand, then install again", f.path, k, got)
		}
	}
	return removed, nil
}

func installWarnings(enc textEncoding, want settings, winHome string, granted bool) []string {
	var w []string
	if enc == utf16BE {
		w = append(w, ".wslconfig is UTF-16 BE, and is kept so; but WSL reads only UTF-8 and UTF-16 LE (the C runtime's ccs=UTF-8 mode): if WSL ignores it, save it as UTF-8")
	}
	// WSL 2.7.1 to 2.7.4 attach the modules disk without granting the utility VM access to it
	// (2.7.5 grants it): a disk in a folder the VM cannot read already fails with HCS's
	// E_ACCESSDENIED. A folder under the user's profile is such a folder (its ACL names the user,
	// SYSTEM and Administrators); one made in C:\ inherits read access for every user; one
	// granted Readers is read.
	if m := want.Keys["kernelModules"]; m != nil && !granted {
		if _, under := cutFolder(m.Value, winHome); under {
			w = append(w, "the modules disk is under your Windows profile ("+winHome+"): WSL 2.7.1 to 2.7.4 attach it without granting the VM access to that folder and fail with HCS E_ACCESSDENIED (2.7.5 grants it): update WSL, or install outside the profile, e.g. --dir /mnt/c/wsl-kernel")
		}
	}
	return w
}

// nextState is the state after an install of want over what .wslconfig said before. A broken
// state file is replaced (with a warning), since .wslconfig itself says what was there before.
func nextState(path string, before, want settings, cfg *Config, p paths) (sc stateChange, warning string) {
	after := currentSettings(cfg, p.home, p.winHome)
	after.Label = want.Label
	for k, v := range after.Keys {
		v.File = want.Keys[k].File
	}
	old, ok, err := loadState(path)
	if err != nil {
		warning = fmt.Sprintf("the rollback record was broken and is replaced (a rollback now goes back to what .wslconfig said before this install): %v", err)
	}
	if ok && old.Current.sameValues(before) {
		before.Label = old.Current.Label
		for k, v := range before.Keys {
			if v.File == "" {
				v.File = old.Current.Keys[k].File
			}
		}
		if before.sameValues(after) {
			// The same build again: keep what a rollback would go back to.
			before = old.Previous
		}
	}
	return stateChange{path: path, st: state{Current: after, Previous: before}}, warning
}

type stateChange struct {
	path string
	st   state
}

// commit writes the state, then the new .wslconfig beside a backup of the old. Should the second
// write fail, rollback refuses (the state's Current is not what .wslconfig says) and the user's
// file is as it was.
func commit(f *wslConfigFile, res *Result, sc stateChange, now time.Time) error {
	if err := saveState(sc.path, sc.st); err != nil {
		return fmt.Errorf("recording the install for --rollback: %w", err)
	}
	backup, err := f.write(now)
	res.Backup = backup
	return err
}

// ErrNothingToRollBack is returned by Rollback when no install is recorded to go back from.
var ErrNothingToRollBack = errors.New("nothing to roll back to")
