package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Rollback puts back the [wsl2] kernel= and kernelModules= that the last install replaced, the
// very lines the user had (a key that was absent is removed again, so WSL boots its own kernel),
// and records the values it replaced as the ones to go back to: a second rollback rolls forward
// again. Only .wslconfig changes; installed files are never removed. It refuses, changing
// nothing, when no install is recorded, when .wslconfig no longer says what the last install or
// rollback left there (it was edited since), or when a file the old values name is gone.
func Rollback(o Options) (*Result, error) {
	p, err := resolvePaths(o)
	if err != nil {
		return nil, err
	}
	path := statePath(o.Home)
	st, ok, err := loadState(path)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no kbuild install is recorded in %s", ErrNothingToRollBack, path)
	}
	res := &Result{Folder: st.Previous.Label, WSLConfig: filepath.Join(o.Home, ".wslconfig"), Settings: map[string]string{}}
	f, err := readWSLConfig(res.WSLConfig)
	if err != nil {
		return nil, err
	}
	now := currentSettings(f.cfg, p.home, p.winHome)
	if !now.sameValues(st.Current) {
		return nil, fmt.Errorf("%s was changed since kbuild last set it: [wsl2] %s, where kbuild left %s; "+
			"nothing is rolled back: edit .wslconfig by hand, or run kbuild install again",
			res.WSLConfig, describe(now), describe(st.Current))
	}
	if res.Warnings, err = checkFiles(st.Previous); err != nil {
		return nil, err
	}
	for k, v := range st.Previous.Keys {
		res.Settings[k] = v.Value
	}
	if v := st.Previous.Keys["kernel"]; v != nil {
		res.Kernel = v.File
	}
	if v := st.Previous.Keys["kernelModules"]; v != nil {
		res.Modules = v.File
	}
	if res.Removed, err = apply(f, st.Previous, ownKeys); err != nil {
		return nil, err
	}
	back := currentSettings(f.cfg, p.home, p.winHome)
	back.Label = st.Previous.Label
	for k, v := range back.Keys {
		v.File = st.Previous.Keys[k].File
	}
	return res, commit(f, res, stateChange{path: path, st: state{Current: back, Previous: st.Current}}, o.Now)
}

// checkFiles refuses settings whose files are gone; a file whose place this machine cannot tell
// gives a warning instead.
func checkFiles(s settings) (warnings []string, err error) {
	for _, k := range ownKeys {
		v := s.Keys[k]
		if v == nil {
			continue
		}
		if v.File == "" {
			warnings = append(warnings, fmt.Sprintf("%s=%s could not be checked from here: make sure it is still there", k, v.Value))
			continue
		}
		if _, err := os.Stat(v.File); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: the previous %s=%s is gone (%s): nothing is rolled back; install a build again with kbuild install", ErrNothingToRollBack, k, v.Value, v.File)
		} else if err != nil {
			return nil, err
		}
	}
	return warnings, nil
}

// describe says what settings hold, for messages.
func describe(s settings) string {
	var parts []string
	for _, k := range ownKeys {
		if v := s.Keys[k]; v != nil {
			parts = append(parts, k+"="+v.Value)
		} else {
			parts = append(parts, "no "+k+"=")
		}
	}
	return strings.Join(parts, ", ")
}
