package patch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

const modifyPatch = `From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Ada Lovelace <ada@example.invalid>
Date: Fri, 20 Nov 2026 10:00:00 +0000
Subject: [PATCH] hello: greet WSL

Say hello to WSL.
---
 hello.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/hello.c b/hello.c
index 0000001..0000002 100644
--- a/hello.c
+++ b/hello.c
@@ -1,5 +1,5 @@
 #include <stdio.h>
 int main(void)
 {
-	puts("hello");
+	puts("hello, WSL");
 }
-- 
2.39.5

`

const twoPatches = `From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: Ada Lovelace <ada@example.invalid>
Date: Fri, 20 Nov 2026 11:00:00 +0000
Subject: [PATCH 1/2] Microsoft: add notes

---
 Microsoft/NOTES | 1 +
 1 file changed, 1 insertion(+)

diff --git a/Microsoft/NOTES b/Microsoft/NOTES
new file mode 100644
index 0000000..0000003
--- /dev/null
+++ b/Microsoft/NOTES
@@ -0,0 +1 @@
+notes
-- 
2.39.5


From 3333333333333333333333333333333333333333 Mon Sep 17 00:00:00 2001
From: Grace Hopper <grace@example.invalid>
Date: Fri, 20 Nov 2026 12:00:00 +0000
Subject: [PATCH 2/2] Microsoft: extend notes

---
 Microsoft/NOTES | 1 +
 1 file changed, 1 insertion(+)

diff --git a/Microsoft/NOTES b/Microsoft/NOTES
index 0000003..0000004 100644
--- a/Microsoft/NOTES
+++ b/Microsoft/NOTES
@@ -1 +1,2 @@
 notes
+more notes
-- 
2.39.5

`

const helloC = "#include <stdio.h>\nint main(void)\n{\n\tputs(\"hello\");\n}\n"

func setupTree(t *testing.T, patches map[string]string, series string) (root string, entries []Entry) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(root, 0o755)
	if err := os.WriteFile(filepath.Join(root, "hello.c"), []byte(helloC), 0o644); err != nil {
		t.Fatal(err)
	}
	pdir := t.TempDir()
	for name, body := range patches {
		if err := os.WriteFile(filepath.Join(pdir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seriesPath := filepath.Join(pdir, "series")
	if err := os.WriteFile(seriesPath, []byte(series), 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadSeries(seriesPath)
	if err != nil {
		t.Fatalf("ReadSeries: %v", err)
	}
	return root, entries
}

func TestApplyKeepsAuthorsAndWritesAtomically(t *testing.T) {
	root, entries := setupTree(t, map[string]string{"0001-hello.patch": modifyPatch, "0002-notes.patch": twoPatches},
		"# SPDX-License-Identifier: GPL-2.0-only\n0001-hello.patch -p1\n\n0002-notes.patch # two messages\n")
	commits, err := ParseAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != 3 {
		t.Fatalf("ParseAll = %d commits, want 3 (the second file is a two-message mbox)", len(commits))
	}
	for i, want := range []struct{ subject, author string }{
		{"hello: greet WSL", "Ada Lovelace"},
		{"Microsoft: add notes", "Ada Lovelace"},
		{"Microsoft: extend notes", "Grace Hopper"},
	} {
		if c := commits[i]; c.Subject() != want.subject || c.Header.Author.Name != want.author {
			t.Errorf("commit %d = %q by %q, want %q by %q", i, c.Subject(), c.Header.Author.Name, want.subject, want.author)
		}
	}
	res, err := Apply(root, commits)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "hello.c")); string(got) != helloC {
		t.Fatalf("Apply touched the tree before Write")
	}
	if err := res.Write(root); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "hello.c")); !strings.Contains(string(got), `puts("hello, WSL");`) {
		t.Errorf("hello.c = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "Microsoft/NOTES")); string(got) != "notes\nmore notes\n" {
		t.Errorf("Microsoft/NOTES = %q, want both patches applied in order", got)
	}
	left, _ := filepath.Glob(filepath.Join(root, "*.tmp-*"))
	if len(left) > 0 {
		t.Errorf("Write left %v", left)
	}
}

