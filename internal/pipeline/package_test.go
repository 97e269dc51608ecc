package pipeline

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/payload"
	"github.com/wslkernel/wslkernel/internal/version"
)

func TestThePreviousBuild(t *testing.T) {
	out := t.TempDir()
	for v, status := range map[string]string{"6.12.99.1": "ok", "6.12.117.1": "ok", "6.12.117.2": "failed", "6.12.119.1": "ok"} {
		os.MkdirAll(filepath.Join(out, v), 0o755)
		(&manifest.Manifest{Schema: manifest.Schema, Status: status, Version: v}).Write(filepath.Join(out, v, "manifest.json"))
	}
	if got := previousVersion(out, version.Version{Upstream: version.Release{Major: 6, Minor: 12, Patch: 118}, Rev: 1}); got != "6.12.117.1" {
		t.Errorf("previousVersion = %q, want 6.12.117.1 (the failed .2 and the newer .119 do not count)", got)
	}
}

func TestSignerFromTheEnvironment(t *testing.T) {
	if s := signerFor(nil); s != nil {
		t.Errorf("no signing: %+v", s)
	}
	t.Setenv("WSLKERNEL_SIGN_PKCS12", "/secrets/signer.p12")
	t.Setenv("RELEASE_PASS", "hunter2")
	s := signerFor(&config.Signing{Cert: "c.pem", Key: "k.pem", PasswordEnv: "RELEASE_PASS"})
	if s.PKCS12 != "/secrets/signer.p12" || s.Password != "hunter2" {
		t.Errorf("signerFor = %+v", s)
	}
}

// A machine whose environment names half a signer (a certificate without its key) still plans,
// and plan says what is missing and which setting supplies it; the package stage refuses it.
func TestHalfASignerIsShownNotFatal(t *testing.T) {
	t.Setenv("WSLKERNEL_SIGN_PKCS12", "")
	t.Setenv("WSLKERNEL_SIGN_CERT", "/secrets/release.pem")
	t.Setenv("WSLKERNEL_SIGN_KEY", "")
	s := signerFor(nil)
	if s == nil {
		t.Fatal("signerFor ignored WSLKERNEL_SIGN_CERT")
	}
	got := describeSigner(s)
	for _, want := range []string{"NOT SIGNABLE", "/secrets/release.pem", "WSLKERNEL_SIGN_KEY", "package.signing.key"} {
		if !strings.Contains(got, want) {
			t.Errorf("describeSigner = %q, want it to name %q", got, want)
		}
	}
	err := s.Check(time.Now())
	if err == nil || !strings.Contains(err.Error(), "WSLKERNEL_SIGN_KEY") {
		t.Errorf("Check = %v, want a refusal naming WSLKERNEL_SIGN_KEY", err)
	}
}

// run includes the package stage when the profile lists formats; the payloads are recorded as
// outputs; kbuild package redoes them from the last run.
func TestRunPackagesAndPackageAgain(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Package.Formats = []string{"cab", "nuget"}
	work := t.TempDir()
	_, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	var payloads []string
	for _, o := range m.Outputs {
		if o.Name == "payload" {
			payloads = append(payloads, o.Path)
		}
	}
	if got := strings.Join(payloads, " "); got != "packages/Microsoft.WSL.Kernel.6.12.118.1-1.nupkg packages/update-x64.json packages/wsl-kernel-6.12.118.1-x64.cab" {
		t.Errorf("payload outputs: %s", got)
	}
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Package(context.Background(), plan, opts, "6.12.117.1")
	if err != nil || len(files) != 3 {
		t.Fatalf("Package = %v, %v", files, err)
	}
	again, _ := manifest.Read(filepath.Join(plan.OutDir, "manifest.json"))
	n := 0
	for _, o := range again.Outputs {
		if o.Name == "payload" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("after kbuild package the manifest lists %d payloads, want 3 (replaced, not added)", n)
	}
	stages := 0
	for _, st := range again.Stages {
		if st.Name == "package" {
			stages++
		}
	}
	if stages != 1 {
		t.Errorf("after kbuild package the manifest records %d package stages, want 1", stages)
	}
	update, _ := os.ReadFile(filepath.Join(plan.OutDir, "packages", "update-x64.json"))
	if !strings.Contains(string(update), `"supersedes": "6.12.117.1"`) || !strings.Contains(string(update), `"signed": false`) {
		t.Errorf("update-x64.json:\n%s", update)
	}

	// kbuild package records its inputs as the run's stage does: a run after a package with other
	// inputs (here --supersedes) packages again, and after one with the run's own, it does not.
	_, m, _, err = runLine(t, l, work)
	if err != nil || stageStatuses(m) != "fetch:ok patch:skipped configure/x86_64:skipped branch:skipped build/x86_64:skipped initrd/x86_64:skipped boot/x86_64:skipped package:ok" {
		t.Errorf("run after package --supersedes: %v, %s", err, stageStatuses(m))
	}
	if _, err := Package(context.Background(), plan, opts, ""); err != nil {
		t.Fatal(err)
	}
	if _, m, _, err = runLine(t, l, work); err != nil || !strings.HasSuffix(stageStatuses(m), "package:skipped") {
		t.Errorf("run after package: %v, %s", err, stageStatuses(m))
	}
}

