package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

func TestVerifyRebuildsElsewhereAndComparesBytes(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	for _, leak := range []bool{false, true} {
		work := t.TempDir()
		fake := &fakeKbuild{leakDir: leak}
		opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: fake, Out: io.Discard}
		plan, err := NewPlan(context.Background(), l, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(context.Background(), plan, opts); err == nil || !strings.Contains(err.Error(), "kbuild run --profile smoke builds it first") {
			t.Errorf("Verify before any run = %v", err)
		}
		if _, err := Run(context.Background(), plan, opts); err != nil {
			t.Fatal(err)
		}
		// The published branch stays where the run put it (the defconfig commit on top).
		branchHead := func() string {
			mirrors, _ := filepath.Glob(filepath.Join(work, "cache", "mirrors", "*.git"))
			repo, err := git.PlainOpen(mirrors[0])
			if err != nil {
				t.Fatal(err)
			}
			ref, err := repo.Reference(plumbing.ReferenceName("refs/wslkernel/smoke/heads/wsl-6.12.y"), true)
			if err != nil {
				t.Fatal(err)
			}
			return ref.Hash().String()
		}
		before := branchHead()
		v, err := Verify(context.Background(), plan, opts)
		if v == nil {
			t.Fatalf("Verify = %v", err)
		}
		if !strings.HasPrefix(v.WorkDir, filepath.Join(work, "verify")) {
			t.Errorf("the second build was made in %s, not beside the run", v.WorkDir)
		}
		var names []string
		for _, c := range v.Files {
			names = append(names, c.Name+"/"+c.Arch)
			if c.Run == "" || c.Again == "" {
				t.Errorf("%s: hashes %q, %q", c.Name, c.Run, c.Again)
			}
		}
		if got := strings.Join(names, " "); got != "kernel/x86_64 config/x86_64 initrd/x86_64" {
			t.Errorf("compared %s", got)
		}
		bad := v.Differ()
		if !leak {
			if err != nil || len(bad) != 0 {
				t.Errorf("a reproducible build: Verify = %v, differ %+v", err, bad)
			}
		} else if !errors.Is(err, ErrNotReproducible) || len(bad) != 1 || bad[0].Name != "kernel" || bad[0].RunPath == bad[0].AgainPath {
			t.Errorf("a build that records its directory: Verify = %v, differ %+v", err, bad)
		}
		if after := branchHead(); after != before {
			t.Errorf("verify moved the branch from %s to %s", before, after)
		}
	}
}

// verify --no-cache compiles its rebuild without ccache (distcc stays a compiler, not a cache),
// while the run compiled through it, and says so.
func TestVerifyNoCacheCompilesWithoutACache(t *testing.T) {
	for wrapper, want := range map[string]string{"ccache": "none", "": "none", "ccache+distcc": "distcc", "distcc": "distcc"} {
		if got := uncached(wrapper); got != want {
			t.Errorf("uncached(%q) = %q, want %q", wrapper, got, want)
		}
	}
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	fake := &fakeKbuild{}
	var out strings.Builder
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: fake, Out: &out}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), plan, opts); err != nil {
		t.Fatal(err)
	}
	ran := len(fake.lines)
	opts.VerifyUncached = true
	if _, err := Verify(context.Background(), plan, opts); err != nil {
		t.Fatalf("Verify --no-cache = %v", err)
	}
	for i, cmd := range fake.lines {
		if through := strings.Contains(cmd, "CC=ccache"); through != (i < ran) {
			t.Errorf("make %d (run: %v) through ccache: %v: %s", i, i < ran, through, cmd)
		}
	}
	if !strings.Contains(out.String(), "no compiler cache") {
		t.Errorf("the rebuild's build line does not say it compiled without a cache:\n%s", out.String())
	}
}

