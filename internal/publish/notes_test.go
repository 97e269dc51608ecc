package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/wslkernel/wslkernel/internal/cve"
	"github.com/wslkernel/wslkernel/internal/gittest"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Two releases side by side, as kbuild leaves them in out/<profile>/: the notes of the second
// give upstream's shortlog, the config diff, the patch changes and the CVE the update fixes.
func TestNotesAgainstThePreviousRelease(t *testing.T) {
	repo := t.TempDir()
	gittest.Git(t, repo, "init", "-q")
	gittest.Git(t, repo, "commit", "-q", "--allow-empty", "-m", "Linux 6.12.117")
	prevCommit := gittest.Git(t, repo, "rev-parse", "HEAD")
	gittest.Git(t, repo, "commit", "-q", "--allow-empty", "-m", "hv_sock: fix a use-after-free when the host closes early")
	gittest.Git(t, repo, "commit", "-q", "--allow-empty", "-m", "Linux 6.12.118")
	commit := gittest.Git(t, repo, "rev-parse", "HEAD")
	r, err := git.PlainOpen(repo)
	if err != nil {
		t.Fatal(err)
	}
	shortlog, err := Shortlog(r, prevCommit, commit)
	if err != nil || shortlog != "A (2):\n      hv_sock: fix a use-after-free when the host closes early\n      Linux 6.12.118\n\n" {
		t.Fatalf("Shortlog = %q, %v", shortlog, err)
	}

	out := t.TempDir()
	run := func(version, tag, commit, config string, patches []manifest.Patch) (*manifest.Manifest, string) {
		dir := filepath.Join(out, version)
		os.MkdirAll(filepath.Join(dir, "x86_64"), 0o755)
		os.WriteFile(filepath.Join(dir, "x86_64/config"), []byte(config), 0o644)
		f, _ := manifest.Describe("config", "x86_64", filepath.Join(dir, "x86_64/config"))
		f.Path = "x86_64/config"
		m := &manifest.Manifest{Schema: manifest.Schema, Status: "ok", Version: version, KernelRelease: version + "-microsoft-standard-WSL2",
			Upstream: manifest.Upstream{Tag: tag, Commit: commit}, Patches: patches, Outputs: []manifest.File{f}}
		m.Write(filepath.Join(dir, "manifest.json"))
		return m, dir
	}
	run("6.12.117.1", "v6.12.117", prevCommit, "CONFIG_HYPERV=y\nCONFIG_SOUND=m\n", []manifest.Patch{
		{Subject: "Microsoft: add instructions", Author: "A <a@x>"}, {Subject: "hv: a fix we carried", Author: "B <b@x>"}, {Subject: "old: dropped", Author: "C <c@x>"}})
	m, dir := run("6.12.118.1", "v6.12.118", commit, "CONFIG_HYPERV=y\nCONFIG_EXT4_FS=y\n", []manifest.Patch{
		{Subject: "Microsoft: add instructions", Author: "A <a@x>"}, {Subject: "hv: a fix we carried", Author: "B <b@x>", Upstreamed: "v6.12.118"},
		{Subject: "Microsoft: add the modules.vhdx script", Author: "D <d@x>"}})
	current, err := version.ParseVersion(m.Version)
	if err != nil {
		t.Fatal(err)
	}
	prev, prevDir := manifest.Previous(out, current)
	if prev == nil || prev.Version != "6.12.117.1" {
		t.Fatalf("Previous = %+v", prev)
	}
	records, err := cve.Load("../cve/testdata/published")
	if err != nil {
		t.Fatal(err)
	}
	notes := Notes(NotesInput{Manifest: m, Dir: dir, Previous: prev, PrevDir: prevDir, Shortlog: shortlog, CVEs: records},
		&Release{Assets: []Asset{{Name: "config-wsl", Size: 31, SHA256: "abc"}, {Name: "manifest.json"}}})
	for _, want := range []string{
		"Update to stable kernel version v6.12.118.",
		"Previous release: 6.12.117.1 (v6.12.117).",
		"### Upstream changes since v6.12.117\n\n```\nA (2):\n      hv_sock: fix",
		"### CVEs fixed (1)\n\n- [CVE-2026-10001](https://www.cve.org/CVERecord?id=CVE-2026-10001): hv_sock: fix a use-after-free when the host closes early\n",
		"x86_64:\n```\n-SOUND m\n+EXT4_FS y\n```",
		"Added:\n- Microsoft: add the modules.vhdx script (D <d@x>)",
		"Dropped:\n- old: dropped",
		"Upstreamed (no longer carried):\n- hv: a fix we carried: upstream in v6.12.118",
		"| config-wsl | 31 | `abc` |",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "| manifest.json |") || strings.Contains(notes, "CVE-2026-10004") {
		t.Errorf("notes list what they should not:\n%s", notes)
	}
}
