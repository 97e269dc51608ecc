package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/wslkernel/wslkernel/internal/treepath"
)

// node is one entry of a tree built object by object: git porcelain cannot make entries with
// slashes, "..", duplicates or a leading "/", which a pushed mirror may hold all the same.
type node struct {
	name string
	mode filemode.FileMode
	data string // a file's contents, a symlink's target
	sub  []node // a folder's entries, in the order given (not sorted: the order is the probe)
}

func putObject(t *testing.T, s storer.EncodedObjectStorer, enc interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	t.Helper()
	obj := s.NewEncodedObject()
	if err := enc.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// putTree stores the tree as git encodes one, entries in the order given: go-git's encoder
// refuses unsorted entries, and the order is part of the probe.
func putTree(t *testing.T, s storer.EncodedObjectStorer, nodes []node) plumbing.Hash {
	t.Helper()
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.TreeObject)
	w, err := obj.Writer()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		var h plumbing.Hash
		if n.mode == filemode.Dir {
			h = putTree(t, s, n.sub)
		} else {
			blob := s.NewEncodedObject()
			blob.SetType(plumbing.BlobObject)
			bw, _ := blob.Writer()
			bw.Write([]byte(n.data))
			bw.Close()
			if h, err = s.SetEncodedObject(blob); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(w, "%o %s\x00", uint32(n.mode), n.name)
		w.Write(h[:])
	}
	w.Close()
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rawCommit stores a commit of a tree made of nodes in the bare repository at dir.
func rawCommit(t *testing.T, dir string, nodes []node) plumbing.Hash {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "Mallory", Email: "m@example.invalid", When: time.Unix(1763726161, 0)}
	return putObject(t, repo.Storer, &object.Commit{Author: sig, Committer: sig, Message: "evil\n", TreeHash: putTree(t, repo.Storer, nodes)})
}

// probeDirs is a bare repository, a work folder beside elsewhere (outside the work folder,
// holding keep/file), and a listing of elsewhere to compare with after.
func probeDirs(t *testing.T) (repo, work, elsewhere string) {
	t.Helper()
	base := t.TempDir()
	repo, work, elsewhere = filepath.Join(base, "mirror"), filepath.Join(base, "work"), filepath.Join(base, "elsewhere")
	if _, err := git.PlainInit(repo, true); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{work, filepath.Join(elsewhere, "keep")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "keep", "file"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return repo, work, elsewhere
}

var makefile = node{name: "Makefile", mode: filemode.Regular, data: "SUBLEVEL = 1\n"}

// unsafeTrees are trees no writer may write: each would put a file outside the tree (the work
// folder's src, beside elsewhere), into a git folder, or at a name the tree does not say.
func unsafeTrees(elsewhere string) map[string][]node {
	evil := node{name: "evil", mode: filemode.Symlink, data: elsewhere}
	under := node{name: "evil", mode: filemode.Dir, sub: []node{{name: "x", mode: filemode.Regular, data: "owned\n"}}}
	slashed := node{name: "evil/x", mode: filemode.Regular, data: "owned\n"}
	return map[string][]node{
		"symlink then folder":          {makefile, evil, under},
		"folder then symlink":          {makefile, under, evil},
		"symlink then slashed entry":   {makefile, evil, slashed},
		"slashed entry then symlink":   {makefile, slashed, evil},
		"slashes and dots":             {makefile, {name: "../../elsewhere/keep", mode: filemode.Regular, data: "owned\n"}},
		"dot-dot folder":               {makefile, {name: "..", mode: filemode.Dir, sub: []node{{name: "elsewhere", mode: filemode.Regular, data: "owned\n"}}}},
		"leading slash":                {makefile, {name: "/keep", mode: filemode.Regular, data: "owned\n"}},
		".GIT":                         {makefile, {name: ".GIT", mode: filemode.Dir, sub: []node{{name: "config", mode: filemode.Regular, data: "owned\n"}}}},
		".Git deep":                    {makefile, {name: "sub", mode: filemode.Dir, sub: []node{{name: ".Git", mode: filemode.Regular, data: "owned\n"}}}},
		"same name twice":              {makefile, {name: "a", mode: filemode.Regular, data: "1\n"}, {name: "a", mode: filemode.Regular, data: "2\n"}},
		"deep slashes and dots folder": {makefile, {name: "a", mode: filemode.Dir, sub: []node{{name: "../../../elsewhere/keep", mode: filemode.Dir, sub: []node{{name: "x", mode: filemode.Regular, data: "owned\n"}}}}}},
	}
}

// refused checks a writer's answer to an unsafe tree: refused by the rule (not damage, which
// would empty the shared mirror), and nothing outside the work folder changed.
func refused(t *testing.T, what string, err error, elsewhere, before string) {
	t.Helper()
	if !errors.Is(err, treepath.ErrUnsafePath) || errors.Is(err, ErrDamaged) {
		t.Errorf("%s = %v, want a refusal (ErrUnsafePath, not ErrDamaged)", what, err)
	}
	if after := listTree(t, elsewhere); after != before {
		t.Errorf("%s changed what is outside the tree:\n%s\nwas:\n%s", what, after, before)
	}
}

// TestExportRefusesUnsafeTrees: exporting into a fresh work dir writes nothing outside it, in any
// entry order, and leaves no tree behind.
func TestExportRefusesUnsafeTrees(t *testing.T) {
	for name := range unsafeTrees("") {
		t.Run(name, func(t *testing.T) {
			repo, work, elsewhere := probeDirs(t)
			before := listTree(t, elsewhere)
			commit := rawCommit(t, repo, unsafeTrees(elsewhere)[name])
			dest := filepath.Join(work, "src")
			_, err := Export(context.Background(), repo, commit, dest, 2)
			refused(t, "Export", err, elsewhere, before)
			if _, err := os.Lstat(dest); err == nil {
				t.Errorf("Export left %s", dest)
			}
		})
	}
}

// TestMoveRefusesUnsafeTrees: moving a work dir to a tree holding an unsafe name refuses before
// touching anything: the name used to be taken as removed, and the folder it named outside the
// tree deleted.
func TestMoveRefusesUnsafeTrees(t *testing.T) {
	for name := range unsafeTrees("") {
		t.Run(name, func(t *testing.T) {
			repo, work, elsewhere := probeDirs(t)
			before := listTree(t, elsewhere)
			ctx := context.Background()
			good := rawCommit(t, repo, []node{makefile, {name: "kernel", mode: filemode.Dir, sub: []node{{name: "fork.c", mode: filemode.Regular, data: "fork\n"}}}})
			bad := rawCommit(t, repo, unsafeTrees(elsewhere)[name])
			w := Worktree{Dir: filepath.Join(work, "src")}
			if how, err := w.Checkout(ctx, repo, good, 2, nil); err != nil || !strings.HasPrefix(how, "exported") {
				t.Fatalf("Checkout(good) = %q, %v", how, err)
			}
			held := listTree(t, w.Dir)
			_, err := w.Checkout(ctx, repo, bad, 2, nil)
			refused(t, "Checkout(bad)", err, elsewhere, before)
			if after := listTree(t, w.Dir); after != held {
				t.Errorf("the refused move changed the tree:\n%s\nwas:\n%s", after, held)
			}
		})
	}
}
