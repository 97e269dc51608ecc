package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
)

// StateName is the file beside .wslconfig where install records what it set and what was there
// before, for --rollback.
const StateName = ".wslconfig.kbuild.json"

// The keys install owns, in the order they are written.
var ownKeys = []string{"kernel", "kernelModules"}

// state is what install and rollback record: the [wsl2] kernel= and kernelModules= that the last
// of them left in .wslconfig (Current) and the ones before (Previous), which --rollback restores.
type state struct {
	Current  settings `json:"current"`
	Previous settings `json:"previous"`
}

// settings are the values of the keys install owns at one time; a key that is absent was not
// in .wslconfig.
type settings struct {
	Label string              `json:"label,omitempty"` // the install's folder name, when it was one of ours
	Keys  map[string]*setting `json:"keys"`
}

// setting is one key as WSL read it, and the file's lines that said it, kept byte for byte so a
// rollback puts back exactly what the user had.
type setting struct {
	Value string `json:"value"`
	Lines string `json:"lines,omitempty"`
	// LinesBytes holds Lines when they are not UTF-8 (JSON would change them).
	LinesBytes []byte `json:"lines_bytes,omitempty"`
	// File is where this machine sees the file Value names; empty when it cannot tell.
	File string `json:"file,omitempty"`
}

func newSetting(value, lines, file string) *setting {
	if utf8.ValidString(lines) {
		return &setting{Value: value, Lines: lines, File: file}
	}
	return &setting{Value: value, LinesBytes: []byte(lines), File: file}
}

func (s *setting) lines() string {
	if s.LinesBytes != nil {
		return string(s.LinesBytes)
	}
	return s.Lines
}

// sameValues says whether two settings make WSL boot the same files.
func (a settings) sameValues(b settings) bool {
	for _, k := range ownKeys {
		x, y := a.Keys[k], b.Keys[k]
		if (x == nil) != (y == nil) || x != nil && x.Value != y.Value {
			return false
		}
	}
	return true
}

// loadState reads the state file; ok is false when there is none.
func loadState(path string) (st state, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, false, fmt.Errorf("%s: %w: this file records what kbuild install changed in .wslconfig; fix or remove it (without it there is nothing to roll back to)", path, err)
	}
	return st, true, nil
}

func saveState(path string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// currentSettings are the values of the owned keys in c, with where this machine sees their files.
func currentSettings(c *Config, home, winHome string) settings {
	s := settings{Keys: map[string]*setting{}}
	for _, k := range ownKeys {
		if v, lines, ok := c.Get("wsl2", k); ok {
			file, _ := localPath(v, home, winHome)
			s.Keys[k] = newSetting(v, lines, file)
		}
	}
	return s
}

func statePath(home string) string { return filepath.Join(home, StateName) }
