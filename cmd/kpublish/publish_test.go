package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/gittest"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// fakeRun fabricates what kbuild run leaves for the smoke profile: a manifest with one config
// output in the work dir, and the release branch in the upstream mirror in the cache dir.
func fakeRun(t *testing.T, work, cache string) *manifest.Manifest {
	t.Helper()
	const gitURL = "file:///nonexistent/kernel.org/linux.git"
	m := &manifest.Manifest{Schema: manifest.Schema, Profile: "smoke", Version: "6.12.118.1", Status: "ok",
		KernelRelease: "6.12.118.1-microsoft-standard-WSL2", Branch: "linux-msft-wsl-6.12.y",
		BranchRef: "refs/wslkernel/smoke/heads/linux-msft-wsl-6.12.y", Tag: "linux-msft-wsl-6.12.118.1", InputsDigest: "d1g35t",
		Upstream: manifest.Upstream{Release: "6.12.118", Tag: "v6.12.118", GitURL: gitURL, CommitTime: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}}
	src := t.TempDir()
	gittest.Git(t, src, "init", "-q")
	gittest.Git(t, src, "commit", "-q", "--allow-empty", "-m", "Linux 6.12.118")
	m.Upstream.Commit = gittest.Git(t, src, "rev-parse", "HEAD")
	gittest.Git(t, src, "commit", "-q", "--allow-empty", "-m", "arch: wsl_defconfig")
	m.BranchHead = gittest.Git(t, src, "rev-parse", "HEAD")
	mirror, unlock, err := upstream.OpenMirror(context.Background(), cache, gitURL)
	if err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, src, "push", "-q", mirror.Dir, "HEAD:"+m.BranchRef)
	unlock()
	dir := filepath.Join(work, "out", "smoke", m.Version)
	os.MkdirAll(filepath.Join(dir, "x86_64"), 0o755)
	os.WriteFile(filepath.Join(dir, "x86_64", "config"), []byte("CONFIG_WSL=y\n"), 0o644)
	out, err := manifest.Describe("config", "x86_64", filepath.Join(dir, "x86_64", "config"))
	if err != nil {
		t.Fatal(err)
	}
	out.Path = "x86_64/config"
	m.Outputs = []manifest.File{out}
	if err := m.Write(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	return m
}

// startGitHub builds and starts the demo's GitHub stand-in; stop ends it and returns what it
// printed at the end: the releases and their assets.
func startGitHub(t *testing.T, token string) (url string, stop func() string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "githubfake")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/githubfake/serve").CombinedOutput(); err != nil {
		t.Fatalf("go build githubfake: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-token", token)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	url, err = r.ReadString('\n')
	if err != nil {
		t.Fatalf("githubfake printed no URL: %v", err)
	}
	return strings.TrimSpace(url), func() string {
		cmd.Process.Signal(syscall.SIGTERM)
		rest, _ := io.ReadAll(r)
		if err := cmd.Wait(); err != nil {
			t.Errorf("githubfake: %v", err)
		}
		return string(rest)
	}
}

// What scripts/demo does at its end: kpublish, pointed by the environment at the stand-in and a
// bare repository, publishes the smoke release for real; a dry run first writes nothing.
func TestKpublishPublishesToTheDemoStandIn(t *testing.T) {
	const token = "demo-token-not-a-secret"
	url, stop := startGitHub(t, token)
	work, cache, remote := t.TempDir(), t.TempDir(), t.TempDir()
	gittest.Git(t, remote, "init", "-q", "--bare")
	m := fakeRun(t, work, cache)
	t.Setenv("KERNEL_ORG", t.TempDir())
	t.Setenv("WSLKERNEL_PUBLISH_REMOTE", "file://"+remote)
	t.Setenv("WSLKERNEL_GITHUB_API", url+"/api/v3/")
	t.Setenv("GITHUB_TOKEN", token)
	kpublish := func(extra ...string) string {
		t.Helper()
		args := append([]string{"--profile", "smoke", "--config", "../../pipeline.yaml", "--work-dir", work, "--cache-dir", cache}, extra...)
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("kpublish %s = %d\n%s%s", strings.Join(extra, " "), code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	dry := kpublish("--dry-run")
	for _, want := range []string{"would    push +" + m.BranchRef, "would    POST   /api/v3/repos/wslkernel/WSL2-Linux-Kernel/releases", "upload config-wsl,"} {
		if !strings.Contains(dry, want) {
			t.Errorf("the dry run lacks %q:\n%s", want, dry)
		}
	}
	if refs := gittest.Git(t, remote, "for-each-ref"); refs != "" {
		t.Errorf("the dry run pushed: %s", refs)
	}
	real := kpublish()
	if head := gittest.Git(t, remote, "rev-parse", "refs/tags/"+m.Tag+"^{commit}"); head != m.BranchHead {
		t.Errorf("the tag names %s, want the branch head %s\n%s", head, m.BranchHead, real)
	}
	listed := stop()
	for _, want := range []string{`release linux-msft-wsl-6.12.118.1 "WSL2-Linux-Kernel 6.12.118.1" on wslkernel/WSL2-Linux-Kernel: 2 assets`, "  config-wsl ", "  manifest.json "} {
		if !strings.Contains(listed, want) {
			t.Errorf("the stand-in's listing lacks %q:\n%s\nkpublish said:\n%s", want, listed, real)
		}
	}
}
