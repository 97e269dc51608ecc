package patch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/treepath"
)

// mailPatch wraps a diff as git format-patch would.
func mailPatch(diff string) string {
	return `From 4444444444444444444444444444444444444444 Mon Sep 17 00:00:00 2001
From: Mallory <mallory@example.invalid>
Date: Fri, 20 Nov 2026 10:00:00 +0000
Subject: [PATCH] innocent

---
` + diff + "-- \n2.39.5\n\n"
}

// escapePatches are the probes that wrote outside the work dir: each names the file it aims at,
// relative to the folder beside the tree (elsewhere), through a symlink "link" in the tree to it.
var escapePatches = []struct{ name, diff string }{
	{"dotdot new file", `diff --git a/../../elsewhere/x b/../../elsewhere/x
new file mode 100644
index 0000000..0000003
--- /dev/null
+++ b/../../elsewhere/x
@@ -0,0 +1 @@
+owned
`},
	{"rename out", `diff --git a/hello.c b/../../elsewhere/y
similarity index 100%
rename from hello.c
rename to ../../elsewhere/y
`},
	{"hunk through a symlinked folder", `diff --git a/link/file b/link/file
index 0000001..0000002 100644
--- a/link/file
+++ b/link/file
@@ -1 +1 @@
-outside
+owned
`},
	{"new file under a symlinked folder", `diff --git a/link/new b/link/new
new file mode 100644
index 0000000..0000003
--- /dev/null
+++ b/link/new
@@ -0,0 +1 @@
+owned
`},
	{".GIT", `diff --git a/.GIT/hooks/post-checkout b/.GIT/hooks/post-checkout
new file mode 100755
index 0000000..0000003
--- /dev/null
+++ b/.GIT/hooks/post-checkout
@@ -0,0 +1 @@
+owned
`},
	{".Git deep", `diff --git a/sub/.Git/config b/sub/.Git/config
new file mode 100644
index 0000000..0000003
--- /dev/null
+++ b/sub/.Git/config
@@ -0,0 +1 @@
+owned
`},
}

// escapeFixture is a tree at base/work/tree holding hello.c and a symlink link to base/elsewhere,
// which holds file.
func escapeFixture(t *testing.T) (root, elsewhere string) {
	t.Helper()
	base := t.TempDir()
	root, elsewhere = filepath.Join(base, "work", "tree"), filepath.Join(base, "elsewhere")
	for _, d := range []string{root, elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "hello.c"), []byte(helloC), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "file"), []byte("outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return root, elsewhere
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		data, _ := os.ReadFile(p)
		out = append(out, p+" "+string(data))
		return nil
	})
	return strings.Join(out, "\n")
}

// TestPatchesCannotLeaveTheTree: each probe is refused when applied, naming the patch, the file
// and the rule, and nothing outside the tree changes.
func TestPatchesCannotLeaveTheTree(t *testing.T) {
	for _, tt := range escapePatches {
		t.Run(tt.name, func(t *testing.T) {
			root, elsewhere := escapeFixture(t)
			before := listDir(t, elsewhere)
			pdir := t.TempDir()
			pfile := filepath.Join(pdir, "0001-innocent.patch")
			if err := os.WriteFile(pfile, []byte(mailPatch(tt.diff)), 0o644); err != nil {
				t.Fatal(err)
			}
			commits, err := Parse(Entry{Name: "0001-innocent.patch", Path: pfile})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Apply(root, commits)
			if err == nil {
				err = res.Write(root)
			}
			if !errors.Is(err, treepath.ErrUnsafePath) || !strings.Contains(err.Error(), "patch 0001-innocent.patch: ") {
				t.Errorf("Apply = %v, want a refusal (ErrUnsafePath) naming the patch", err)
			}
			if after := listDir(t, elsewhere); after != before {
				t.Errorf("outside the tree changed:\n%s\nwas:\n%s", after, before)
			}
			if _, err := os.Stat(filepath.Join(root, ".GIT")); err == nil {
				t.Errorf(".GIT was written")
			}
		})
	}
}

