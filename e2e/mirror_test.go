//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

func git(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", filepath.Join(kernelOrg, "linux.git")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// The local kernel.org is what the tests and the demo stand on: check it as kernel.org would be.
func TestLocalKernelOrg(t *testing.T) {
	gnupg := t.TempDir()
	env := []string{"GNUPGHOME=" + gnupg}
	imp := exec.Command("gpg", "--batch", "--import", filepath.Join(kernelOrg, "keys.asc"))
	imp.Env = append(os.Environ(), env...)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import keys.asc: %v\n%s", err, out)
	}
	next := nextRelease(t) // the second series: Debian's newest linux-source, as it is
	tags := []string{"v6.12.117", "v6.12.118", next.Tag()}
	for _, tag := range tags {
		if kind := git(t, nil, "cat-file", "-t", tag); kind != "tag" {
			t.Errorf("%s is a %s, want an annotated tag", tag, kind)
		}
		git(t, env, "verify-tag", tag) // fails the test unless gpg accepts the signature
	}
	if parent, want := git(t, nil, "rev-parse", "v6.12.118^{commit}^"), git(t, nil, "rev-parse", "v6.12.117^{commit}"); parent != want {
		t.Errorf("v6.12.118's parent is %s, want v6.12.117 (%s)", parent, want)
	}
	// Whatever point release Debian's linux-source-6.12 is today, each tag's tree says its own.
	for _, tag := range tags {
		rel, err := upstream.MakefileRelease([]byte(git(t, nil, "show", tag+":Makefile")))
		if err != nil || rel.Tag() != tag {
			t.Errorf("%s's Makefile gives %v, %v; want %s", tag, rel, err, tag)
		}
	}
	for _, tag := range []string{"v6.12.117", next.Tag()} {
		if n := git(t, nil, "ls-tree", "--name-only", tag, "--", "kernel/fork.c"); !strings.Contains(n, "kernel/fork.c") {
			t.Errorf("%s lacks kernel/fork.c: the .gitignore stanza was not cut?", tag)
		}
		if g := git(t, nil, "show", tag+":.gitignore"); slices.Contains(strings.Split(g, "\n"), "/*") {
			t.Errorf("%s's .gitignore still ignores the whole top level (Debian's stanza)", tag)
		}
	}
	// Its own history, not 6.12's: a root commit on a branch of its own.
	if parents := git(t, nil, "rev-list", "--parents", "-n", "1", next.Tag()+"^{commit}"); strings.Contains(parents, " ") {
		t.Errorf("%s's commit has parents (%s): the second series is a root of its own", next.Tag(), parents)
	}

	data, err := os.ReadFile(filepath.Join(kernelOrg, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rel struct {
		LatestStable struct{ Version string } `json:"latest_stable"`
		Releases     []struct {
			IsEOL   bool   `json:"iseol"`
			Version string `json:"version"`
			Moniker string `json:"moniker"`
		} `json:"releases"`
	}
	if err := json.Unmarshal(data, &rel); err != nil {
		t.Fatalf("releases.json: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range rel.Releases {
		seen[r.Moniker] = true
		if r.IsEOL {
			seen["eol"] = true
		}
		seen[r.Version] = true
	}
	for _, want := range []string{"6.12.117", "6.12.118", next.String(), "mainline", "longterm", "stable", "linux-next", "eol"} {
		if !seen[want] {
			t.Errorf("releases.json lacks %s", want)
		}
	}
	// As kernel.org lists it: the newest stable release is latest_stable, and mainline is ahead.
	if rel.LatestStable.Version != next.String() {
		t.Errorf("releases.json's latest_stable is %q, want %s, the newest stable release it lists", rel.LatestStable.Version, next)
	}
	for _, r := range rel.Releases {
		if r.Moniker != "mainline" {
			continue
		}
		rc, _, _ := strings.Cut(r.Version, "-rc")
		if s, err := version.ParseSeries(rc); err != nil || s.Compare(next.Series()) <= 0 {
			t.Errorf("releases.json's mainline is %s, not a release candidate after %s", r.Version, next.Series())
		}
	}

	// Idempotent: a second scripts/mirror reuses what is there, with the second series or not.
	for _, args := range [][]string{{kernelOrg}, {"--series", next.Series().String(), kernelOrg}} {
		out, err := exec.Command(filepath.Join(repoRoot, "scripts/mirror"), args...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != kernelOrg {
			t.Errorf("scripts/mirror %s again: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// scripts/mirror --series tags the tree it is given as the release its Makefile says, so a tree
// that is not a release of the series without EXTRAVERSION (an -rc, another series) is refused,
// loudly and before any ref or releases.json changes; the tree that is becomes a signed tag whose
// Makefile says its name. On small trees standing in for Debian's (a linux-source-6.12 tarball,
// and the tree scripts/linux-source would have unpacked), in a folder of the test's own.
func TestMirrorSeriesTagsOnlyATreeThatIsItsRelease(t *testing.T) {
	// Not t.TempDir(): gpg-agent's socket goes in the kernel.org's gnupg folder, and under a path
	// named after this test it would pass the 108 bytes a socket path may have.
	dir, err := os.MkdirTemp("", "kernel.org-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	makefile := func(version, patchlevel, sublevel int, extra string) string {
		return fmt.Sprintf("# SPDX-License-Identifier: GPL-2.0\nVERSION = %d\nPATCHLEVEL = %d\nSUBLEVEL = %d\nEXTRAVERSION =%s\nNAME = Baby Opossum Posse\n",
			version, patchlevel, sublevel, extra)
	}
	debianIgnore := "*.o\n\n#\n# Debian packaging: ignore everything at the top level, since it isn't\n# included in our repository\n#\n/*\n!/debian/\n"
	for _, tree := range []string{filepath.Join(dir, "tar/linux-source-6.12"), filepath.Join(dir, "linux-source/7.3")} {
		write(filepath.Join(tree, ".gitignore"), debianIgnore)
		write(filepath.Join(tree, "kernel/fork.c"), "/* fork */\n")
		write(filepath.Join(tree, "init/version.c"), "/* version */\n") // 6.12.118 changes it
	}
	write(filepath.Join(dir, "tar/linux-source-6.12/Makefile"), makefile(6, 12, 119, ""))
	tarball := filepath.Join(dir, "linux-source-6.12.tar.xz")
	if out, err := exec.Command("tar", "-cJf", tarball, "-C", filepath.Join(dir, "tar"), "linux-source-6.12").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	// The tree as scripts/linux-source leaves it, stamped with its recipe, so it is taken as it is.
	script, err := os.ReadFile(filepath.Join(repoRoot, "scripts/linux-source"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := regexp.MustCompile(`(?m)^recipe=([0-9]+)`).FindSubmatch(script)
	if recipe == nil {
		t.Fatal("scripts/linux-source has no recipe= line")
	}
	tree := filepath.Join(dir, "linux-source/7.3")
	write(filepath.Join(tree, ".linux-source"), "recipe="+string(recipe[1])+"\npackage=linux-source-7.3\nversion=7.3.4-1\n")

	dest := filepath.Join(dir, "kernel.org")
	gitDir := filepath.Join(dest, "linux.git")
	mirror := func() (stdout, stderr string, err error) {
		cmd := exec.Command(filepath.Join(repoRoot, "scripts/mirror"), "--series", "7.3", dest)
		cmd.Env = append(os.Environ(), "LINUX_SOURCE_TARBALL="+tarball, "WSLKERNEL_LINUX_SOURCE="+filepath.Join(dir, "linux-source"))
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		return out.String(), errOut.String(), err
	}
	for _, bad := range []struct{ name, makefile, says string }{
		{"an -rc", makefile(7, 3, 4, " -rc1"), "holds Linux 7.3.4-rc1, not a 7.3.y release without EXTRAVERSION: refusing to publish it"},
		{"another series", makefile(7, 2, 13, ""), "holds Linux 7.2.13, not a 7.3.y release without EXTRAVERSION: refusing to publish it"},
	} {
		write(filepath.Join(tree, "Makefile"), bad.makefile)
		_, stderr, err := mirror()
		if code := exitCode(err); code != 1 || !strings.Contains(stderr, "scripts/mirror: "+tree+" (Debian's linux-source-7.3) "+bad.says) {
			t.Errorf("scripts/mirror --series 7.3 on %s: exit %d, want 1 and %q:\n%s", bad.name, code, bad.says, stderr)
		}
		refs, err := exec.Command("git", "--git-dir", gitDir, "for-each-ref", "--format=%(refname)").Output()
		if err != nil || !strings.Contains(string(refs), "refs/tags/v6.12.118") || strings.Contains(string(refs), "7.3") {
			t.Errorf("after refusing %s, the repository's refs are (%v):\n%s", bad.name, err, refs)
		}
		if data, err := os.ReadFile(filepath.Join(dest, "releases.json")); err != nil || strings.Contains(string(data), `"7.3`) {
			t.Errorf("after refusing %s, releases.json lists the series (%v)", bad.name, err)
		}
		if _, err := os.Stat(filepath.Join(dest, ".series-7.3")); !os.IsNotExist(err) {
			t.Errorf("after refusing %s, the series is stamped added (%v)", bad.name, err)
		}
	}

	write(filepath.Join(tree, "Makefile"), makefile(7, 3, 4, ""))
	if stdout, stderr, err := mirror(); err != nil || strings.TrimSpace(stdout) != dest {
		t.Fatalf("scripts/mirror --series 7.3 on a 7.3.4 tree: %v, printed %q\n%s", err, stdout, stderr)
	}
	gnupg := t.TempDir()
	for _, args := range [][]string{{"gpg", "--batch", "--import", filepath.Join(dest, "keys.asc")}, {"git", "--git-dir", gitDir, "verify-tag", "v7.3.4"}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+gnupg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	mk, err := exec.Command("git", "--git-dir", gitDir, "show", "v7.3.4:Makefile").Output()
	if rel, perr := upstream.MakefileRelease(mk); err != nil || perr != nil || rel.Tag() != "v7.3.4" {
		t.Errorf("v7.3.4's Makefile gives %v (%v, %v)", rel, err, perr)
	}
	files, err := exec.Command("git", "--git-dir", gitDir, "ls-tree", "-r", "--name-only", "v7.3.4").Output()
	if want := ".gitignore\nMakefile\ninit/version.c\nkernel/fork.c\n"; err != nil || string(files) != want {
		t.Errorf("v7.3.4's tree holds %q (%v), want %q: the tree's files, without scripts/linux-source's stamp", files, err, want)
	}
	data, err := os.ReadFile(filepath.Join(dest, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := upstream.ParseReleases(data); err != nil || rel.LatestStable.Version != "7.3.4" {
		t.Errorf("releases.json does not give 7.3.4 as latest_stable (%v):\n%s", err, data)
	}
}
