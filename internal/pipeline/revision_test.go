package pipeline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/published"
	"github.com/wslkernel/wslkernel/internal/version"
)

// publishRemote is a bare repo standing for publish.remote, and tag adds a release tag to it
// whose message records an inputs digest, as kpublish writes it.
func publishRemote(t *testing.T) (url string, tag func(name, digest string)) {
	t.Helper()
	work, bare := t.TempDir(), filepath.Join(t.TempDir(), "remote.git")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q")
	git(work, "commit", "-q", "--allow-empty", "-m", "release branch")
	git(work, "init", "-q", "--bare", bare)
	return "file://" + bare, func(name, digest string) {
		git(work, "commit", "-q", "--allow-empty", "-m", name)
		git(work, "tag", "-a", "-m", "WSL kernel\n\n"+published.Trailer(digest), name)
		git(work, "push", "-q", bare, "refs/tags/"+name)
	}
}

func TestRevisionComesFromThePublishedReleases(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	remote, tag := publishRemote(t)
	l.Pipeline.Publish.Remote = remote
	opts := Options{WorkDir: t.TempDir(), CacheDir: t.TempDir()}
	plan := func() *Plan {
		t.Helper()
		p, err := NewPlan(context.Background(), l, opts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plan()
	if p.Version.String() != "6.12.118.1" || p.Revision.Released != "" || !strings.Contains(p.Revision.Why, "no release of 6.12.118 yet") {
		t.Errorf("nothing published: %s, %+v", p.Version, p.Revision)
	}
	ours := p.InputsDigest

	tag("wsl-6.12.117.3", "other") // another upstream release: no bearing on 6.12.118's revision
	tag("wsl-6.12.118.1", ours)
	if p := plan(); p.Version.String() != "6.12.118.1" || p.Revision.Released != "wsl-6.12.118.1" {
		t.Errorf("6.12.118.1 published with our inputs: %s, %+v", p.Version, p.Revision)
	}

	// A changed fragment is a new revision.
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\nCONFIG_FUTEX=y\n"), 0o644)
	p = plan()
	if p.Version.String() != "6.12.118.2" || p.Revision.Released != "" || !strings.Contains(p.Revision.Why, "changed since wsl-6.12.118.1") {
		t.Errorf("fragment changed after 6.12.118.1: %s, %+v", p.Version, p.Revision)
	}
	tag("wsl-6.12.118.2", p.InputsDigest)
	if p := plan(); p.Version.String() != "6.12.118.2" || p.Revision.Released != "wsl-6.12.118.2" {
		t.Errorf("6.12.118.2 published: %s, %+v", p.Version, p.Revision)
	}
	// Back to the first fragment: not 6.12.118.1 again, whose tag exists, but the next revision.
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\n"), 0o644)
	if p := plan(); p.Version.String() != "6.12.118.3" {
		t.Errorf("fragment reverted after 6.12.118.2: %s, %+v", p.Version, p.Revision)
	}

	// An unreachable remote: revision 1, and the plan says why.
	l.Pipeline.Publish.Remote = "file://" + filepath.Join(t.TempDir(), "gone.git")
	if p := plan(); p.Version.Rev != 1 || p.Revision.Unknown == nil || !strings.Contains(p.Revision.Why, "could not be read") {
		t.Errorf("unreachable remote: %s, %+v", p.Version, p.Revision)
	}
}

// The digest covers what makes the release: the patches' contents and the configs, not files
// the release is not built from.
func TestInputsDigestCoversPatchesAndConfigs(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	p, err := NewPlan(context.Background(), l, Options{WorkDir: t.TempDir(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	before := InputsDigest(l, p.Release)
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "README"), []byte("unrelated\n"), 0o644)
	if InputsDigest(l, p.Release) != before {
		t.Error("an unrelated file changed the digest")
	}
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "0001-notes.patch"), []byte(strings.Replace(addNotes, "+notes", "+Notes", 1)), 0o644)
	if InputsDigest(l, p.Release) == before {
		t.Error("a changed patch kept the digest")
	}
}

// check, for cron: something to release until the release with these inputs is published;
// again once a fragment changes.
func TestCheckComparesWithThePublishedRelease(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	remote, tag := publishRemote(t)
	l.Pipeline.Publish.Remote = remote
	opts := Options{WorkDir: t.TempDir(), CacheDir: t.TempDir()}
	check := func() *CheckResult {
		t.Helper()
		res, err := Check(context.Background(), l, opts)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(); !res.Newer || res.Version.String() != "6.12.118.1" {
		t.Errorf("nothing published: %+v", res)
	}
	tag("wsl-6.12.118.1", InputsDigest(l, check().Upstream))
	res := check()
	var out strings.Builder
	res.Print(&out)
	if res.Newer || out.String() != "upstream 6.12.118: up to date, released as wsl-6.12.118.1\n" {
		t.Errorf("released: %+v\n%s", res, out.String())
	}
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\nCONFIG_FUTEX=y\n"), 0o644)
	if res := check(); !res.Newer || res.Version.String() != "6.12.118.2" {
		t.Errorf("fragment changed: %+v", res)
	}
}

// Every input a shipping stage declares moves the digest, patch_fuzz among them (it changes where
// a hunk lands); what only the tests read (the boot test, the initrd, which no payload carries)
// and where the release is published do not.
func TestInputsDigestFollowsTheStagesInputs(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	rel, err := version.ParseRelease("6.12.118")
	if err != nil {
		t.Fatal(err)
	}
	dir := l.Pipeline.Dir()
	write := func(name, body string) func() {
		return func() { os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644) }
	}
	prof := l.Profile
	for _, c := range []struct {
		name   string
		change func()
		moves  bool
	}{
		{"patch_fuzz", func() { prof.PatchFuzz = 2 }, true},
		{"a patch", write("0001-notes.patch", strings.Replace(addNotes, "+notes", "+Notes", 1)), true},
		{"the series", write("series", "0001-notes.patch\n# a comment\n"), true},
		{"a fragment", write("frag.config", "CONFIG_PRINTK=y\nCONFIG_FUTEX=y\n"), true},
		{"an arch fragment", func() { prof.Config.ArchFragments = map[string][]string{"x86_64": {filepath.Join(dir, "frag.config")}} }, true},
		{"the base", func() { prof.Config.Base = "defconfig" }, true},
		{"the local version", func() { l.Pipeline.Version.LocalVersion = "-other" }, true},
		{"strict", func() { f := false; prof.Config.Strict = &f }, true},
		{"the initrd spec (a test artifact, in no payload)", write("initrd.list", "dir /dev 0755 0 0\n"), false},
		{"the initrd compression", func() { prof.Initrd.Compression = "xz" }, false},
		{"the build wrapper", func() { prof.Build.Wrapper = "none" }, true},
		{"the package formats", func() { prof.Package.Formats = []string{"cab"} }, true},
		{"the boot test's memory", func() { prof.Boot.Memory = "1G" }, false},
		{"the publish remote", func() { l.Pipeline.Publish.Remote = "file:///elsewhere.git" }, false},
		{"the boot test's command line", func() { prof.Boot.Cmdline = "quiet" }, false},
		{"an unrelated file", write("README", "unrelated\n"), false},
	} {
		before := InputsDigest(l, rel)
		c.change()
		if moved := InputsDigest(l, rel) != before; moved != c.moves {
			t.Errorf("changing %s: digest moved = %v, want %v", c.name, moved, c.moves)
		}
	}
}
