package branch

import (
	"errors"
	"io"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/treepath"
)

// linkTree is a tree holding hello.c and a symlink link pointing out of the tree.
func linkTree(t *testing.T, s *memory.Storage) *object.Tree {
	t.Helper()
	hello, err := writeBlob(s, []byte("int main(void) { return 0; }\n"))
	if err != nil {
		t.Fatal(err)
	}
	target, err := writeBlob(s, []byte("../../elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	tree := &object.Tree{Entries: []object.TreeEntry{
		{Name: "hello.c", Mode: filemode.Regular, Hash: hello},
		{Name: "link", Mode: filemode.Symlink, Hash: target},
	}}
	obj := s.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	got, err := object.GetTree(s, h)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func commitCount(t *testing.T, s *memory.Storage) int {
	t.Helper()
	iter, err := s.IterEncodedObjects(plumbing.CommitObject)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, err := iter.Next(); errors.Is(err, io.EOF) {
			return n
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// TestBranchRefusesUnsafeNames: no commit is made whose tree would hold a name breaking the rule,
// or one under a symlink (git apply refuses that; the editor used to turn the symlink into a
// folder), and reading through the symlink is refused for what it is.
func TestBranchRefusesUnsafeNames(t *testing.T) {
	s := memory.NewStorage()
	tree := linkTree(t, s)
	if _, _, err := Reader(s, tree)("link/file"); !errors.Is(err, treepath.ErrUnsafePath) {
		t.Errorf("Reader(link/file) = %v, want ErrUnsafePath", err)
	}
	if data, _, err := Reader(s, tree)("link"); err != nil || string(data) != "../../elsewhere" {
		t.Errorf("Reader(link) = %q, %v, want its target", data, err)
	}
	for _, name := range []string{"../../elsewhere/x", "a/../../x", "/etc/x", ".GIT/config", "a/.Git/x", "a//b", "link/new", "link/file", "hello.c/x"} {
		for _, del := range []bool{false, true} {
			changes := map[string]*patch.Change{name: {Data: []byte("owned\n"), Mode: 0o644, Delete: del}}
			if _, _, err := Commit(s, plumbing.ZeroHash, tree.Hash, changes, Committer, Committer, "evil\n"); !errors.Is(err, treepath.ErrUnsafePath) {
				t.Errorf("Commit(%q, delete %v) = %v, want ErrUnsafePath", name, del, err)
			}
		}
	}
	if n := commitCount(t, s); n != 0 {
		t.Errorf("%d commits were made, want none", n)
	}
}
