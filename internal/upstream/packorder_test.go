package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A pack made by git with deep delta chains, plus loose objects from a later commit: the
// pack-order export must give every file exactly as git has it.
func TestExportDeltifiedPackAndLooseObjects(t *testing.T) {
	needTool(t, "git")
	repo := t.TempDir()
	run(t, repo, "git", "init", "-q", "-b", "main")
	run(t, repo, "git", "config", "gc.auto", "0")
	lines := make([]string, 400)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %d of a file that changes a little in every commit", i)
	}
	for c := 0; c < 30; c++ {
		lines[(c*37)%len(lines)] = fmt.Sprintf("changed in commit %d", c)
		for f := 0; f < 5; f++ {
			path := filepath.Join(repo, "drivers", fmt.Sprintf("f%d.c", f))
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, []byte(fmt.Sprintf("/* file %d */\n%s\n", f, strings.Join(lines, "\n"))), 0o644)
		}
		run(t, repo, "git", "add", "-A")
		run(t, repo, "git", "commit", "-q", "-m", fmt.Sprintf("c%d", c))
	}
	run(t, repo, "git", "repack", "-a", "-d", "-q", "--window=10", "--depth=50")
	if out := run(t, repo, "sh", "-c", "git verify-pack -v .git/objects/pack/*.idx | grep -c ' blob .* [0-9a-f]\\{40\\}$' || true"); strings.TrimSpace(out) == "0" {
		t.Fatalf("the fixture pack has no deltified blobs; the test would not exercise deltas")
	}
	// A later commit leaves loose objects, and an executable and a symlink.
	os.WriteFile(filepath.Join(repo, "drivers/new.c"), []byte("new\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("drivers/f0.c", filepath.Join(repo, "link"))
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "commit", "-q", "-m", "last")
	head := strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD"))

	dest := filepath.Join(t.TempDir(), "src")
	n, err := Export(context.Background(), filepath.Join(repo, ".git"), plumbing.NewHash(head), dest, 2)
	if err != nil || n != 8 {
		t.Fatalf("Export = %d files, %v; want 8", n, err)
	}
	for _, name := range strings.Fields(run(t, repo, "git", "ls-tree", "-r", "--name-only", "HEAD")) {
		want := run(t, repo, "git", "cat-file", "blob", "HEAD:"+name)
		var got []byte
		if name == "link" {
			target, _ := os.Readlink(filepath.Join(dest, name))
			got = []byte(target)
		} else {
			got, _ = os.ReadFile(filepath.Join(dest, name))
		}
		if string(got) != want {
			t.Errorf("%s differs from git's blob", name)
		}
	}
	if info, _ := os.Stat(filepath.Join(dest, "run.sh")); info == nil || info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh lost its executable bit")
	}
}

// A cancelled export (Ctrl-C) is a cancellation, not a damaged mirror: the pipeline repairs a
// damaged mirror by emptying it, which a Ctrl-C must never cause.
func TestCancelledExportIsNotDamage(t *testing.T) {
	upstream := twoReleases(t)
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	f, err := m.FetchTag(context.Background(), release("6.12.2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tagged, _ := m.Resolve(f.Ref)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := filepath.Join(t.TempDir(), "src")
	_, err = Export(ctx, m.Dir, tagged.Commit.Hash, dest, 2)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrDamaged) {
		t.Errorf("Export with a cancelled context = %v; want context.Canceled, not ErrDamaged", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("a cancelled export left %s", dest)
	}
}
