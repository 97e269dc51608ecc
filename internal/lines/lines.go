// Package lines is the one loop over the line-oriented files the pipeline reads (quilt series,
// gen_init_cpio specs, package lists, .config files and fragments, policies): lines numbered
// from 1 for errors, spaces trimmed, blank lines skipped, and comments taken out by the rule of
// the file's format.
package lines

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Comments is a format's comment rule.
type Comments int

const (
	// Kept hands comment lines to the caller, whose format gives some of them a meaning
	// ("# CONFIG_FOO is not set", "# series: 7.2-").
	Kept Comments = iota
	// WholeLine skips a line whose first character past the spaces is '#' (gen_init_cpio).
	WholeLine
	// Trailing ends a line at its first '#' (quilt series, package lists).
	Trailing
)

// maxLine is the longest line read: a .config's string values can be long.
const maxLine = 1 << 20

// Each calls fn with each line of r that holds anything once the comment rule is applied,
// trimmed of spaces, and its number from 1. It stops at fn's first error and returns it as is;
// a read error is returned after the file's name.
func Each(r io.Reader, name string, comments Comments, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if comments == Trailing {
			line, _, _ = strings.Cut(line, "#")
		}
		line = strings.TrimSpace(line)
		if line == "" || comments == WholeLine && strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