func TestBootBootsTheLastRunsOutputs(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Boot(context.Background(), plan, opts); err == nil || !strings.Contains(err.Error(), "kbuild run --profile smoke builds it first") {
		t.Errorf("Boot before any run = %v", err)
	}
	if _, err := Run(context.Background(), plan, opts); err != nil {
		t.Fatal(err)
	}
	boots, err := Boot(context.Background(), plan, opts)
	if err != nil || len(boots) != 1 || boots[0].Release != "6.12.118.1-microsoft-standard-WSL2" || boots[0].InitSeconds != 0.4 {
		t.Fatalf("Boot = %+v, %v", boots, err)
	}
	// A kernel replaced after the run is not what the manifest vouches for: refused, not booted.
	kernel := filepath.Join(plan.OutDir, "x86_64", "kernel")
	if err := os.WriteFile(kernel, []byte("bzImage something else"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Boot(context.Background(), plan, opts); err == nil || !strings.Contains(err.Error(), kernel+" changed since the run built it") {
		t.Errorf("Boot of a changed kernel = %v", err)
	}
	if err := plan.OnlyArches([]string{"arm64"}); err == nil || !strings.Contains(err.Error(), "--arch arm64: profile smoke builds x86_64") {
		t.Errorf("OnlyArches(arm64) = %v", err)
	}
}

// One run at a time per work dir: a second fails at once, naming the first's pid.
func TestWorkDirLockNamesTheHolder(t *testing.T) {
	work := t.TempDir()
	unlock, err := lockWorkDir(work, "run")
	if err != nil {
		t.Fatal(err)
	}
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), plan, opts)
	if want := fmt.Sprintf("is in use by pid %d (kbuild run, since ", os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Run while locked = %v, want %q", err, want)
	}
	unlock()
	if _, err := Run(context.Background(), plan, opts); err != nil {
		t.Errorf("Run after the lock was released = %v", err)
	}
}

// verify --payloads packages the rebuild too, superseding what the run's payloads supersede, and
// compares every payload; a run that packaged nothing is refused.
func TestVerifyPayloads(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard, Payloads: true}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), plan, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), plan, opts); err == nil || !strings.Contains(err.Error(), "packaged nothing to compare with") {
		t.Errorf("verify --payloads of a run without payloads = %v", err)
	}
	// With a publish remote the nuspec names the branch head: the rebuild must make the same one.
	l.Profile.Package.Formats, l.Pipeline.Publish.Remote = []string{"cab", "nuget"}, "https://example.invalid/kernel.git"
	if _, err := Package(context.Background(), plan, opts, "6.12.117.1"); err != nil {
		t.Fatal(err)
	}
	v, err := Verify(context.Background(), plan, opts)
	if err != nil {
		t.Fatalf("Verify --payloads = %v", err)
	}
	var payloads []string
	for _, c := range v.Files {
		if c.Arch == "" {
			payloads = append(payloads, c.Name)
			if !c.Same() {
				t.Errorf("%s differs: %s against %s", c.Name, c.RunPath, c.AgainPath)
			}
		}
	}
	if got := strings.Join(payloads, " "); got != "Microsoft.WSL.Kernel.6.12.118.1-1.nupkg update-x64.json wsl-kernel-6.12.118.1-x64.cab" {
		t.Errorf("payloads compared: %s", got)
	}
}

// verify's folder is a plain name under the work dir, never a path out of it.
func TestVerifyFolderIsAName(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), plan, opts); err != nil {
		t.Fatal(err)
	}
	opts.VerifyIn = "../elsewhere"
	if _, err := Verify(context.Background(), plan, opts); err == nil || !strings.Contains(err.Error(), `verify folder "../elsewhere"`) {
		t.Errorf("Verify in ../elsewhere = %v", err)
	}
	opts.VerifyIn = "verify-2"
	if v, err := Verify(context.Background(), plan, opts); err != nil || v.WorkDir != filepath.Join(work, "verify-2") {
		t.Errorf("Verify in verify-2 = %v, %v", v, err)
	}
}
