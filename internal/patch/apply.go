package patch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/treepath"
)

// Commit is one patch of a series, parsed: what git am would commit.
type Commit struct {
	Entry  Entry
	Index  int // which message of the mbox file (a file may hold several)
	Header *gitdiff.PatchHeader
	Files  []*gitdiff.File
}

// Subject is the commit title.
func (c *Commit) Subject() string { return c.Header.Title }

// Change is the new state of one file after the whole series: nil Data with Delete set removes it.
type Change struct {
	Data   []byte
	Mode   fs.FileMode
	Delete bool
}

// Step is one applied commit and the files it touched, as it left them: what a git commit of it
// holds.
type Step struct {
	Commit  *Commit
	Changes map[string]*Change
}

// Result is a series applied in memory, ready to be written over the tree.
type Result struct {
	Commits    []*Commit          // the commits applied, in order
	Steps      []Step             // the same, with each one's files
	Upstreamed []*Commit          // commits skipped because the tree already holds their change
	Changes    map[string]*Change // by path relative to the tree: the state after the whole series
	Offsets    []string           // hunks that applied away from their stated line, as patch reports them
	// HunkOffsets is how far each hunk of the applied commits moved from its stated line.
	HunkOffsets map[*gitdiff.TextFragment]int
}

// ReadFunc reads a file of the tree being patched, by slash-separated path; a missing file is
// an fs.ErrNotExist error.
type ReadFunc func(name string) ([]byte, fs.FileMode, error)

// DirReader reads files from a tree on disk, never through a symlink in it (treepath.ReadFile):
// a symlink in the tree must not let a patch read, or learn of, a file outside it.
func DirReader(root string) ReadFunc {
	return func(name string) ([]byte, fs.FileMode, error) {
		return treepath.ReadFile(root, name)
	}
}

// mboxFrom starts each message of a git format-patch mbox.
var mboxFrom = regexp.MustCompile(`(?m)^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001$`)

