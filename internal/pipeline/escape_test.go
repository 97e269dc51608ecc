package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wslkernel/wslkernel/internal/treepath"
)

// escapes are the probes whose patches wrote outside the work dir in tarball mode (and failed
// in git mode with misleading errors, or turned the symlink into a folder): each file they aim
// at is named OWNED. linkdir is a symlink of the signed tree to a folder outside it.
var escapes = map[string]string{
	"dotdot new file": `diff --git a/../../OWNED b/../../OWNED
new file mode 100644
--- /dev/null
+++ b/../../OWNED
@@ -0,0 +1 @@
+owned
`,
	"rename out": `diff --git a/init/main.c b/../../OWNED
similarity index 100%
rename from init/main.c
rename to ../../OWNED
`,
	"hunk through a symlinked folder": `diff --git a/linkdir/OWNED b/linkdir/OWNED
--- a/linkdir/OWNED
+++ b/linkdir/OWNED
@@ -1 +1 @@
-outside
+owned
`,
	"new file under a symlinked folder": `diff --git a/linkdir/new/OWNED b/linkdir/new/OWNED
new file mode 100644
--- /dev/null
+++ b/linkdir/new/OWNED
@@ -0,0 +1 @@
+owned
`,
	".GIT": `diff --git a/.GIT/OWNED b/.GIT/OWNED
new file mode 100644
--- /dev/null
+++ b/.GIT/OWNED
@@ -0,0 +1 @@
+owned
`,
}

// TestPatchesCannotLeaveTheWorkDir runs each probe in both modes: the patch stage refuses it,
// naming the patch, the file and the rule; nothing is written anywhere (no file or folder
// touched outside, none written in), and in git mode no commit holding it is on the branch.
func TestPatchesCannotLeaveTheWorkDir(t *testing.T) {
	for _, mode := range []string{"git", "tarball"} {
		for name, diff := range escapes {
			t.Run(mode+"/"+name, func(t *testing.T) {
				base := t.TempDir()
				elsewhere := filepath.Join(base, "elsewhere")
				os.MkdirAll(elsewhere, 0o755)
				os.WriteFile(filepath.Join(elsewhere, "OWNED"), []byte("outside\n"), 0o644)
				korg, key := upstreamFixtureLinks(t, map[string]string{"linkdir": elsewhere})
				extra := ""
				if mode == "tarball" {
					publishTarball(t, korg, key)
					extra = ", source: tarball, tarballs: " + korg
				}
				patch := strings.Replace(addNotes, addNotes[strings.Index(addNotes, "diff --git"):], diff, 1)
				l := lineWith(t, korg, extra, map[string]string{"frag.config": "", "series": "0001-innocent.patch\n", "0001-innocent.patch": patch})
				work := filepath.Join(base, "work")
				_, m, _, err := runLine(t, l, work)
				if !errors.Is(err, treepath.ErrUnsafePath) || !strings.Contains(err.Error(), "patch 0001-innocent.patch: ") {
					t.Fatalf("Run = %v, want the patch refused (ErrUnsafePath) by name", err)
				}
				if m.Status != "failed" {
					t.Errorf("manifest status %q", m.Status)
				}
				for _, dir := range []string{base, korg} {
					filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
						if err == nil && (d.Name() == "OWNED" && p != filepath.Join(elsewhere, "OWNED") || d.Name() == "new" || d.Name() == ".GIT") {
							t.Errorf("written: %s", p)
						}
						return nil
					})
				}
				if data, _ := os.ReadFile(filepath.Join(elsewhere, "OWNED")); string(data) != "outside\n" {
					t.Errorf("the file outside now holds %q", data)
				}
				if mode == "git" {
					noBranchCommits(t, filepath.Join(work, "cache"))
				}
			})
		}
	}
}

// noBranchCommits checks that the mirror under cache has no profile branch ref and no commit but
// the release's: a refused series leaves nothing behind.
func noBranchCommits(t *testing.T, cache string) {
	t.Helper()
	mirrors, _ := filepath.Glob(filepath.Join(cache, "mirrors", "*.git"))
	if len(mirrors) != 1 {
		t.Fatalf("mirrors: %v", mirrors)
	}
	repo, err := git.PlainOpen(mirrors[0])
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := repo.References()
	refs.ForEach(func(r *plumbing.Reference) error {
		if strings.HasPrefix(r.Name().String(), "refs/wslkernel/") {
			t.Errorf("branch %s left at %s", r.Name(), r.Hash())
		}
		return nil
	})
	iter, _ := repo.Storer.IterEncodedObjects(plumbing.CommitObject)
	n := 0
	iter.ForEach(func(plumbing.EncodedObject) error { n++; return nil })
	if n != 1 {
		t.Errorf("the mirror holds %d commits, want only the release's", n)
	}
}

// TestDefconfigIsNotWrittenThroughASymlink: the branch stage writes the generated defconfig into
// upstream's tree, where arch/x86/configs may be a symlink out of it.
func TestDefconfigIsNotWrittenThroughASymlink(t *testing.T) {
	base := t.TempDir()
	elsewhere := filepath.Join(base, "elsewhere")
	os.MkdirAll(elsewhere, 0o755)
	korg, _ := upstreamFixtureLinks(t, map[string]string{"arch/x86/configs": elsewhere})
	l := line(t, korg, map[string]string{"frag.config": "", "series": ""})
	_, _, _, err := runLine(t, l, filepath.Join(base, "work"))
	if !errors.Is(err, treepath.ErrUnsafePath) || !strings.Contains(err.Error(), "arch/x86/configs") {
		t.Errorf("Run = %v, want the defconfig write refused (ErrUnsafePath)", err)
	}
	if left, _ := os.ReadDir(elsewhere); len(left) != 0 {
		t.Errorf("written outside the tree: %v", left)
	}
}