// kbuild package rewrites the run's manifest: every record the run made stays, the conformance
// boot's among them.
func TestPackageKeepsTheRunsRecords(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Package.Formats = []string{"cab"}
	work := t.TempDir()
	path, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	// As a run with conformance records it: the stage's record and the conformance boot's.
	m.Conformance = []manifest.Conformance{{Arch: "x86_64", Release: m.KernelRelease, Probes: []manifest.Probe{{Feature: "fuse", Name: "bindfs", Status: "pass"}}}}
	m.Stages = append(m.Stages, manifest.Stage{Name: stConformance, Arch: "x86_64", Status: "ok"})
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Package(context.Background(), plan, opts, ""); err != nil {
		t.Fatal(err)
	}
	after, err := manifest.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Conformance) != 1 || len(after.Builds) != 1 || len(after.Boots) != 1 || after.BranchHead != m.BranchHead || after.Reproducer != m.Reproducer {
		t.Errorf("after kbuild package: conformance %v, builds %d, boots %d, branch %s (was %s), reproducer kept %v",
			after.Conformance, len(after.Builds), len(after.Boots), after.BranchHead, m.BranchHead, after.Reproducer == m.Reproducer)
	}
}

// The signer the environment names, its time-stamping authority and the version superseded are
// resolved into the plan: kbuild plan shows them, and the package stage's key holds them.
func TestPlanResolvesTheSignerAndTheSupersededVersion(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Package.Formats = []string{"cab"}
	work := t.TempDir()
	prev := filepath.Join(work, "out", l.Name, "6.12.117.1")
	os.MkdirAll(prev, 0o755)
	(&manifest.Manifest{Schema: manifest.Schema, Status: "ok", Version: "6.12.117.1"}).Write(filepath.Join(prev, "manifest.json"))
	t.Setenv("WSLKERNEL_SIGN_CERT", "/secrets/cert.pem")
	t.Setenv("WSLKERNEL_SIGN_KEY", "/secrets/key.pem")
	t.Setenv("WSLKERNEL_SIGN_TSA", "https://tsa.example.com")
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	p, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Signer == nil || p.Signer.Cert != "/secrets/cert.pem" || p.Signer.TimestampURL != "https://tsa.example.com" || p.Supersedes != "6.12.117.1" {
		t.Fatalf("plan: signer %+v, supersedes %q; want the environment's cert and TSA, and 6.12.117.1", p.Signer, p.Supersedes)
	}
	var b strings.Builder
	p.Print(&b)
	if want := "Authenticode-signed with /secrets/cert.pem and /secrets/key.pem, timestamped by https://tsa.example.com; superseding 6.12.117.1"; !strings.Contains(b.String(), want) {
		t.Errorf("plan says\n%s\nwant it to hold %q", b.String(), want)
	}
	in := packageDerives(context.Background(), newRun(p, opts, inRun), nil)
	if in["timestamp_url"] != "https://tsa.example.com" || in["signer cert"] == "" || in["supersedes"] != "6.12.117.1" {
		t.Errorf("package key inputs %v: want the TSA, the certificate and the superseded version", in)
	}
}