// TestWriteChecksEveryName: a Result made by hand is held to the same rule as one Apply made.
func TestWriteChecksEveryName(t *testing.T) {
	for _, name := range []string{"../../elsewhere/z", "link/z", "link/file", "link/new/z", "/abs", ".git/config"} {
		for _, del := range []bool{false, true} {
			root, elsewhere := escapeFixture(t)
			before := listDir(t, elsewhere)
			res := &Result{Changes: map[string]*Change{name: {Data: []byte("owned\n"), Mode: 0o644, Delete: del}}}
			if err := res.Write(root); !errors.Is(err, treepath.ErrUnsafePath) {
				t.Errorf("Write(%q, delete %v) = %v, want ErrUnsafePath", name, del, err)
			}
			if after := listDir(t, elsewhere); after != before {
				t.Errorf("Write(%q, delete %v) changed outside the tree:\n%s", name, del, after)
			}
		}
	}
}

// TestDirReaderDoesNotFollowSymlinks: a file reached through a symlinked folder is refused; a
// symlink itself reads as its target, as git stores it.
func TestDirReaderDoesNotFollowSymlinks(t *testing.T) {
	root, elsewhere := escapeFixture(t)
	if _, _, err := DirReader(root)("link/file"); !errors.Is(err, treepath.ErrUnsafePath) {
		t.Errorf("DirReader(link/file) = %v, want ErrUnsafePath", err)
	}
	data, mode, err := DirReader(root)("link")
	if err != nil || string(data) != elsewhere || mode&os.ModeSymlink == 0 {
		t.Errorf("DirReader(link) = %q, %v, %v, want its target", data, mode, err)
	}
}

// A series names its patches relative to its folder, and a refresh rewrites and removes them
// there: a name that leads out of the folder (dot-dot, absolute, through a symlinked folder) or a
// patch that is a symlink is refused, naming the series file and line, before anything is read.
func TestSeriesRefusesPatchesOutsideItsFolder(t *testing.T) {
	base := t.TempDir()
	dir, elsewhere := filepath.Join(base, "patches"), filepath.Join(base, "elsewhere")
	for _, d := range []string{filepath.Join(dir, "sub"), elsewhere} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(elsewhere, "x.patch"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "a.patch"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "b.patch"), nil, 0o644)
	os.Symlink(filepath.Join(elsewhere, "x.patch"), filepath.Join(dir, "link.patch"))
	os.Symlink("a.patch", filepath.Join(dir, "inside.patch"))
	os.Symlink(elsewhere, filepath.Join(dir, "linkdir"))
	for _, tc := range []struct{ line, want string }{
		{"../elsewhere/x.patch", `series:2: patch "../elsewhere/x.patch" has a ".." component`},
		{"sub/../../elsewhere/x.patch", `series:2: patch "sub/../../elsewhere/x.patch" has a ".." component`},
		{filepath.Join(elsewhere, "x.patch"), `series:2: patch "` + filepath.Join(elsewhere, "x.patch") + `" is absolute`},
		{"linkdir/x.patch", `series:2: patch "linkdir/x.patch" goes through "linkdir", which is a symlink or file`},
		{"link.patch", "series:2: patch link.patch is a symlink (to " + filepath.Join(elsewhere, "x.patch") + ")"},
		{"inside.patch", "series:2: patch inside.patch is a symlink (to a.patch)"},
	} {
		series := filepath.Join(dir, "series")
		os.WriteFile(series, []byte("a.patch\n"+tc.line+"\nsub/b.patch\n"), 0o644)
		_, err := ReadSeries(series)
		if !errors.Is(err, treepath.ErrUnsafePath) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadSeries(%q) = %v; want ErrUnsafePath, %q", tc.line, err, tc.want)
		}
	}
	entries, err := ReadSeries(filepath.Join(dir, "series")) // the last: inside.patch refused
	if err == nil {
		t.Fatalf("ReadSeries = %v", entries)
	}
	os.WriteFile(filepath.Join(dir, "series"), []byte("a.patch\nsub/b.patch\n"), 0o644)
	if entries, err := ReadSeries(filepath.Join(dir, "series")); err != nil || len(entries) != 2 || entries[1].Path != filepath.Join(dir, "sub", "b.patch") {
		t.Errorf("ReadSeries(a.patch, sub/b.patch) = %v, %v", entries, err)
	}
}
