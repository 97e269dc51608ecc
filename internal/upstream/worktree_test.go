package upstream

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// twoCommits makes a repo whose second commit changes, adds and deletes files, flips an
// executable bit, turns a file into a folder and a folder into a file, and moves a symlink.
func twoCommits(t *testing.T) (repo string, a, b plumbing.Hash) {
	t.Helper()
	repo = t.TempDir()
	run(t, repo, "git", "init", "-q")
	write := func(rel, data string, mode os.FileMode) {
		p := filepath.Join(repo, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("Makefile", "SUBLEVEL = 117\n", 0o644)
	write("kernel/fork.c", "fork\n", 0o644)
	write("kernel/exit.c", "exit\n", 0o644)
	write("scripts/setlocalversion", "#!/bin/sh\n", 0o644)
	write("drivers/gone/a.c", "a\n", 0o644)
	write("drivers/gone/sub/b.c", "b\n", 0o644)
	write("becomes-dir", "file\n", 0o644)
	write("becomes-file/x.c", "x\n", 0o644)
	write("unchanged/deep/file.c", "same\n", 0o644)
	os.Symlink("kernel/fork.c", filepath.Join(repo, "link"))
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "commit", "-qm", "a")
	a = plumbing.NewHash(strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD")))

	write("Makefile", "SUBLEVEL = 118\n", 0o644)
	os.Remove(filepath.Join(repo, "kernel/exit.c"))
	write("kernel/new.c", "new\n", 0o644)
	os.Chmod(filepath.Join(repo, "scripts/setlocalversion"), 0o755)
	os.RemoveAll(filepath.Join(repo, "drivers/gone"))
	os.Remove(filepath.Join(repo, "becomes-dir"))
	write("becomes-dir/inside.c", "inside\n", 0o644)
	os.RemoveAll(filepath.Join(repo, "becomes-file"))
	write("becomes-file", "now a file\n", 0o644)
	os.Remove(filepath.Join(repo, "link"))
	os.Symlink("kernel/new.c", filepath.Join(repo, "link"))
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "commit", "-qm", "b")
	b = plumbing.NewHash(strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD")))
	return repo, a, b
}

// listTree is every path under dir with its type, permission bits and contents (a link's target).
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, "link %s -> %s\n", rel, target)
		case d.IsDir():
			fmt.Fprintf(&b, "dir %s\n", rel)
		default:
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "file %s %v %x\n", rel, info.Mode().Perm(), sha256.Sum256(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Moving a tree in place from one commit to another gives exactly a fresh export of the second,
// and leaves the files that did not change alone (same mtime), so make rebuilds only what changed.
func TestWorktreeMovesInPlace(t *testing.T) {
	ctx := context.Background()
	repo, a, b := twoCommits(t)
	want := t.TempDir() + "/b"
	if _, err := Export(ctx, filepath.Join(repo, ".git"), b, want, 2); err != nil {
		t.Fatal(err)
	}
	w := Worktree{Dir: filepath.Join(t.TempDir(), "src")}
	how, err := w.Checkout(ctx, filepath.Join(repo, ".git"), a, 2, nil)
	if err != nil || !strings.HasPrefix(how, "exported") {
		t.Fatalf("first Checkout = %q, %v; want an export", how, err)
	}
	if w.Holds() != a {
		t.Fatalf("Holds() = %s, want %s", w.Holds(), a)
	}
	old := time.Now().Add(-time.Hour)
	untouched := filepath.Join(w.Dir, "unchanged/deep/file.c")
	os.Chtimes(untouched, old, old)

	how, err = w.Checkout(ctx, filepath.Join(repo, ".git"), b, 2, nil)
	if err != nil || !strings.HasPrefix(how, "updated ") {
		t.Fatalf("Checkout(b) = %q, %v; want an update in place", how, err)
	}
	if got, exp := listTree(t, w.Dir), listTree(t, want); got != exp {
		t.Errorf("moved tree differs from a fresh export:\n got:\n%s\nwant:\n%s", got, exp)
	}
	if info, _ := os.Stat(untouched); !info.ModTime().Equal(old) {
		t.Errorf("an unchanged file was rewritten (mtime %v, want %v)", info.ModTime(), old)
	}
	if how, err := w.Checkout(ctx, filepath.Join(repo, ".git"), b, 2, nil); how != "reused" || err != nil {
		t.Errorf("Checkout(b) again = %q, %v; want reused", how, err)
	}
	// And back: the same tree as a fresh export of a.
	wantA := t.TempDir() + "/a"
	Export(ctx, filepath.Join(repo, ".git"), a, wantA, 2)
	if _, err := w.Checkout(ctx, filepath.Join(repo, ".git"), a, 2, nil); err != nil {
		t.Fatal(err)
	}
	if got, exp := listTree(t, w.Dir), listTree(t, wantA); got != exp {
		t.Errorf("tree moved back differs from a fresh export of a:\n got:\n%s\nwant:\n%s", got, exp)
	}
}

// A move cut short (here: half of a's paths already at b's state, the stamp saying so) is
// finished by the next Checkout, whatever commit that one asks for.
func TestWorktreeFinishesAnInterruptedMove(t *testing.T) {
	ctx := context.Background()
	repo, a, b := twoCommits(t)
	gitDir := filepath.Join(repo, ".git")
	w := Worktree{Dir: filepath.Join(t.TempDir(), "src")}
	if _, err := w.Checkout(ctx, gitDir, a, 2, nil); err != nil {
		t.Fatal(err)
	}
	// Part of the move to b: the Makefile and the new file, not the removals.
	os.WriteFile(filepath.Join(w.Dir, "Makefile"), []byte("SUBLEVEL = 118\n"), 0o644)
	os.WriteFile(filepath.Join(w.Dir, "kernel/new.c"), []byte("new\n"), 0o644)
	os.WriteFile(w.StampPath(), []byte(movingPrefix+a.String()+" "+b.String()+"\n"), 0o644)
	if !w.Holds().IsZero() {
		t.Fatalf("Holds() = %s during a move, want none", w.Holds())
	}
	for _, target := range []plumbing.Hash{a, b} {
		t.Run(target.String()[:7], func(t *testing.T) {
			os.WriteFile(w.StampPath(), []byte(movingPrefix+a.String()+" "+b.String()+"\n"), 0o644)
			if _, err := w.Checkout(ctx, gitDir, target, 2, nil); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(t.TempDir(), "want")
			Export(ctx, gitDir, target, want, 2)
			if got, exp := listTree(t, w.Dir), listTree(t, want); got != exp {
				t.Errorf("tree after finishing the move differs from a fresh export:\n got:\n%s\nwant:\n%s", got, exp)
			}
			if w.Holds() != target {
				t.Errorf("Holds() = %s, want %s", w.Holds(), target)
			}
		})
	}
}

// A tree whose commit the mirror no longer has (it was emptied and fetched again) is exported
// whole rather than trusted.
func TestWorktreeWithAnUnknownCommitIsExportedAgain(t *testing.T) {
	ctx := context.Background()
	repo, _, b := twoCommits(t)
	w := Worktree{Dir: filepath.Join(t.TempDir(), "src")}
	os.MkdirAll(w.Dir, 0o755)
	os.WriteFile(filepath.Join(w.Dir, "stray.c"), []byte("left over\n"), 0o644)
	os.WriteFile(w.StampPath(), []byte(strings.Repeat("ab", 20)+"\n"), 0o644)
	how, err := w.Checkout(ctx, filepath.Join(repo, ".git"), b, 2, nil)
	if err != nil || !strings.HasPrefix(how, "exported") {
		t.Fatalf("Checkout = %q, %v; want a whole export", how, err)
	}
	if _, err := os.Stat(filepath.Join(w.Dir, "stray.c")); !os.IsNotExist(err) {
		t.Errorf("a file of the unknown tree survived the export")
	}
}
