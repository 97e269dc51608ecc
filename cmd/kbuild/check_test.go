package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// kernelOrg makes what the smoke profile reads from KERNEL_ORG: linux.git, a real repository
// holding v6.12.1 and v6.12.2 as annotated tags signed by the key in keys.asc, and a
// releases.json naming 6.12.2.
func kernelOrg(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	key, err := openpgp.NewEntity("stable", "", "stable@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var ring bytes.Buffer
	w, err := armor.Encode(&ring, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	key.Serialize(w)
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, "keys.asc"), ring.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(filepath.Join(dir, "linux.git"), false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
	for _, rel := range []string{"6.12.1", "6.12.2"} {
		if err := os.WriteFile(filepath.Join(dir, "linux.git", "Makefile"), []byte("# "+rel+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wt.Add("Makefile")
		h, err := wt.Commit("Linux "+rel, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.CreateTag("v"+rel, h, &git.CreateTagOptions{Tagger: sig, Message: "Linux " + rel, SignKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	releases := `{"latest_stable":{"version":"6.12.2"},"releases":[{"iseol":false,"version":"6.12.2","moniker":"stable"}]}`
	if err := os.WriteFile(filepath.Join(dir, "releases.json"), []byte(releases), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// smokeLine writes a pipeline.yaml of one profile following korg, with nowhere to publish (so
// check reads no remote), and returns its path.
func smokeLine(t *testing.T, korg, extra string) string {
	t.Helper()
	doc := `name: linux-msft-wsl
series: "6.12"
upstream:
  releases: file://` + korg + `/releases.json
  git: file://` + korg + `/linux.git
  keyring: ` + korg + `/keys.asc` + extra + `
version:
  localversion: -microsoft-standard-WSL2
  branch: linux-msft-wsl-{series}.y
  tag: linux-msft-wsl-{version}
profiles:
  smoke:
    arches: [x86_64]
    config:
      base: tinyconfig
    initrd:
      spec: initrd.list
`
	dir := t.TempDir()
	for name, body := range map[string]string{"pipeline.yaml": doc, "initrd.list": "dir /dev 0755 0 0\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "pipeline.yaml")
}

// TestCheckRelease: check or plan --release of a release upstream does not have is a bad
// argument (2) naming the tag, the repository and the series' tags it has, not "run to build it"
// or a whole plan.
func TestCheckRelease(t *testing.T) {
	korg := kernelOrg(t)
	config := smokeLine(t, korg, "")
	noTag := "release 6.12.9: file://" + korg + "/linux.git has no tag v6.12.9 (the tags of 6.12 it has: v6.12.2, v6.12.1)"
	for _, tc := range []struct {
		cmd     string
		release string
		code    int
		stdout  string
		stderr  string
	}{
		{cmd: "check", release: "6.12.9", code: 2, stderr: noTag},
		{cmd: "check", release: "6.12.1", code: 0, stdout: "upstream 6.12.1; nothing built yet: run to build it"},
		{cmd: "plan", release: "6.12.9", code: 2, stderr: noTag},
		{cmd: "plan", release: "6.12.1", code: 0, stdout: "upstream v6.12.1 (given by --release"},
	} {
		var stdout, stderr bytes.Buffer
		args := []string{tc.cmd, "--config", config, "--profile", "smoke", "--release", tc.release,
			"--work-dir", t.TempDir(), "--cache-dir", t.TempDir()}
		code := run(context.Background(), args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("kbuild %s = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
				strings.Join(args, " "), code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

// TestCheckExitCodes: the codes a cron job branches on. 0 something to build (with a warning
// when the line rots: the release is still worth building), 3 up to date, 4 up to date but the
// followed series has ended or a newer longterm is out, 1 the check failed; a pinned release
// reads no releases.json, so it says it cannot tell and keeps 3.
func TestCheckExitCodes(t *testing.T) {
	korg := kernelOrg(t)
	config := smokeLine(t, korg, "")
	const (
		live     = `{"releases":[{"iseol":false,"version":"6.12.2","moniker":"longterm"},{"iseol":false,"version":"6.6.70","moniker":"longterm"}]}`
		ended    = `{"releases":[{"iseol":true,"version":"6.12.2","moniker":"stable"},{"iseol":false,"version":"6.6.70","moniker":"longterm"}]}`
		longterm = `{"releases":[{"iseol":false,"version":"6.12.2","moniker":"longterm"},{"iseol":false,"version":"6.18.35","moniker":"longterm"}]}`
		eolWarn  = "warning  6.12 is end-of-life at kernel.org, and releases.json lists no newer longterm series"
		ltWarn   = `warning  a longterm series newer than 6.12 is out at kernel.org: the newest is 6.18 (6.18.35): move the line with series: "6.18" in pipeline.yaml`
	)
	for _, tc := range []struct {
		name     string
		releases string
		built    string // the release built in the work dir; "" for none
		args     []string
		code     int
		stdout   string
		stderr   string
	}{
		{name: "live; up to date", releases: live, built: "6.12.2", code: 3, stdout: "upstream 6.12.2; last build 6.12.2: up to date\n"},
		{name: "live; newer", releases: live, built: "6.12.1", code: 0, stdout: "upstream 6.12.2 is newer than the last build (6.12.1): run to build it\n"},
		{name: "ended; up to date", releases: ended, built: "6.12.2", code: 4, stdout: eolWarn},
		{name: "ended; its final release to build", releases: ended, built: "6.12.1", code: 0, stdout: eolWarn},
		{name: "newer longterm; up to date", releases: longterm, built: "6.12.2", code: 4, stdout: ltWarn},
		{name: "newer longterm; nothing built", releases: longterm, code: 0, stdout: ltWarn},
		{name: "pinned", releases: ended, built: "6.12.2", args: []string{"--release", "6.12.2"}, code: 3, stdout: "end of life: unknown (the release is pinned"},
		{name: "bad releases.json", releases: `{"releases":[{"iseol":"yes"}]}`, built: "6.12.2", code: 1, stderr: "releases.iseol is a string, expected true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(korg, "releases.json"), []byte(tc.releases), 0o644); err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			if tc.built != "" {
				v := tc.built + ".1"
				m := &manifest.Manifest{Schema: manifest.Schema, Status: "ok", Version: v, Upstream: manifest.Upstream{Release: tc.built}}
				if err := m.Write(filepath.Join(work, "out", "smoke", v, "manifest.json")); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"check", "--config", config, "--profile", "smoke", "--work-dir", work, "--cache-dir", t.TempDir()}, tc.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("kbuild %s = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					strings.Join(args, " "), code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
