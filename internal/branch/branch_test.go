package branch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/wslkernel/wslkernel/internal/patch"
)

const series = `From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Ada Lovelace <ada@example.invalid>
Date: Fri, 20 Nov 2026 10:00:00 +0000
Subject: [PATCH 1/2] hello: greet WSL

Say hello to WSL, and add notes
in a new folder.
---
 Microsoft/NOTES | 1 +
 src/hello.c     | 2 +-
 2 files changed, 2 insertions(+), 1 deletion(-)

diff --git a/Microsoft/NOTES b/Microsoft/NOTES
new file mode 100644
index 0000000..0000003
--- /dev/null
+++ b/Microsoft/NOTES
@@ -0,0 +1 @@
+notes
diff --git a/src/hello.c b/src/hello.c
index 0000001..0000002 100644
--- a/src/hello.c
+++ b/src/hello.c
@@ -1,4 +1,4 @@
 int main(void)
 {
-	return 0;
+	return 42;
 }
-- 
2.39.5


From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: Grace Hopper <grace@example.invalid>
Date: Sat, 21 Nov 2026 12:00:00 +0100
Subject: [PATCH 2/2] scripts: drop the old one, make run.sh executable

---
 scripts/old.sh | 1 -
 scripts/run.sh | 0
 2 files changed, 1 deletion(-)
 delete mode 100644 scripts/old.sh
 mode change 100644 => 100755 scripts/run.sh

diff --git a/scripts/old.sh b/scripts/old.sh
deleted file mode 100644
index 0000004..0000000
--- a/scripts/old.sh
+++ /dev/null
@@ -1 +0,0 @@
-old
diff --git a/scripts/run.sh b/scripts/run.sh
old mode 100644
new mode 100755
-- 
2.39.5

`

func run(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPatchesCommitLikeGitAm commits a series with go-git objects and with git am on the same
// base; the commit hashes must be equal, so trees, authors, dates and messages all are.
func TestPatchesCommitLikeGitAm(t *testing.T) {
	dir := t.TempDir()
	env := []string{"GIT_AUTHOR_NAME=Linus", "GIT_AUTHOR_EMAIL=l@example.invalid", "GIT_AUTHOR_DATE=2026-11-01T00:00:00Z",
		"GIT_COMMITTER_NAME=Linus", "GIT_COMMITTER_EMAIL=l@example.invalid", "GIT_COMMITTER_DATE=2026-11-01T00:00:00Z"}
	run(t, dir, env, "init", "-q", "-b", "main")
	for name, body := range map[string]string{"src/hello.c": "int main(void)\n{\n\treturn 0;\n}\n", "scripts/old.sh": "old\n", "scripts/run.sh": "run\n", "README": "readme\n"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	run(t, dir, env, "add", ".")
	run(t, dir, env, "commit", "-q", "-m", "base")
	pfile := filepath.Join(t.TempDir(), "series.patch")
	os.WriteFile(pfile, []byte(series), 0o644)

	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	baseRef, _ := repo.Head()
	base, err := repo.CommitObject(baseRef.Hash())
	if err != nil {
		t.Fatal(err)
	}
	baseTree, _ := base.Tree()
	commits, err := patch.Parse(patch.Entry{Path: pfile, Name: "series.patch"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := patch.ApplyFrom(Reader(repo.Storer, baseTree), commits)
	if err != nil {
		t.Fatal(err)
	}
	head, err := Patches(repo.Storer, base, res.Steps)
	if err != nil {
		t.Fatal(err)
	}

	amEnv := []string{"GIT_COMMITTER_NAME=" + Committer.Name, "GIT_COMMITTER_EMAIL=" + Committer.Email}
	run(t, dir, amEnv, "am", "-q", "--committer-date-is-author-date", pfile)
	if want := run(t, dir, nil, "rev-parse", "HEAD"); head.String() != want {
		t.Errorf("our head %s, git am's %s\nours:\n%s\ngit's:\n%s", head, want,
			run(t, dir, nil, "cat-file", "-p", head.String()), run(t, dir, nil, "cat-file", "-p", want))
	}
	if fsck := run(t, dir, nil, "fsck", "--strict", "--no-dangling"); fsck != "" {
		t.Errorf("git fsck: %s", fsck)
	}

	when := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	headCommit, _ := repo.CommitObject(head)
	top, err := Defconfigs(repo.Storer, headCommit, map[string][]byte{"arch/x86/configs/wsl_defconfig": []byte("CONFIG_A=y\n")}, when, "add wsl_defconfig\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, dir, nil, "show", top.String()+":arch/x86/configs/wsl_defconfig"); got != "CONFIG_A=y" {
		t.Errorf("defconfig commit holds %q", got)
	}
	if got := run(t, dir, nil, "diff", "--stat", head.String(), top.String()); !strings.Contains(got, "1 file changed") {
		t.Errorf("defconfig commit changes: %s", got)
	}
	again, _ := Defconfigs(repo.Storer, headCommit, map[string][]byte{"arch/x86/configs/wsl_defconfig": []byte("CONFIG_A=y\n")}, when, "add wsl_defconfig\n")
	if again != top {
		t.Error("the same defconfig commit twice gave two hashes")
	}
}