func TestFailedHunkSaysWhatAndWhereAndTouchesNothing(t *testing.T) {
	root, entries := setupTree(t, map[string]string{"0001-hello.patch": modifyPatch}, "0001-hello.patch\n")
	changed := strings.Replace(helloC, `puts("hello");`, `printf("hi\n");`, 1)
	os.WriteFile(filepath.Join(root, "hello.c"), []byte(changed), 0o644)
	commits, err := ParseAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(root, commits)
	if err == nil {
		t.Fatal("Apply succeeded on a tree where the hunk's lines changed")
	}
	for _, want := range []string{
		"patch 0001-hello.patch: hello.c: hunk 1 (@@ -1,5 +1,5 @@) does not apply at line 1",
		"expected:\n  #include <stdio.h>\n  int main(void)\n  {\n  \tputs(\"hello\");\n  }\n",
		"found:\n  #include <stdio.h>\n  int main(void)\n  {\n  \tprintf(\"hi\\n\");\n  }\n",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "hello.c")); string(got) != changed {
		t.Errorf("a failed Apply changed the tree")
	}
}

func TestApplyErrors(t *testing.T) {
	missing := strings.ReplaceAll(modifyPatch, "hello.c", "gone.c")
	root, entries := setupTree(t, map[string]string{"0001-gone.patch": missing}, "0001-gone.patch\n")
	commits, err := ParseAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(root, commits); err == nil || !strings.Contains(err.Error(), "patch 0001-gone.patch: gone.c: file does not exist in the tree") {
		t.Errorf("Apply(missing file) = %v", err)
	}
	twice := twoPatches[:strings.Index(twoPatches, "\n\nFrom 3333")]
	root, entries = setupTree(t, map[string]string{"a.patch": twice, "b.patch": twice}, "a.patch\nb.patch\n")
	commits, _ = ParseAll(entries)
	if _, err := Apply(root, commits); err == nil || !strings.Contains(err.Error(), "patch b.patch: Microsoft/NOTES: creates a file that already exists") {
		t.Errorf("Apply(new file twice) = %v", err)
	}
	noHeader := modifyPatch[strings.Index(modifyPatch, "diff --git"):]
	_, entries = setupTree(t, map[string]string{"bare.patch": noHeader}, "bare.patch\n")
	if _, err := ParseAll(entries); err == nil || !strings.Contains(err.Error(), "patch bare.patch: message 1 has no From: or Subject:") {
		t.Errorf("ParseAll(no header) = %v", err)
	}
}

func TestReadSeriesErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.patch"), nil, 0o644)
	for _, tc := range []struct{ series, want string }{
		{"a.patch\nb.patch\n", "series:2: patch b.patch does not exist"},
		{"a.patch -p0\n", "series:1: a.patch: option \"-p0\" is not supported"},
		{"a.patch\n#\na.patch\n", "series:3: a.patch is already listed on line 1"},
	} {
		path := filepath.Join(dir, "series")
		os.WriteFile(path, []byte(tc.series), 0o644)
		if _, err := ReadSeries(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadSeries(%q) = %v, want %q", tc.series, err, tc.want)
		}
	}
}

// Each call of FuzzReadSeries writes a series folder: see testtool.RunMinimizingBriefly. Before
// it, -fuzz stood still for 15 s and more whenever an input found new coverage.
func TestMain(m *testing.M) { os.Exit(testtool.RunMinimizingBriefly(m, 100)) }