// Parse reads a patch file into its commits. go-gitdiff's Parse would merge the messages of a
// multi-patch mbox into one, so the file is split on the mbox separators first.
func Parse(e Entry) ([]*Commit, error) {
	data, err := os.ReadFile(e.Path)
	if err != nil {
		return nil, err
	}
	var parts [][]byte
	starts := mboxFrom.FindAllIndex(data, -1)
	if len(starts) == 0 {
		parts = [][]byte{data}
	}
	for i, s := range starts {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		parts = append(parts, data[s[0]:end])
	}
	var commits []*Commit
	for i, part := range parts {
		files, preamble, err := gitdiff.Parse(bytes.NewReader(part))
		if err != nil {
			return nil, fmt.Errorf("patch %s: %w", e.Name, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("patch %s: message %d holds no diff", e.Name, i+1)
		}
		header, err := gitdiff.ParsePatchHeader(preamble)
		if err != nil {
			return nil, fmt.Errorf("patch %s: header: %w", e.Name, err)
		}
		if header.Author == nil || header.Title == "" {
			return nil, fmt.Errorf("patch %s: message %d has no From: or Subject: (make patches with git format-patch)", e.Name, i+1)
		}
		commits = append(commits, &Commit{Entry: e, Index: i + 1, Header: header, Files: files})
	}
	return commits, nil
}

// ParseAll parses every patch of a series, in order.
func ParseAll(series []Entry) ([]*Commit, error) {
	var all []*Commit
	for _, e := range series {
		commits, err := Parse(e)
		if err != nil {
			return nil, err
		}
		all = append(all, commits...)
	}
	return all, nil
}

// Apply applies the commits to the tree at root in memory and returns the result; the tree is
// not touched, so a patch that fails leaves it exactly as it was.
func Apply(root string, commits []*Commit) (*Result, error) {
	return ApplyFrom(DirReader(root), commits)
}

// ApplyFrom applies the commits in memory to the tree that read reads, in order, each as a whole.
// A commit that does not apply but whose change the unpatched tree already holds (it applies in reverse,
// adds a file already there with its content, deletes one already gone) is upstream: it is listed
// in Upstreamed and skipped. Any other commit that does not apply is an error naming the patch,
// file and hunk.
func ApplyFrom(read ReadFunc, commits []*Commit) (*Result, error) {
	return ApplyFuzz(read, commits, 0)
}

// ApplyFuzz is ApplyFrom allowing a hunk to match with up to fuzz lines of its leading and
// trailing context ignored, as patch -F does, when it matches nowhere exactly; each such hunk is
// reported. Fuzz can apply a hunk in the wrong place, so it is off unless a profile allows it.
func ApplyFuzz(read ReadFunc, commits []*Commit, fuzz int) (*Result, error) {
	res := &Result{Changes: map[string]*Change{}, HunkOffsets: map[*gitdiff.TextFragment]int{}}
	layered := func(layers ...map[string]*Change) ReadFunc {
		return func(name string) ([]byte, fs.FileMode, error) {
			for _, l := range layers {
				if c, ok := l[name]; ok {
					if c.Delete {
						return nil, 0, fs.ErrNotExist
					}
					return c.Data, c.Mode, nil
				}
			}
			return read(name)
		}
	}
	for _, c := range commits {
		step := &applied{changes: map[string]*Change{}, offsets: map[*gitdiff.TextFragment]int{}}
		readStep := layered(step.changes, res.Changes)
		var err error
		for _, f := range c.Files {
			if err = applyFile(step, readStep, c, f, fuzz); err != nil {
				break
			}
		}
		if err != nil {
			// Upstream means the release holds the change, not an earlier patch of ours.
			if isUpstream(read, c) {
				res.Upstreamed = append(res.Upstreamed, c)
				continue
			}
			return nil, err
		}
		for name, ch := range step.changes {
			res.Changes[name] = ch
		}
		for frag, off := range step.offsets {
			res.HunkOffsets[frag] = off
		}
		res.Offsets = append(res.Offsets, step.notes...)
		res.Commits = append(res.Commits, c)
		res.Steps = append(res.Steps, Step{Commit: c, Changes: step.changes})
	}
	return res, nil
}

// applied is what one commit did, kept apart until all of its files applied.
type applied struct {
	changes map[string]*Change
	offsets map[*gitdiff.TextFragment]int
	notes   []string
}

// isUpstream reports whether the tree already holds every file change of c.
func isUpstream(read ReadFunc, c *Commit) bool {
	for _, f := range c.Files {
		if f.IsBinary {
			return false
		}
		switch {
		case f.IsDelete:
			if _, _, err := read(f.OldName); !errors.Is(err, fs.ErrNotExist) {
				return false
			}
		case f.IsNew:
			want, _, failed := applyText(nil, f.TextFragments)
			have, _, err := read(f.NewName)
			if failed >= 0 || err != nil || !bytes.Equal(want, have) {
				return false
			}
		default:
			have, _, err := read(f.NewName)
			if err != nil {
				return false
			}
			if _, _, failed := applyText(have, reversed(f.TextFragments)); failed >= 0 {
				return false
			}
		}
	}
	return true
}

// reversed is the hunks that undo frags.
func reversed(frags []*gitdiff.TextFragment) []*gitdiff.TextFragment {
	out := make([]*gitdiff.TextFragment, len(frags))
	for i, f := range frags {
		r := *f
		r.OldPosition, r.OldLines, r.NewPosition, r.NewLines = f.NewPosition, f.NewLines, f.OldPosition, f.OldLines
		r.LinesAdded, r.LinesDeleted = f.LinesDeleted, f.LinesAdded
		r.Lines = make([]gitdiff.Line, len(f.Lines))
		for j, l := range f.Lines {
			switch l.Op {
			case gitdiff.OpAdd:
				l.Op = gitdiff.OpDelete
			case gitdiff.OpDelete:
				l.Op = gitdiff.OpAdd
			}
			r.Lines[j] = l
		}
		out[i] = &r
	}
	return out
}

func applyFile(res *applied, read ReadFunc, c *Commit, f *gitdiff.File, fuzz int) error {
	where := fmt.Sprintf("patch %s", c.Entry.Name)
	if c.Index > 1 {
		where += fmt.Sprintf(" (message %d)", c.Index)
	}
	name := f.NewName
	if f.IsDelete {
		name = f.OldName
	}
	// Names are checked before anything is read: a patch's names are as untrusted as its hunks.
	var names []string
	if !f.IsNew {
		names = append(names, f.OldName)
	}
	if !f.IsDelete {
		names = append(names, f.NewName)
	}
	for _, n := range names {
		if err := treepath.Check(n); err != nil {
			return fmt.Errorf("%s: %s: refused: %w", where, name, err)
		}
	}
	if f.IsBinary {
		return fmt.Errorf("%s: %s: binary patches are not supported", where, name)
	}
	var src []byte
	mode := fs.FileMode(0o644)
	if !f.IsNew {
		data, m, err := read(f.OldName)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %s: file does not exist in the tree", where, f.OldName)
		} else if err != nil {
			return fmt.Errorf("%s: %s: %w", where, f.OldName, err)
		}
		src, mode = data, m&(fs.ModeSymlink|fs.ModePerm) // a patched symlink stays one
	} else if _, _, err := read(f.NewName); err == nil {
		return fmt.Errorf("%s: %s: creates a file that already exists", where, f.NewName)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %s: %w", where, f.NewName, err) // under a symlink, say
	}
	out, offsets, fuzzes, failed := applyFuzz(src, f.TextFragments, fuzz)
	if failed >= 0 {
		return hunkError(where, name, src, f, failed, fuzz)
	}
	for i, fz := range fuzzes {
		if fz > 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s: %s: hunk %d applied WITH FUZZ %d (ignoring %d context lines at each end): check it", where, name, i+1, fz, fz))
		}
	}
	for i, off := range offsets {
		res.offsets[f.TextFragments[i]] = off
		if off != 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s: %s: hunk %d applied at offset %+d lines", where, name, i+1, off))
		}
	}
	if f.NewMode != 0 {
		mode = f.NewMode.Perm()
	}
	if f.IsDelete {
		res.changes[f.OldName] = &Change{Delete: true}
		return nil
	}
	if f.IsRename {
		res.changes[f.OldName] = &Change{Delete: true}
	}
	res.changes[f.NewName] = &Change{Data: out, Mode: mode}
	return nil
}