// The payloads are made of the run's state: the plan's version, what fetch found, the branch's
// head, and each built arch's kernel and modules disks as the run recorded them (an arch with no
// build gives none; a kernel without modules has no disks), nothing from a manifest.
func TestPackagedIsTheRunsState(t *testing.T) {
	x86, _ := kbuild.LookupArch("x86_64")
	arm, _ := kbuild.LookupArch("arm64")
	committed := time.Date(2026, 11, 21, 12, 56, 2, 0, time.UTC)
	r := &run{plan: &Plan{Line: &config.Line{Pipeline: &config.Pipeline{Name: "linux-msft-wsl"}},
		Release: version.Release{Major: 6, Minor: 12, Patch: 118}, Version: version.Version{Upstream: version.Release{Major: 6, Minor: 12, Patch: 118}, Rev: 2},
		KernelRelease: "6.12.118.2-microsoft-standard-WSL2", Branch: "linux-msft-wsl-6.12.y", OutDir: "/out/6.12.118.2"}}
	r.st = state{upstream: manifest.Upstream{Commit: "c0ffee", CommitTime: committed, Signer: "81BD"}, branchHead: "bead",
		outputs: []manifest.File{{Name: outKernel, Arch: "x86_64", Path: "x86_64/kernel", SHA256: "k1"}, {Name: outConfig, Arch: "x86_64", Path: "x86_64/config", SHA256: "c1"},
			{Name: outModules, Arch: "x86_64", Path: "x86_64/modules.vhdx", SHA256: "m1"}, {Name: outModulesVHD, Arch: "x86_64", Path: "x86_64/modules.vhd", SHA256: "v1"},
			{Name: outArtifacts, Arch: "x86_64", Path: "x86_64/artifacts.vhd", SHA256: "a1"},
			{Name: outKernel, Arch: "arm64", Path: "arm64/kernel", SHA256: "k2"}}}
	for _, a := range []kbuild.Arch{x86, arm} {
		r.arches = append(r.arches, &archRun{a: a, build: &manifest.Build{Arch: a.Name}})
	}
	rel, builds := r.packaged()
	want := payload.Release{Line: "linux-msft-wsl", Version: "6.12.118.2", KernelRelease: "6.12.118.2-microsoft-standard-WSL2",
		Tag: "v6.12.118", Commit: "c0ffee", Signer: "81BD", CommitTime: committed, Branch: "linux-msft-wsl-6.12.y", BranchHead: "bead"}
	if rel != want {
		t.Errorf("packaged release = %+v, want %+v", rel, want)
	}
	wantBuilds := []payload.Build{
		{Arch: "x86_64", Kernel: payload.File{Path: "/out/6.12.118.2/x86_64/kernel", SHA256: "k1"},
			ModulesVHDX: payload.File{Path: "/out/6.12.118.2/x86_64/modules.vhdx", SHA256: "m1"}, ModulesVHD: payload.File{Path: "/out/6.12.118.2/x86_64/modules.vhd", SHA256: "v1"},
			Artifacts: payload.File{Path: "/out/6.12.118.2/x86_64/artifacts.vhd", SHA256: "a1"}},
		{Arch: "arm64", Kernel: payload.File{Path: "/out/6.12.118.2/arm64/kernel", SHA256: "k2"}},
	}
	if !slices.Equal(builds, wantBuilds) {
		t.Errorf("packaged builds = %+v, want %+v", builds, wantBuilds)
	}
	r.arches[1].build = nil // an arch this run did not build
	if _, builds := r.packaged(); len(builds) != 1 || builds[0].Arch != "x86_64" {
		t.Errorf("packaged builds without arm64's build = %+v", builds)
	}
}

// The NuGet package names the branch and commit it was built from (its nuspec's repository
// element), from the run's state: both in a run and in kbuild package after it.
func TestNuspecNamesTheBranchAndItsHead(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Package.Formats = []string{"nuget"}
	l.Pipeline.Publish.Remote = "https://example.com/kernel.git"
	work := t.TempDir()
	_, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	if m.Branch == "" || m.BranchHead == "" {
		t.Fatalf("the run recorded branch %q at %q; the test needs both", m.Branch, m.BranchHead)
	}
	want := `branch="` + m.Branch + `" commit="` + m.BranchHead + `"`
	nuspec := func() string {
		t.Helper()
		name := filepath.Join(work, "out", l.Name, m.Version, "packages", "Microsoft.WSL.Kernel."+m.Version+"-1.nupkg")
		z, err := zip.OpenReader(name)
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		for _, f := range z.File {
			if strings.HasSuffix(f.Name, ".nuspec") {
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
		t.Fatalf("%s holds no .nuspec", name)
		return ""
	}
	if got := nuspec(); !strings.Contains(got, want) {
		t.Errorf("the run's nuspec:\n%s\nwant it to hold %s", got, want)
	}
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Package(context.Background(), plan, opts, "6.12.117.1"); err != nil {
		t.Fatal(err)
	}
	if got := nuspec(); !strings.Contains(got, want) {
		t.Errorf("kbuild package's nuspec:\n%s\nwant it to hold %s", got, want)
	}
}
