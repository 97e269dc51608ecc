package treepath

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"Makefile", true},
		{"arch/x86/Kconfig", true},
		{".gitignore", true},
		{"a/.github/x", true},
		{"...", true},
		{"", false},
		{"/etc/passwd", false},
		{"../x", false},
		{"a/../../x", false},
		{"a/..", false},
		{"./a", false},
		{"a//b", false},
		{"a/", false},
		{".git", false},
		{".GIT/config", false},
		{"a/.Git/hooks/x", false},
		{"a\x00b", false},
	} {
		err := Check(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Check(%q) = %v, which is not ErrUnsafePath", tt.name, err)
		}
	}
	if err := CheckEntry("a/b"); err == nil {
		t.Errorf(`CheckEntry("a/b") = nil, want a refusal`)
	}
}

// TestSetAnyOrder: a symlink and a name under it are refused whichever comes first.
func TestSetAnyOrder(t *testing.T) {
	type add struct {
		name string
		kind Kind
	}
	for _, tt := range []struct {
		what string
		adds []add
	}{
		{"symlink first", []add{{"evil", Symlink}, {"evil/x", File}}},
		{"under first", []add{{"evil/x", File}, {"evil", Symlink}}},
		{"deep under first", []add{{"evil/a/b", File}, {"evil/a", Dir}, {"evil", Symlink}}},
		{"folder then symlink", []add{{"evil", Dir}, {"evil", Symlink}}},
		{"under a file", []add{{"f", File}, {"f/x", File}}},
		{"duplicate", []add{{"a/b", File}, {"a/b", File}}},
	} {
		var s Set
		var err error
		for _, a := range tt.adds {
			if err = s.Add(a.name, a.kind); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%s: Set.Add = %v, want ErrUnsafePath", tt.what, err)
		}
	}
	var s Set
	for _, n := range []string{"a/b", "a", "a/c", "b"} {
		kind := File
		if n == "a" {
			kind = Dir
		}
		if err := s.Add(n, kind); err != nil {
			t.Errorf("Set.Add(%q) = %v, want nil", n, err)
		}
	}
}

// TestJoinRefusesSymlinkedFolders: a symlink in the tree, pointing out of it, is never gone through.
func TestJoinRefusesSymlinkedFolders(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Join(root, "link/secret"); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("Join(link/secret) = %v, want ErrUnsafePath", err)
	}
	if _, err := MkdirAll(root, "link/new/x"); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("MkdirAll(link/new/x) = %v, want ErrUnsafePath", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Errorf("MkdirAll made a folder outside the tree")
	}
	if _, _, err := ReadFile(root, "link/secret"); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("ReadFile(link/secret) = %v, want ErrUnsafePath", err)
	}
	data, mode, err := ReadFile(root, "link")
	if err != nil || string(data) != outside || mode&os.ModeSymlink == 0 {
		t.Errorf("ReadFile(link) = %q, %v, %v, want the link's target, a symlink", data, mode, err)
	}
	if p, err := MkdirAll(root, "a/b/c"); err != nil || p != filepath.Join(root, "a", "b", "c") {
		t.Errorf("MkdirAll(a/b/c) = %q, %v", p, err)
	}
}

// FuzzCheck: a name Check accepts stays inside the tree, as written, and has no git folder in it.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"Makefile", "a/b/c", "../x", "/x", "a/./b", "a//b", ".GIT", "x/.gIt/y", "a\x00", "..", "a/..b", "..a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := Check(name)
		if err != nil {
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("Check(%q) = %v, not ErrUnsafePath", name, err)
			}
			return
		}
		if path.Clean(name) != name || path.IsAbs(name) || name == "." {
			t.Fatalf("Check(%q) = nil, but it is not a clean relative name", name)
		}
		rel, err := filepath.Rel("/root", filepath.Join("/root", name))
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Fatalf("Check(%q) = nil, but it leaves the tree (%q)", name, rel)
		}
		for c := range strings.SplitSeq(name, "/") {
			if strings.EqualFold(c, ".git") {
				t.Fatalf("Check(%q) = nil, but it has a .git component", name)
			}
		}
		var s Set
		if err := s.Add(name, File); err != nil {
			t.Fatalf("Set.Add(%q) = %v after Check = nil", name, err)
		}
		if err := s.Add(name, File); err == nil {
			t.Fatalf("Set.Add(%q) twice = nil", name)
		}
	})
}
