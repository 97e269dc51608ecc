// Package treepath holds the one rule every writer of a source tree follows for the names it
// writes, whoever supplied them (upstream's git trees and tarballs, patches, the branch editor),
// and the file operations that keep to it on disk: a name that breaks the rule, or a folder on
// the way that is a symlink, is refused before anything is read or written.
//
// The rule, for a slash-separated name relative to the tree's root: not absolute, no empty, "."
// or ".." component, no NUL, no ".git" component in any letter case (git's own folder, and on a
// case-insensitive filesystem its twin), no name twice in one tree (byte-exact, as Linux compares
// names), and nothing under a name that is a file or a symlink in the tree.
package treepath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrUnsafePath is what every refusal wraps, so callers can tell a name refused by the rule from
// damage (a mirror that cannot give back an object): fetching again does not change a name.
var ErrUnsafePath = errors.New("unsafe path")

// Error is a refused name and the rule it breaks; callers wrap it with where the name came from.
type Error struct {
	Name string
	Rule string
}

func (e *Error) Error() string { return fmt.Sprintf("%q %s", e.Name, e.Rule) }

// Unwrap makes errors.Is(err, ErrUnsafePath) true.
func (e *Error) Unwrap() error { return ErrUnsafePath }

func refuse(name, rule string) error { return &Error{Name: name, Rule: rule} }

// Check says whether name may be written in a tree: nil, or an *Error naming the rule it breaks.
func Check(name string) error {
	switch {
	case name == "":
		return refuse(name, "is empty")
	case strings.HasPrefix(name, "/"):
		return refuse(name, "is absolute: it would leave the tree")
	case strings.ContainsRune(name, 0):
		return refuse(name, "holds a NUL byte")
	}
	for c := range strings.SplitSeq(name, "/") {
		if err := checkComponent(name, c); err != nil {
			return err
		}
	}
	return nil
}

// CheckEntry says whether name may be one entry of a folder (a git tree entry): Check's rule, and
// no slash, since a name with one would be written somewhere else than the entry says.
func CheckEntry(name string) error {
	if strings.Contains(name, "/") {
		return refuse(name, "holds a slash: one folder entry would be written as several")
	}
	return Check(name)
}

func checkComponent(name, c string) error {
	switch {
	case c == "":
		return refuse(name, "has an empty component")
	case c == ".":
		return refuse(name, `has a "." component`)
	case c == "..":
		return refuse(name, `has a ".." component: it would leave its folder`)
	case strings.EqualFold(c, ".git"):
		return refuse(name, "has a .git component (in any letter case): git's own folder is never part of a tree")
	}
	return nil
}

// Kind is what a name of a tree is.
type Kind int

const (
	File Kind = iota
	Dir
	Symlink
)

// Set is the names of one tree as they are found, in any order: it refuses a name that breaks the
// rule, one already there, and one under a file or symlink of the tree (or a file or symlink with
// names already under it), so a symlink in the tree can never lead a write out of it whichever
// comes first. The zero Set is empty and ready.
type Set struct {
	kinds map[string]Kind // each name added
	under map[string]bool // each folder that something was added under
}

// Add records name as kind, or refuses it.
func (s *Set) Add(name string, kind Kind) error {
	if err := Check(name); err != nil {
		return err
	}
	if s.kinds == nil {
		s.kinds, s.under = map[string]Kind{}, map[string]bool{}
	}
	if _, dup := s.kinds[name]; dup {
		return refuse(name, "is in the tree twice")
	}
	if kind != Dir && s.under[name] {
		return refuse(name, "is a file or symlink, and the tree has names under it")
	}
	for dir := name; ; {
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			break
		}
		dir = dir[:i]
		if k, ok := s.kinds[dir]; ok && k != Dir {
			return refuse(name, fmt.Sprintf("is under %q, which is a file or symlink in the tree", dir))
		}
		if s.under[dir] {
			break // its own folders were checked and marked when it was
		}
		s.under[dir] = true
	}
	s.kinds[name] = kind
	return nil
}

// Join checks name and returns its path under root, once every folder on the way that exists is
// a real folder, not a symlink (os.Lstat), so what is done at the path stays in the tree. The
// last component is not looked at: whoever opens or replaces it must not follow it.
func Join(root, name string) (string, error) {
	if err := Check(name); err != nil {
		return "", err
	}
	dir := root
	parts := strings.Split(name, "/")
	for i, c := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, c)
		info, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			break // nothing further down exists either
		}
		if err != nil {
			return "", err
		}
		if !info.IsDir() {
			return "", refuse(name, fmt.Sprintf("goes through %q, which is a symlink or file in the tree", strings.Join(parts[:i+1], "/")))
		}
	}
	return filepath.Join(root, filepath.FromSlash(name)), nil
}

// MkdirAll makes the folders of name under root (not name itself) and returns name's path; a
// folder on the way that is a symlink or a file is refused, never followed or replaced.
func MkdirAll(root, name string) (string, error) {
	path, err := Join(root, name)
	if err != nil {
		return "", err
	}
	dir := root
	parts := strings.Split(name, "/")
	for i, c := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, c)
		err := os.Mkdir(dir, 0o755)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			if err != nil {
				return "", err
			}
			continue
		}
		// It was there (or was made meanwhile by another writer): it must be a folder.
		info, err := os.Lstat(dir)
		if err != nil {
			return "", err
		}
		if !info.IsDir() {
			return "", refuse(name, fmt.Sprintf("goes through %q, which is a symlink or file in the tree", strings.Join(parts[:i+1], "/")))
		}
	}
	return path, nil
}

// ReadFile reads name under root without following a symlink: one on the way is refused, and a
// name that is itself a symlink reads as its target with fs.ModeSymlink, as git stores it. A
// missing file is an fs.ErrNotExist error.
func ReadFile(root, name string) ([]byte, fs.FileMode, error) {
	path, err := Join(root, name)
	if err != nil {
		return nil, 0, err
	}
	info, err := os.Lstat(path)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		return []byte(target), info.Mode(), err
	case !info.Mode().IsRegular():
		return nil, 0, refuse(name, "is not a regular file or symlink")
	}
	data, err := os.ReadFile(path)
	return data, info.Mode(), err
}
