//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/githubfake"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// kpublish publishes the shared smoke run: the branch and annotated tag to a bare repository,
// the release with every asset to the fake GitHub; a second run changes nothing; the token
// appears nowhere in what it prints.
func TestKpublishPublishesTheSmokeRunOnce(t *testing.T) {
	if manifestRun == nil || manifestRun.Status != "ok" {
		t.Skip("no shared run")
	}
	const token = "ghp_e2eTOKENe2eTOKENe2eTOKENe2eTOKEN12"
	gh := githubfake.New(token)
	defer gh.Close()
	remote := t.TempDir()
	// The remote is a fork of the stable tree, as WSL2-Linux-Kernel is: it has upstream's tags.
	for _, args := range [][]string{{"init", "-q", "--bare", remote}, {"--git-dir", remote, "fetch", "-q", "file://" + kernelOrg + "/linux.git", "refs/tags/*:refs/tags/*"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	pipeline := localPipeline(t, func(s string) string {
		return strings.Replace(s, "  remote: ${WSLKERNEL_PUBLISH_REMOTE:-https://github.com/wslkernel/WSL2-Linux-Kernel.git}\n  api_url: ${WSLKERNEL_GITHUB_API:-}\n",
			fmt.Sprintf("  remote: file://%s\n  api_url: %s/api/v3/\n  upload_url: %s/api/uploads/\n", remote, gh.URL, gh.URL), 1)
	})
	kpublish := func() string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "kpublish"), "--manifest", manifestAt, "--config", pipeline, "--cache-dir", cacheDir)
		cmd.Env = append(os.Environ(), "GITHUB_TOKEN="+token)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("kpublish: %v\n%s", err, out.String())
		}
		if strings.Contains(out.String(), token) {
			t.Errorf("kpublish printed the token:\n%s", out.String())
		}
		return out.String()
	}
	first := kpublish()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", remote}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if head := git("rev-parse", "refs/heads/"+manifestRun.Branch); head != manifestRun.BranchHead {
		t.Errorf("the remote branch is at %s, the run built %s", head, manifestRun.BranchHead)
	}
	if typ := git("cat-file", "-t", "refs/tags/"+manifestRun.Tag); typ != "tag" {
		t.Errorf("the release tag is a %s object, want an annotated tag", typ)
	}
	if parent := git("rev-parse", manifestRun.Tag+"^{commit}~3"); parent != manifestRun.Upstream.Commit {
		t.Errorf("three commits below the tag (2 patches, the defconfig) is %s, want upstream %s", parent, manifestRun.Upstream.Commit)
	}
	rels := gh.Releases("wslkernel/WSL2-Linux-Kernel")
	if len(rels) != 1 || rels[0].TagName != manifestRun.Tag || !strings.Contains(rels[0].Body, "Update to stable kernel version v6.12.118.") {
		t.Fatalf("releases: %+v\n%s", rels, first)
	}
	names := strings.Join(rels[0].Names(), " ")
	for _, want := range []string{"config-wsl", "config-wsl-arm64", "kernel-x86_64", "kernel-arm64", "wsl-kernel-6.12.118.1-x64.cab", "wsl-kernel-6.12.118.1-x64.msi", "SHA256SUMS", "manifest.json"} {
		if !strings.Contains(" "+names+" ", " "+want+" ") {
			t.Errorf("the release lacks %s: %s", want, names)
		}
	}
	kernel, _ := os.ReadFile(filepath.Join(filepath.Dir(manifestAt), "x86_64/kernel"))
	for _, a := range rels[0].Assets {
		if a.Name == "kernel-x86_64" && sha256.Sum256(a.Data) != sha256.Sum256(kernel) {
			t.Errorf("the uploaded kernel differs from the built one")
		}
	}
	writes := len(gh.Requests())
	second := kpublish()
	for _, r := range gh.Requests()[writes:] {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("the second kpublish wrote: %s\n%s", r, second)
		}
	}
	if !strings.Contains(second, "kept     branch") || !strings.Contains(second, "kept     tag") {
		t.Errorf("second kpublish:\n%s", second)
	}
	// Published: the tag records the inputs, so check (reading the remote's tags, as cron does
	// on a runner that never built anything) finds nothing to release.
	if msg := git("tag", "-l", "--format=%(contents)", manifestRun.Tag); !strings.Contains(msg, "Inputs: "+manifestRun.InputsDigest) {
		t.Errorf("the release tag's message does not record the inputs digest %s:\n%s", manifestRun.InputsDigest, msg)
	}
	out, err := kbuildWith(t, pipeline, "check", "--profile", "smoke", "--work-dir", t.TempDir())
	if code := exitCode(err); code != 3 || !strings.Contains(out, "upstream 6.12.118: up to date, released as "+manifestRun.Tag) {
		t.Errorf("check after publishing, on an empty work dir: exit %d\n%s", code, out)
	}
	// And a run after the release builds nothing: every stage up to date. (With the repository's
	// pipeline.yaml: this copy's publish.remote is in update.json, so it would package again.)
	out, err = kbuild(context.Background(), "run", "--profile", "smoke", "--work-dir", workDir)
	if err != nil || !strings.Contains(out, "version  6.12.118.1") {
		t.Fatalf("run after publishing: %v\n%s", err, out)
	}
	after, err := manifest.Read(manifestAt)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range after.Stages {
		if st.Name != "fetch" && st.Status != "skipped" {
			t.Errorf("run after publishing: stage %s %s %s, want skipped\n%s", st.Name, st.Arch, st.Status, out)
		}
	}
}