// applyText applies the hunks in order with no fuzz; see applyFuzz.
func applyText(src []byte, frags []*gitdiff.TextFragment) ([]byte, []int, int) {
	out, offsets, _, failed := applyFuzz(src, frags, 0)
	return out, offsets, failed
}

// applyFuzz applies the hunks in order. Each must match exactly (context and removed lines);
// where the file moved since the patch was made, the hunk is looked for at its stated line
// shifted by the previous hunks' offset, then ever further before and after it, as git apply
// does. Only when that fails and fuzz > 0, it is tried again ignoring up to fuzz lines of its
// leading and trailing context, as patch -F does. It returns the new bytes, each hunk's offset
// and fuzz, or the index of the hunk that matched nowhere.
func applyFuzz(src []byte, frags []*gitdiff.TextFragment, fuzz int) ([]byte, []int, []int, int) {
	lines := strings.SplitAfter(string(src), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var out strings.Builder
	offsets := make([]int, len(frags))
	fuzzes := make([]int, len(frags))
	pos, shift := 0, 0
	for i, whole := range frags {
		at, frag := -1, whole
		for f := 0; f <= fuzz && at < 0; f++ {
			frag = trimContext(whole, f)
			var old []string
			for _, l := range frag.Lines {
				if l.Op != gitdiff.OpAdd {
					old = append(old, l.Line)
				}
			}
			stated := int(frag.OldPosition) - 1
			if frag.OldLines == 0 {
				stated = int(frag.OldPosition) // an insertion goes after the stated line
			}
			at = findHunk(lines, old, stated+shift, pos)
			// git apply's rules: a hunk stated at the top must match at the top, and one without
			// trailing context must match at the end; moving either would change its meaning.
			if at >= 0 && f == 0 && (frag.OldPosition <= 1 && at != 0 || frag.TrailingContext == 0 && at+len(old) != len(lines)) {
				at = -1
			}
			if at >= 0 {
				offsets[i], fuzzes[i] = at-stated, f
				shift = offsets[i]
				for _, l := range lines[pos:at] {
					out.WriteString(l)
				}
				// Trimmed context keeps the file's own lines, which come after at.
				for _, l := range frag.Lines {
					if l.Op != gitdiff.OpDelete {
						out.WriteString(l.Line)
					}
				}
				pos = at + len(old)
			}
		}
		if at < 0 {
			return nil, nil, nil, i
		}
	}
	for _, l := range lines[pos:] {
		out.WriteString(l)
	}
	return []byte(out.String()), offsets, fuzzes, -1
}

// trimContext drops up to n lines of a hunk's leading and trailing context.
func trimContext(f *gitdiff.TextFragment, n int) *gitdiff.TextFragment {
	if n == 0 {
		return f
	}
	lead, trail := min(n, int(f.LeadingContext)), min(n, int(f.TrailingContext))
	if lead == 0 && trail == 0 {
		return f
	}
	t := *f
	t.Lines = f.Lines[lead : len(f.Lines)-trail]
	t.LeadingContext -= int64(lead)
	t.TrailingContext -= int64(trail)
	t.OldPosition += int64(lead)
	t.NewPosition += int64(lead)
	t.OldLines -= int64(lead + trail)
	t.NewLines -= int64(lead + trail)
	return &t
}

// findHunk finds old in lines at or after min, nearest to want first.
func findHunk(lines, old []string, want, min int) int {
	matches := func(at int) bool {
		if at < min || at+len(old) > len(lines) {
			return false
		}
		for j, l := range old {
			if lines[at+j] != l {
				return false
			}
		}
		return true
	}
	for d := 0; d <= len(lines); d++ {
		if matches(want - d) {
			return want - d
		}
		if d > 0 && matches(want+d) {
			return want + d
		}
	}
	return -1
}

// hunkError says which hunk failed, what it expected and what the file holds at its stated line.
func hunkError(where, name string, src []byte, f *gitdiff.File, failed, fuzz int) error {
	frag := f.TextFragments[failed]
	var want strings.Builder
	for _, l := range frag.Lines {
		if l.Op != gitdiff.OpAdd {
			want.WriteString("  " + strings.TrimRight(l.Line, "\n") + "\n")
		}
	}
	var have strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, 1<<20)
	first, last := frag.OldPosition, frag.OldPosition+frag.OldLines-1
	for n := int64(1); sc.Scan() && n <= last; n++ {
		if n >= first {
			have.WriteString("  " + sc.Text() + "\n")
		}
	}
	how := "no fuzz"
	if fuzz > 0 {
		how = fmt.Sprintf("not even with fuzz %d", fuzz)
	}
	return fmt.Errorf("%s: %s: hunk %d (%s) does not apply at line %d, nor anywhere else in the file (%s)\nexpected:\n%sfound:\n%s",
		where, name, failed+1, strings.TrimSpace(frag.Header()), frag.OldPosition, how, want.String(), have.String())
}

