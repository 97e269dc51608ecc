//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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

	// Idempotent: a second scripts/mirror reuses what is there.
	out, err := exec.Command(filepath.Join(repoRoot, "scripts/mirror"), kernelOrg).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != kernelOrg {
		t.Errorf("scripts/mirror again: %v\n%s", err, out)
	}
}
