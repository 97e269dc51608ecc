package patch

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
)

// Refreshed is a series rewritten against a new base: hunk headers moved to where the hunks now
// apply, upstreamed patches dropped. Nothing is written until Write.
type Refreshed struct {
	Series     string            // the series file
	SeriesText []byte            // its new text
	Files      map[string][]byte // patch file path → new contents; nil deletes the file
	Notes      []string          // what changed, one line each
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@(.*)$`)

// Refresh rewrites the series file and its patches after res, the series applied to a new base
// (release names it in notes): each hunk's header takes the offset it applied at, a patch whose
// every message is upstream leaves the series (its line is commented out, saying where it went)
// and its file is deleted, and an upstreamed message of a multi-message file is cut from it.
func Refresh(series string, entries []Entry, commits []*Commit, res *Result, release string) (*Refreshed, error) {
	up := map[*Commit]bool{}
	for _, c := range res.Upstreamed {
		up[c] = true
	}
	byFile := map[string][]*Commit{}
	for _, c := range commits {
		byFile[c.Entry.Path] = append(byFile[c.Entry.Path], c)
	}
	out := &Refreshed{Series: series, Files: map[string][]byte{}}
	dropLine := map[int]string{}
	for _, e := range entries {
		cs := byFile[e.Path]
		data, err := os.ReadFile(e.Path)
		if err != nil {
			return nil, err
		}
		parts := splitMbox(data)
		if len(parts) != len(cs) {
			return nil, fmt.Errorf("patch %s: %d messages, but %d were parsed", e.Name, len(parts), len(cs))
		}
		var kept [][]byte
		for i, c := range cs {
			if up[c] {
				out.Notes = append(out.Notes, fmt.Sprintf("%s: %q is upstream in %s: dropped", e.Name, c.Subject(), release))
				continue
			}
			part, moved := moveHunks(parts[i], c, res.HunkOffsets)
			if moved > 0 {
				out.Notes = append(out.Notes, fmt.Sprintf("%s: %q: %d hunks moved to where they now apply", e.Name, c.Subject(), moved))
			}
			kept = append(kept, part)
		}
		switch {
		case len(kept) == 0:
			out.Files[e.Path] = nil
			dropLine[e.Line] = release
		case !bytes.Equal(bytes.Join(kept, nil), data):
			out.Files[e.Path] = bytes.Join(kept, nil)
		}
	}
	text, err := os.ReadFile(series)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(text), "\n")
	for n, rel := range dropLine {
		lines[n-1] = fmt.Sprintf("# upstream in %s: %s", rel, lines[n-1])
	}
	out.SeriesText = []byte(strings.Join(lines, ""))
	return out, nil
}

// Changed reports whether the refresh changes anything.
func (r *Refreshed) Changed() bool { return len(r.Files) > 0 }

// Write puts the refreshed series in place, each file by rename.
func (r *Refreshed) Write() error {
	for path, data := range r.Files {
		if data == nil {
			continue
		}
		if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteFile(r.Series, r.SeriesText, 0o644); err != nil {
		return err
	}
	for path, data := range r.Files {
		if data == nil {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitMbox cuts a format-patch file at its messages; a file without separators is one message.
func splitMbox(data []byte) [][]byte {
	starts := mboxFrom.FindAllIndex(data, -1)
	if len(starts) == 0 {
		return [][]byte{data}
	}
	parts := [][]byte{}
	for i, s := range starts {
		begin, end := s[0], len(data)
		if i == 0 {
			begin = 0
		}
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		parts = append(parts, data[begin:end])
	}
	return parts
}

// moveHunks rewrites the hunk headers of one message by the offsets its hunks applied at.
func moveHunks(msg []byte, c *Commit, offsets map[*gitdiff.TextFragment]int) ([]byte, int) {
	var frags []*gitdiff.TextFragment
	for _, f := range c.Files {
		frags = append(frags, f.TextFragments...)
	}
	lines := strings.SplitAfter(string(msg), "\n")
	inDiff, next, moved := false, 0, 0
	for i, line := range lines {
		if strings.HasPrefix(line, "diff --git ") {
			inDiff = true
		}
		if !inDiff {
			continue
		}
		m := hunkHeader.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil || next >= len(frags) {
			continue
		}
		off := offsets[frags[next]]
		next++
		if off == 0 {
			continue
		}
		oldStart, _ := strconv.Atoi(m[1])
		newStart, _ := strconv.Atoi(m[3])
		lines[i] = fmt.Sprintf("@@ -%d%s +%d%s @@%s\n", oldStart+off, m[2], newStart+off, m[4], m[5])
		moved++
	}
	return []byte(strings.Join(lines, "")), moved
}