func FuzzReadSeries(f *testing.F) {
	f.Add("a.patch\n# c\n\nb.patch -p1\n")
	f.Fuzz(func(t *testing.T, series string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.patch"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "b.patch"), nil, 0o644)
		path := filepath.Join(dir, "series")
		os.WriteFile(path, []byte(series), 0o644)
		entries, err := ReadSeries(path)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Line < 1 || e.Name == "" || strings.HasPrefix(e.Name, "#") || !strings.HasPrefix(e.Path, dir+string(filepath.Separator)) {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

const twoHunks = `From 4444444444444444444444444444444444444444 Mon Sep 17 00:00:00 2001
From: Ada Lovelace <ada@example.invalid>
Date: Fri, 20 Nov 2026 10:00:00 +0000
Subject: [PATCH] body: two changes

---
diff --git a/body.c b/body.c
--- a/body.c
+++ b/body.c
@@ -2,3 +2,3 @@
 b
-c
+C
 d
@@ -8,3 +8,3 @@
 h
-i
+I
 j
`

const bodyC = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"

func applyTo(t *testing.T, patches map[string]string, series string, files map[string]string) (string, *Result, error) {
	t.Helper()
	root, entries := setupTree(t, patches, series)
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commits, err := ParseAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(root, commits)
	return root, res, err
}

// A hunk whose context moved applies at its new place, with the offset reported, as git apply
// and patch -F0 do; and the result is what git apply itself makes of the same patch.
func TestHunksApplyAtAnOffset(t *testing.T) {
	for _, tc := range []struct {
		name, patch, file, body string
		offsets                 []string
		want                    string
	}{
		{"both hunks moved", twoHunks, "body.c", "0\n0\n" + bodyC,
			[]string{"body.c: hunk 1 applied at offset +2 lines", "body.c: hunk 2 applied at offset +2 lines"}, "0\n0\na\nb\nC\nd\ne\nf\ng\nh\nI\nj\nk\n"},
		{"lines removed between", twoHunks, "body.c", "a\nb\nc\nd\ng\nh\ni\nj\nk\n",
			[]string{"body.c: hunk 2 applied at offset -2 lines"}, "a\nb\nC\nd\ng\nh\nI\nj\nk\n"},
		{"nearest of two matches", twoHunks, "body.c", "b\nc\nd\nx\n" + bodyC,
			[]string{"body.c: hunk 1 applied at offset -1 lines", "body.c: hunk 2 applied at offset +4 lines"}, "b\nC\nd\nx\na\nb\nc\nd\ne\nf\ng\nh\nI\nj\nk\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := applyTo(t, map[string]string{"p.patch": tc.patch}, "p.patch\n", map[string]string{tc.file: tc.body})
			if err != nil {
				t.Fatalf("Apply = %v", err)
			}
			got := strings.Join(res.Offsets, "\n")
			for _, want := range tc.offsets {
				if !strings.Contains(got, want) {
					t.Errorf("offsets = %q, want %q", got, want)
				}
			}
			if len(res.Offsets) != len(tc.offsets) {
				t.Errorf("offsets = %q, want %d of them", got, len(tc.offsets))
			}
			data := string(res.Changes[tc.file].Data)
			if tc.want != "" && data != tc.want {
				t.Errorf("%s =\n%q\nwant\n%q", tc.file, data, tc.want)
			}
			// git apply on a copy must agree.
			if _, err := exec.LookPath("git"); err == nil {
				patchPath := filepath.Join(t.TempDir(), "p.patch")
				os.WriteFile(patchPath, []byte(tc.patch), 0o644)
				dir := t.TempDir()
				os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644)
				ga := exec.Command("git", "apply", "-p1", patchPath)
				ga.Dir = dir
				if out, err := ga.CombinedOutput(); err != nil {
					t.Fatalf("git apply: %v\n%s", err, out)
				}
				if theirs, _ := os.ReadFile(filepath.Join(dir, tc.file)); string(theirs) != data {
					t.Errorf("git apply makes\n%q\nwe make\n%q", theirs, data)
				}
			}
		})
	}
}

// As in git apply, a hunk stated at line 1 must match at the top of the file: lines added above
// it make it fail, not move.
func TestHunkAtTheTopDoesNotMove(t *testing.T) {
	_, _, err := applyTo(t, map[string]string{"p.patch": modifyPatch}, "p.patch\n", map[string]string{"hello.c": "/* new */\n" + helloC})
	if err == nil || !strings.Contains(err.Error(), "hunk 1 (@@ -1,5 +1,5 @@) does not apply at line 1") {
		t.Errorf("Apply = %v", err)
	}
}

func TestUpstreamedPatchesAreSkipped(t *testing.T) {
	// The release already holds the change of the first patch (hello.c greets WSL) and the file the
	// second creates, with its content; the third still applies.
	notes := twoPatches[:strings.Index(twoPatches, "\n\nFrom 3333")]
	extend := twoPatches[strings.Index(twoPatches, "From 3333"):]
	upstreamHello := strings.Replace(helloC, `puts("hello")`, `puts("hello, WSL")`, 1)
	_, res, err := applyTo(t, map[string]string{"1.patch": modifyPatch, "2.patch": notes, "3.patch": extend},
		"1.patch\n2.patch\n3.patch\n", map[string]string{"hello.c": upstreamHello, "Microsoft/NOTES": "notes\n"})
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, c := range res.Upstreamed {
		skipped = append(skipped, c.Entry.Name)
	}
	if strings.Join(skipped, " ") != "1.patch 2.patch" || len(res.Commits) != 1 || res.Commits[0].Entry.Name != "3.patch" {
		t.Errorf("upstreamed %v, applied %d", skipped, len(res.Commits))
	}
	if got := string(res.Changes["Microsoft/NOTES"].Data); got != "notes\nmore notes\n" {
		t.Errorf("NOTES = %q", got)
	}
	if len(res.Steps) != 1 || len(res.Steps[0].Changes) != 1 {
		t.Errorf("steps = %+v", res.Steps)
	}
	// A patch that neither applies nor is upstream still fails, naming itself.
	_, _, err = applyTo(t, map[string]string{"1.patch": modifyPatch}, "1.patch\n", map[string]string{"hello.c": "int main(void) { return 0; }\n"})
	if err == nil || !strings.Contains(err.Error(), "patch 1.patch: hello.c: hunk 1") {
		t.Errorf("a patch that does not apply: %v", err)
	}
}

// After a rebase onto a tree where the first patch is upstream and the hunks of another moved,
// Refresh drops the first from the series and moves the other's hunk headers; the refreshed
// series then applies with no offsets and nothing upstream, to the same result.
func TestRefreshRewritesTheSeries(t *testing.T) {
	upstreamHello := strings.Replace(helloC, `puts("hello")`, `puts("hello, WSL")`, 1)
	files := map[string]string{"hello.c": upstreamHello, "body.c": "0\n0\n" + bodyC}
	root, entries := setupTree(t, map[string]string{"1.patch": modifyPatch, "2.patch": twoHunks}, "# ours\n1.patch\n2.patch\n")
	for name, body := range files {
		os.WriteFile(filepath.Join(root, name), []byte(body), 0o644)
	}
	commits, err := ParseAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(root, commits)
	if err != nil {
		t.Fatal(err)
	}
	series := entries[0].Series
	ref, err := Refresh(series, entries, commits, res, "v6.12.118")
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(ref.Notes, "\n")
	if !strings.Contains(notes, `1.patch: "hello: greet WSL" is upstream in v6.12.118: dropped`) || !strings.Contains(notes, "2.patch: ") {
		t.Errorf("notes:\n%s", notes)
	}
	if err := ref.Write(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entries[0].Path); !os.IsNotExist(err) {
		t.Errorf("the upstreamed patch file is still there: %v", err)
	}
	text, _ := os.ReadFile(series)
	if string(text) != "# ours\n# upstream in v6.12.118: 1.patch\n2.patch\n" {
		t.Errorf("series =\n%s", text)
	}
	entries2, err := ReadSeries(series)
	if err != nil {
		t.Fatal(err)
	}
	commits2, _ := ParseAll(entries2)
	res2, err := Apply(root, commits2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Offsets) != 0 || len(res2.Upstreamed) != 0 || string(res2.Changes["body.c"].Data) != string(res.Changes["body.c"].Data) {
		t.Errorf("the refreshed series: offsets %q, upstreamed %d", res2.Offsets, len(res2.Upstreamed))
	}
	again, _ := Refresh(series, entries2, commits2, res2, "v6.12.118")
	if again.Changed() {
		t.Errorf("a second refresh changes %v", again.Files)
	}
}

// A hunk whose context changed applies only when fuzz is allowed, where GNU patch -F puts it,
// and is reported; without fuzz the error says so.
func TestFuzzOnlyWhenAllowed(t *testing.T) {
	body := strings.Replace(bodyC, "b\n", "B changed\n", 1) // the first hunk's leading context
	root, entries := setupTree(t, map[string]string{"p.patch": twoHunks}, "p.patch\n")
	os.WriteFile(filepath.Join(root, "body.c"), []byte(body), 0o644)
	commits, err := ParseAll(entries)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(root, commits); err == nil || !strings.Contains(err.Error(), "hunk 1") || !strings.Contains(err.Error(), "(no fuzz)") {
		t.Fatalf("without fuzz: %v", err)
	}
	res, err := ApplyFuzz(DirReader(root), commits, 1)
	if err != nil {
		t.Fatalf("with fuzz 1: %v", err)
	}
	if notes := strings.Join(res.Offsets, "\n"); !strings.Contains(notes, "body.c: hunk 1 applied WITH FUZZ 1") || strings.Contains(notes, "hunk 2 applied WITH FUZZ") {
		t.Errorf("notes: %q", notes)
	}
	gnu := t.TempDir()
	os.WriteFile(filepath.Join(gnu, "body.c"), []byte(body), 0o644)
	testtool.Need(t, "patch")
	cmd := exec.Command("patch", "-s", "-p1", "-F1", "-i", entries[0].Path)
	cmd.Dir = gnu
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GNU patch -F1: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join(gnu, "body.c"))
	if got := string(res.Changes["body.c"].Data); got != string(want) {
		t.Errorf("with fuzz 1:\n%q\nGNU patch -F1:\n%q", got, want)
	}
	if _, err := ApplyFuzz(DirReader(root), commits, 0); err == nil {
		t.Error("fuzz 0 applied a changed context")
	}
}