// Write puts the result into the tree: each file is written beside its final name and renamed.
// Every name is checked again and no folder on the way may be a symlink (treepath): a result is
// written into a tree on disk, which may hold symlinks its reader never saw.
func (r *Result) Write(root string) error {
	names := make([]string, 0, len(r.Changes))
	for n := range r.Changes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		c := r.Changes[name]
		if c.Delete {
			path, err := treepath.Join(root, name)
			if err != nil {
				return fmt.Errorf("deleting %s: %w", name, err)
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		path, err := treepath.MkdirAll(root, name)
		if err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		// A new file replaces the old one by rename: hard-linked copies of it elsewhere (the
		// tarball cache) are never written through, nor is a symlink there followed.
		if c.Mode&fs.ModeSymlink != 0 {
			err = replaceSymlink(path, string(c.Data))
		} else {
			err = atomicfile.WriteFile(path, c.Data, c.Mode.Perm())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// replaceSymlink puts a symlink to target at path: made beside it and renamed over.
func replaceSymlink(path, target string) error {
	tmp := path + ".tmp-symlink"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ParseDiff reads a plain diff with no mail header, such as kernel.org's incremental patches, as
// one commit named name.
func ParseDiff(name string, data []byte) (*Commit, error) {
	files, _, err := gitdiff.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("patch %s: %w", name, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("patch %s holds no diff", name)
	}
	return &Commit{Entry: Entry{Name: name}, Index: 1, Header: &gitdiff.PatchHeader{Title: name}, Files: files}, nil
}
