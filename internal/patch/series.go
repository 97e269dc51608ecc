// Package patch holds the patch series (quilt's series file of git format-patch mboxes) and applies
// it to a source tree with git am semantics, in pure Go.
package patch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/lines"
	"github.com/wslkernel/wslkernel/internal/treepath"
)

// Entry is one line of a series file.
type Entry struct {
	Path   string // absolute path of the patch file
	Name   string // as written in the series file
	Series string // the series file
	Line   int    // its line there
}

func (e Entry) String() string { return e.Name }

// ReadSeries reads a quilt series file: one patch a line, relative to the file's folder; '#'
// starts a comment; blank lines are skipped. Quilt's "-p1" is accepted (it is what git
// format-patch produces); any other option is refused. Every listed patch must exist, as a file
// in the series folder: its name is held to treepath's rule (not absolute, no "..", no symlinked
// folder on the way), and it may not be a symlink, since Refresh rewrites and removes the
// patches where they are.
func ReadSeries(series string) ([]Entry, error) {
	f, err := os.Open(series)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []Entry
	seen := map[string]int{}
	err = lines.Each(f, series, lines.Trailing, func(n int, line string) error {
		fields := strings.Fields(line)
		name := fields[0]
		for _, opt := range fields[1:] {
			if opt != "-p1" {
				return fmt.Errorf("%s:%d: %s: option %q is not supported (patches are applied -p1, as git am does)", series, n, name, opt)
			}
		}
		if first, dup := seen[name]; dup {
			return fmt.Errorf("%s:%d: %s is already listed on line %d", series, n, name, first)
		}
		seen[name] = n
		path, err := treepath.Join(filepath.Dir(series), name)
		if err != nil {
			return fmt.Errorf("%s:%d: patch %w; a patch is named relative to the series file's folder, and must be in it", series, n, err)
		}
		info, err := os.Lstat(path)
		switch {
		case err != nil || info.IsDir():
			return fmt.Errorf("%s:%d: patch %s does not exist (looked for %s)", series, n, name, path)
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			return fmt.Errorf("%s:%d: patch %s is a symlink (to %s): %w; a patch must be a file in the series folder", series, n, name, target, treepath.ErrUnsafePath)
		case !info.Mode().IsRegular():
			return fmt.Errorf("%s:%d: patch %s is not a regular file (%s)", series, n, name, info.Mode().Type())
		}
		entries = append(entries, Entry{Path: path, Name: name, Series: series, Line: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}
