// Package branch makes the release branch as git objects: the patch series as commits on top of
// the upstream tag (git am semantics, author and message kept), then a commit of the generated
// in-tree defconfigs, without a work tree.
package branch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/treepath"
)

// Committer is who commits on the branch. Like git am --committer-date-is-author-date, each
// patch commit takes its author's date, so the same inputs always give the same commit hashes.
var Committer = object.Signature{Name: "wslkernel kbuild", Email: "kbuild@wslkernel.invalid"}

// Reader reads files of a commit's tree, for patch.ApplyFrom. It walks the tree a folder at a
// time so that a name breaking treepath's rule, or one going through a symlink of the tree, is
// refused for what it is rather than reported as a missing object; a symlink itself reads as its
// target, never followed.
func Reader(s storer.EncodedObjectStorer, tree *object.Tree) patch.ReadFunc {
	return func(name string) ([]byte, fs.FileMode, error) {
		if err := treepath.Check(name); err != nil {
			return nil, 0, err
		}
		parts := strings.Split(name, "/")
		dir := tree
		for i, part := range parts[:len(parts)-1] {
			e, err := dir.FindEntry(part)
			if errors.Is(err, object.ErrEntryNotFound) {
				return nil, 0, fs.ErrNotExist
			} else if err != nil {
				return nil, 0, err
			}
			if e.Mode != filemode.Dir {
				return nil, 0, &treepath.Error{Name: name, Rule: fmt.Sprintf("goes through %q, which is a symlink or file in the tree", strings.Join(parts[:i+1], "/"))}
			}
			if dir, err = object.GetTree(s, e.Hash); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", name, err)
			}
		}
		e, err := dir.FindEntry(parts[len(parts)-1])
		if errors.Is(err, object.ErrEntryNotFound) || err == nil && !e.Mode.IsFile() {
			return nil, 0, fs.ErrNotExist
		}
		if err != nil {
			return nil, 0, err
		}
		blob, err := object.GetBlob(s, e.Hash)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		r, err := blob.Reader()
		if err != nil {
			return nil, 0, err
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		mode, _ := e.Mode.ToOSFileMode()
		return data, mode, err
	}
}

// Patches commits each applied step of a series on top of base and returns the new head.
func Patches(s storer.EncodedObjectStorer, base *object.Commit, steps []patch.Step) (plumbing.Hash, error) {
	head, tree := base.Hash, base.TreeHash
	for _, st := range steps {
		h := st.Commit.Header
		author := object.Signature{Name: h.Author.Name, Email: h.Author.Email, When: h.AuthorDate}
		if h.AuthorDate.IsZero() {
			return plumbing.ZeroHash, fmt.Errorf("patch %s: no Date: header, so its commit would not be reproducible", st.Commit.Entry.Name)
		}
		committer := Committer
		committer.When = h.AuthorDate
		msg := h.Message()
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		var err error
		if head, tree, err = Commit(s, head, tree, st.Changes, author, committer, msg); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("patch %s: %w", st.Commit.Entry.Name, err)
		}
	}
	return head, nil
}

// Commit writes a commit whose tree is parentTree with changes made, and returns its hash and
// its tree's. A name breaking treepath's rule, or one under a symlink or file of the tree, is
// refused before any object is written: no commit holding it is ever made.
func Commit(s storer.EncodedObjectStorer, parent, parentTree plumbing.Hash, changes map[string]*patch.Change, author, committer object.Signature, msg string) (commit, tree plumbing.Hash, err error) {
	for name := range changes {
		if err := treepath.Check(name); err != nil {
			return plumbing.ZeroHash, plumbing.ZeroHash, err
		}
	}
	if tree, err = editTree(s, parentTree, changes); err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, err
	}
	c := &object.Commit{Author: author, Committer: committer, Message: msg, TreeHash: tree, ParentHashes: []plumbing.Hash{parent}}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, err
	}
	commit, err = s.SetEncodedObject(obj)
	return commit, tree, err
}

// editTree writes the trees on the paths that changes touch and returns the new root; untouched
// subtrees are shared with the old one.
func editTree(s storer.EncodedObjectStorer, root plumbing.Hash, changes map[string]*patch.Change) (plumbing.Hash, error) {
	return editFolder(s, "", root, changes)
}

// editFolder is editTree for the folder at prefix (empty, or ending in a slash).
func editFolder(s storer.EncodedObjectStorer, prefix string, root plumbing.Hash, changes map[string]*patch.Change) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if !root.IsZero() {
		t, err := object.GetTree(s, root)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		for _, e := range t.Entries {
			entries[e.Name] = e
		}
	}
	here := map[string]*patch.Change{}
	below := map[string]map[string]*patch.Change{}
	for path, c := range changes {
		dir, rest, nested := strings.Cut(path, "/")
		if !nested {
			here[dir] = c
			continue
		}
		if below[dir] == nil {
			below[dir] = map[string]*patch.Change{}
		}
		below[dir][rest] = c
	}
	for name, c := range here {
		if c.Delete {
			delete(entries, name)
			continue
		}
		h, err := writeBlob(s, c.Data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[name] = object.TreeEntry{Name: name, Mode: fileMode(c.Mode), Hash: h}
	}
	for name, sub := range below {
		var subRoot plumbing.Hash
		if e, ok := entries[name]; ok && e.Mode == filemode.Dir {
			subRoot = e.Hash
		} else if ok {
			// git apply refuses this too: writing under a symlink would turn it into a folder.
			return plumbing.ZeroHash, &treepath.Error{Name: prefix + name, Rule: "is a symlink or file in the tree, and the change writes under it"}
		}
		h, err := editFolder(s, prefix+name+"/", subRoot, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if h.IsZero() {
			delete(entries, name) // git keeps no empty folders
			continue
		}
		entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	t := &object.Tree{}
	for _, e := range entries {
		t.Entries = append(t.Entries, e)
	}
	// git orders a tree's entries by name, a folder's name as if it ended in '/'.
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(t.Entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	obj := s.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

func writeBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

func fileMode(m fs.FileMode) filemode.FileMode {
	switch {
	case m&fs.ModeSymlink != 0:
		return filemode.Symlink
	case m&0o111 != 0:
		return filemode.Executable
	}
	return filemode.Regular
}

// Defconfigs commits generated defconfig files (path in the tree → contents) on top of head, as
// the branch's last commit, dated when (the upstream commit's time, for reproducibility).
func Defconfigs(s storer.EncodedObjectStorer, head *object.Commit, files map[string][]byte, when time.Time, msg string) (plumbing.Hash, error) {
	changes := map[string]*patch.Change{}
	for path, data := range files {
		changes[path] = &patch.Change{Data: data, Mode: 0o644}
	}
	sig := Committer
	sig.When = when
	commit, _, err := Commit(s, head.Hash, head.TreeHash, changes, sig, sig, msg)
	return commit, err
}
