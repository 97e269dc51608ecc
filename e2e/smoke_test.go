//go:build e2e

// Package e2e runs the real pipeline on the real kernel: the local kernel.org that scripts/mirror
// makes from Debian's linux-source-6.12 (with a second series, Debian's newest linux-source, which
// scripts/test adds), kbuild run --profile smoke, and a qemu boot. One kernel
// build is shared by every case (TestMain) and kept between runs under the cache folder, with
// ccache, so only the first run on a machine pays for a full build.
//
// What the suite shares, and with whom: each case's result must not depend on what ran before
// it on the machine (the demo, an earlier suite, a killed run), so what a case asserts on is
// what it made itself.
//   - Shared with the demo and every run on the machine, read-only or keyed by their inputs: the
//     local kernel.org (scripts/mirror), the compiler cache (ccache), the conformance userland
//     image (keyed by its package list and guest files), Go's caches.
//   - Shared by the suite's cases, owned by the suite: its view of the local kernel.org, named
//     after that kernel.org's signing key (kernelOrgView), and so its mirrors and tarball cache,
//     which a rebuilt kernel.org never finds holding another key's tags.
//   - Owned by TestMain: e2e-work, the servicing run's work dir. Its out/ is removed first so
//     every stage of the servicing runs really runs; its source and build trees are kept, as a
//     servicing machine keeps them, and each run proves what it reused by the release it boots
//     and the bytes it makes (TestStepBackToAPulledPointRelease). The cases that read it
//     (servicing, smoke, manifest, package, publish, install) assert on those runs' records.
//   - Owned by one case each: e2e-work/verify (TestVerifyFindsTheSmokeBuildReproducible; kbuild
//     verify removes its build and output first), e2e-wsl-work (TestWslLineEndToEnd; out/ removed
//     first), e2e-wsl-config (the configure cases on 6.12, and in its port/
//     the port of that line to the next series, TestPortTakesTheWslLineToTheNextSeries),
//     e2e-custom-work (TestCustomKernelOnTheSmokeLine),
//     and every t.TempDir().
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

var (
	repoRoot  string
	bin       string // folder holding the kbuild and kpublish binaries
	kernelOrg string
	cacheDir  string
	workDir   string
	// the shared run
	runOut      string
	runErr      error
	manifestRun *manifest.Manifest
	manifestAt  string
)

const wantRelease = "6.12.118.1-microsoft-standard-WSL2"

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	userCache, _ := os.UserCacheDir()
	cacheDir = filepath.Join(userCache, "wslkernel")
	workDir = envOr("WSLKERNEL_E2E_WORK", filepath.Join(cacheDir, "e2e-work"))
	var err error
	kernelOrg = os.Getenv("KERNEL_ORG")
	if kernelOrg == "" {
		out, err := exec.Command(filepath.Join(repoRoot, "scripts/mirror")).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "scripts/mirror: %v\n", err)
			return 1
		}
		kernelOrg = strings.TrimSpace(string(out))
		os.Setenv("KERNEL_ORG", kernelOrg)
	}
	bin, err = os.MkdirTemp("", "wslkernel-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/kbuild", "./cmd/kpublish")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	// A machine with a Rust toolchain on PATH, as rustup leaves one: Kconfig asks rustc for its
	// version, and what kbuild configures must not depend on the answer (see
	// TestTheBuiltTreeIsPatchedAndConfigured).
	rustc := "#!/bin/sh\necho 'rustc 1.95.0 (59807616e 2026-04-14)'\necho 'binary: rustc'\necho 'release: 1.95.0'\necho 'LLVM version: 22.1.2'\n"
	if err := os.WriteFile(filepath.Join(bin, "rustc"), []byte(rustc), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The smoke profile reads KERNEL_ORG: from here on a view of the local kernel.org whose
	// releases.json first offers only 6.12.117 (servicing_test.go).
	view, err := kernelOrgView()
	if err != nil {
		fmt.Fprintf(os.Stderr, "the suite's view of the local kernel.org: %v\n", err)
		return 1
	}
	os.Setenv("KERNEL_ORG", view)
	start := time.Now()
	serviceInLockStep()
	fmt.Fprintf(os.Stderr, "shared servicing runs took %s\n", time.Since(start).Round(time.Second))
	if matches, _ := filepath.Glob(filepath.Join(workDir, "out/smoke/6.12.118.1/manifest.json")); len(matches) == 1 {
		manifestAt = matches[0]
		manifestRun, _ = manifest.Read(manifestAt)
	}
	return m.Run()
}

// kernelOrgView names the suite's view of the local kernel.org after that kernel.org's signing
// key, which scripts/mirror makes anew whenever it rebuilds it. The view's URL names the suite's
// mirrors and tarball cache, so a rebuilt kernel.org (a new Debian point release, a new recipe)
// gets mirrors of its own instead of finding the old one's tags there, "re-tagged"; the views of
// earlier kernel.orgs are removed with their mirrors and tarballs.
func kernelOrgView() (string, error) {
	fpr, err := os.ReadFile(filepath.Join(kernelOrg, "signer.fpr"))
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(fpr))
	if len(id) < 16 {
		return "", fmt.Errorf("%s/signer.fpr: %q is no fingerprint", kernelOrg, id)
	}
	view := filepath.Join(cacheDir, "e2e-kernel.org-"+id[:16])
	old, _ := filepath.Glob(filepath.Join(cacheDir, "e2e-kernel.org*"))
	for _, dir := range old {
		if dir == view {
			continue
		}
		fmt.Fprintf(os.Stderr, "removing %s, the view of an earlier local kernel.org, with its mirror and tarballs\n", dir)
		mirror := upstream.MirrorDir(cacheDir, "file://"+dir+"/linux.git")
		for _, gone := range []string{mirror, mirror + ".lock", upstream.TarballCache(cacheDir, "file://"+dir), dir} {
			if err := os.RemoveAll(gone); err != nil {
				return "", err
			}
		}
	}
	return view, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), append(args, "--config", filepath.Join(repoRoot, "pipeline.yaml"))...)
	cmd.Dir = repoRoot
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// kbuild runs the built kbuild, with the shared cache unless the caller names its own.
func kbuild(ctx context.Context, args ...string) (string, error) {
	if !slices.Contains(args, "--cache-dir") {
		args = append(args, "--cache-dir", cacheDir)
	}
	return command(ctx, "kbuild", args...)
}

// Both arches boot under qemu (x86_64 on the pc machine, arm64 cross-built on virt) with
// modules.vhdx attached: the init reports the release the scheme gives, mounts the disk as WSL
// does and loads the profile's module from it.
func TestSmokeRunBootsTheVersionTheSchemeGives(t *testing.T) {
	if runErr != nil {
		t.Fatalf("kbuild run --profile smoke: %v\n%s", runErr, runOut)
	}
	for arch, machine := range map[string]string{"x86_64": "x86_64", "arm64": "aarch64"} {
		want := fmt.Sprintf("boot [%s]", arch)
		i := strings.Index(runOut, want)
		if i < 0 || !strings.HasPrefix(strings.TrimSpace(runOut[i+len(want):]), "init reports "+wantRelease+", loaded crc_itu_t from modules.vhdx") {
			t.Errorf("kbuild run output lacks %q with the module loaded:\n%s", want, runOut)
		}
		console, err := os.ReadFile(filepath.Join(workDir, "out/smoke/6.12.118.1", arch, "console.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, marker := range []string{"WSLKERNEL-SMOKE-INIT release=" + wantRelease + " machine=" + machine,
			"WSLKERNEL-SMOKE-INIT module=crc_itu_t loaded from /dev/vda"} {
			if !bytes.Contains(console, []byte(marker)) {
				t.Errorf("%s: the console log lacks the init's line %q", arch, marker)
			}
		}
	}
}

// kbuild verify --no-cache rebuilds the smoke kernel from clean in another directory, without a
// compiler cache, and finds kernel, config, initrd, both modules disks (modules.vhdx and
// modules.vhd), the installed modules tree and headers byte-identical.
// With --payloads it packages that rebuild too: every CAB, the MSI and the NuGet package come out
// byte-identical to the run's, both arches: a clean build in its own folder, compiled without
// a compiler cache (--no-cache), identical to the run's (incremental) one through ccache: the
// real kernel's proof that a build through the cache is a build without it (kbuild's
// TestCcacheRemoteStorageSharesCompilationsBetweenWorkDirs proves it on a kernel-shaped tree
// with debug info). Without the cache the rebuild is also cheaper on a fresh machine: ccache's
// misses cost about 45% over plain gcc.
func TestVerifyFindsTheSmokeBuildReproducible(t *testing.T) {
	if runErr != nil {
		t.Skip("no shared run")
	}
	for _, in := range []string{"verify"} {
		out, err := kbuild(context.Background(), "verify", "--profile", "smoke", "--payloads", "--no-cache", "--in", in, "--work-dir", workDir)
		if err != nil {
			t.Fatalf("kbuild verify --payloads --in %s: %v\n%s", in, err, out)
		}
		for _, arch := range []string{"x86_64", "arm64"} {
			for _, name := range []string{"kernel", "config", "initrd", "modules", "modules-vhd", "modules-tree", "headers"} {
				if !regexp.MustCompile(`(?m)^` + name + ` \[` + arch + `\] +identical +[0-9a-f]{64}$`).MatchString(out) {
					t.Errorf("kbuild verify --in %s does not report %s [%s] identical:\n%s", in, name, arch, out)
				}
			}
		}
		for _, name := range []string{"wsl-kernel-6.12.118.1-x64.cab", "wsl-kernel-6.12.118.1-arm64.cab", "wsl-kernel-6.12.118.1-x64.msi",
			"Microsoft.WSL.Kernel.6.12.118.1-1.nupkg", "update-x64.json", "update-arm64.json"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` +identical +[0-9a-f]{64}$`).MatchString(out) {
				t.Errorf("kbuild verify --payloads --in %s does not report %s identical:\n%s", in, name, out)
			}
		}
		// The run compiled through ccache, the rebuild without any: identical bytes say a build
		// through the cache is a build without it, on the real kernel.
		if n := strings.Count(out, "no compiler cache"); n != 2 {
			t.Errorf("kbuild verify --no-cache built %d arches without a compiler cache, want 2:\n%s", n, out)
		}
		if !strings.Contains(out, filepath.Join(workDir, in, "src")) {
			t.Errorf("kbuild verify built elsewhere than %s/%s:\n%s", workDir, in, out)
		}
	}
}

// headers_install, asked for by the smoke profile, gives the UAPI headers of this release.
func TestHeadersAreInstalled(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		version, err := os.ReadFile(filepath.Join(filepath.Dir(manifestAt), arch, "headers/include/linux/version.h"))
		if err != nil || !bytes.Contains(version, []byte("#define LINUX_VERSION_CODE 396406\n")) {
			t.Errorf("%s headers: version.h %q, %v; want LINUX_VERSION_CODE 396406 (6.12.118)", arch, version, err)
		}
	}
}

func TestManifestRecordsInputsOutputsAndTrust(t *testing.T) {
	m := manifestRun
	if m == nil {
		t.Fatalf("no manifest at %s/out/smoke/6.12.118.1/manifest.json", workDir)
	}
	if m.Status != "ok" || m.KernelRelease != wantRelease || m.Version != "6.12.118.1" {
		t.Errorf("manifest status %q, release %q, version %q", m.Status, m.KernelRelease, m.Version)
	}
	if m.Tag != "linux-msft-wsl-6.12.118.1" || m.Branch != "linux-msft-wsl-6.12.y" {
		t.Errorf("manifest tag %q branch %q", m.Tag, m.Branch)
	}
	fpr, err := os.ReadFile(filepath.Join(kernelOrg, "signer.fpr"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Upstream.Signer != strings.TrimSpace(string(fpr)) || m.Upstream.Tag != "v6.12.118" || len(m.Upstream.Commit) != 40 {
		t.Errorf("manifest upstream = %+v, want tag v6.12.118 signed by %s", m.Upstream, fpr)
	}
	tagCommit, err := exec.Command("git", "--git-dir", filepath.Join(kernelOrg, "linux.git"), "rev-parse", "v6.12.118^{commit}").Output()
	if err != nil {
		t.Fatal(err)
	}
	if m.Upstream.Commit != strings.TrimSpace(string(tagCommit)) {
		t.Errorf("manifest commit %s, the tag points at %s", m.Upstream.Commit, tagCommit)
	}
	// Build metadata: the toolchain /proc/version will name, the image size, and vmlinux's
	// sections as GNU size sums them.
	if len(m.Builds) != 2 || m.Builds[0].Arch != "x86_64" || m.Builds[1].Arch != "arm64" || !strings.Contains(m.Builds[1].Toolchain, "aarch64-linux-gnu-gcc") || len(m.Builds[1].ModulesDigest) != 64 {
		t.Errorf("manifest builds = %+v", m.Builds)
	}
	if !strings.Contains(m.Builds[0].Toolchain, "gcc") || m.Builds[0].ImageBytes < 100000 || m.Builds[0].Release != wantRelease {
		t.Errorf("manifest builds = %+v", m.Builds)
	} else if out, err := exec.Command("size", filepath.Join(workDir, "build/smoke/x86_64/vmlinux")).Output(); err != nil {
		t.Errorf("size vmlinux: %v", err)
	} else if f := strings.Fields(strings.Split(string(out), "\n")[1]); f[0] != fmt.Sprint(m.Builds[0].VmlinuxText) || f[1] != fmt.Sprint(m.Builds[0].VmlinuxData) || f[2] != fmt.Sprint(m.Builds[0].VmlinuxBSS) {
		t.Errorf("size vmlinux says %v, the manifest %+v", f[:3], m.Builds[0])
	}
	if len(m.Patches) != 2 || !strings.HasPrefix(m.Patches[0].Subject, "Microsoft: add instructions") || !strings.HasPrefix(m.Patches[1].Subject, "Microsoft: add the modules.vhdx script") {
		t.Errorf("manifest patches = %+v", m.Patches)
	}
	outputs := map[string]bool{}
	for _, o := range m.Outputs {
		outputs[o.Name+"/"+o.Arch] = true
		got, err := manifest.Describe(o.Name, o.Arch, filepath.Join(filepath.Dir(manifestAt), o.Path))
		if err != nil {
			t.Errorf("output %s: %v", o.Path, err)
			continue
		}
		if got.SHA256 != o.SHA256 || got.Size != o.Size || o.Size == 0 {
			t.Errorf("output %s: on disk %d bytes sha256 %s; manifest says %d bytes %s", o.Path, got.Size, got.SHA256, o.Size, o.SHA256)
		}
	}
	for _, want := range []string{"kernel/x86_64", "config/x86_64", "initrd/x86_64", "modules/x86_64", "headers/x86_64",
		"kernel/arm64", "config/arm64", "initrd/arm64", "modules/arm64", "headers/arm64"} {
		if !outputs[want] {
			t.Errorf("manifest outputs lack %s: %+v", want, m.Outputs)
		}
	}
	inputs := map[string]bool{}
	for _, in := range m.Inputs {
		inputs[in.Path] = in.SHA256 != ""
	}
	for _, want := range []string{"pipeline.yaml", "configs/smoke.config", "patches/series", "initrd/smoke.list"} {
		if !inputs[want] {
			t.Errorf("manifest inputs lack %s: %+v", want, m.Inputs)
		}
	}
	stages := map[string]string{}
	for _, s := range m.Stages {
		stages[s.Name+"/"+s.Arch] = s.Status
	}
	for _, want := range []string{"fetch/", "patch/", "branch/", "configure/x86_64", "build/x86_64", "modules/x86_64", "headers/x86_64", "initrd/x86_64", "boot/x86_64",
		"configure/arm64", "build/arm64", "modules/arm64", "headers/arm64", "initrd/arm64", "boot/arm64", "package/"} {
		if stages[want] != "ok" && stages[want] != "skipped" { // skipped: done by the killed run before it
			t.Errorf("stage %s: %q, want ok or skipped (stages: %+v)", want, stages[want], m.Stages)
		}
	}
	if len(m.Boots) != 2 {
		t.Errorf("manifest boots = %+v", m.Boots)
	}
	for _, b := range m.Boots {
		if b.Release != wantRelease || b.InitSeconds <= 0 || b.Module != "crc_itu_t" {
			t.Errorf("manifest boot = %+v", b)
		}
	}
}

func TestTheBuiltTreeIsPatchedAndConfigured(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	config, err := os.ReadFile(filepath.Join(filepath.Dir(manifestAt), "x86_64/config"))
	if err != nil {
		t.Fatal(err)
	}
	// RUSTC_VERSION=0 although the suite's PATH has a rustc that answers 1.95.0 (setup).
	for _, want := range []string{`CONFIG_LOCALVERSION="-microsoft-standard-WSL2"`, "CONFIG_SERIAL_8250_CONSOLE=y", "# CONFIG_LOCALVERSION_AUTO is not set", "CONFIG_RUSTC_VERSION=0"} {
		if !bytes.Contains(config, []byte(want+"\n")) {
			t.Errorf("the shipped config lacks %q", want)
		}
	}
	srcs, _ := filepath.Glob(filepath.Join(workDir, "src/*/Microsoft/README.rst"))
	if len(srcs) == 0 {
		t.Errorf("no source tree under %s/src holds the patch's Microsoft/README.rst", workDir)
	}
}

func TestPlanPrintsWithoutBuilding(t *testing.T) {
	out, err := kbuild(context.Background(), "plan", "--profile", "smoke", "--work-dir", t.TempDir())
	if err != nil {
		t.Fatalf("kbuild plan: %v\n%s", err, out)
	}
	for _, want := range []string{"upstream v6.12.118", "uname -r " + wantRelease, "tag linux-msft-wsl-6.12.118.1", "boot       [x86_64] qemu-system-x86_64", "boot       [arm64] qemu-system-aarch64"} {
		if !strings.Contains(out, want) {
			t.Errorf("kbuild plan output lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"kbuild", "--help"}, {"kbuild", "run", "--help"}, {"kbuild", "plan", "--help"}, {"kpublish", "--help"}} {
		out, err := exec.Command(filepath.Join(bin, args[0]), args[1:]...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage:") {
			t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestKpublishDryRunListsTheRelease(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	out, err := command(context.Background(), "kpublish", "--manifest", manifestAt, "--dry-run")
	if err != nil {
		t.Fatalf("kpublish --dry-run: %v\n%s", err, out)
	}
	for _, o := range manifestRun.Outputs {
		if o.Name != "headers" && !strings.Contains(out, o.SHA256) { // headers are a folder, not an asset
			t.Errorf("dry run does not list %s (%s):\n%s", o.Path, o.SHA256, out)
		}
	}
	for _, want := range []string{"tag linux-msft-wsl-6.12.118.1", "branch linux-msft-wsl-6.12.y", "config-wsl ", "manifest.json"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
}

// A tag signed by a key the keyring does not hold must stop the run at fetch, before any build.
func TestUntrustedSignerIsRefused(t *testing.T) {
	other := t.TempDir()
	gnupg := filepath.Join(other, "gnupg")
	os.Mkdir(gnupg, 0o700)
	gen := exec.Command("gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Mallory <m@example.invalid>", "ed25519", "sign", "never")
	gen.Env = append(os.Environ(), "GNUPGHOME="+gnupg)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gpg: %v\n%s", err, out)
	}
	export := exec.Command("gpg", "--batch", "--armor", "--export")
	export.Env = gen.Env
	key, err := export.Output()
	if err != nil {
		t.Fatal(err)
	}
	// A kernel.org view with the same repo and releases.json but another keyring.
	for _, name := range []string{"linux.git", "releases.json"} {
		if err := os.Symlink(filepath.Join(kernelOrg, name), filepath.Join(other, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(other, "keys.asc"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "kbuild"), "run", "--profile", "smoke", "--work-dir", work,
		"--cache-dir", t.TempDir(), "--config", filepath.Join(repoRoot, "pipeline.yaml"))
	cmd.Env = append(os.Environ(), "KERNEL_ORG="+other)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kbuild run with a foreign keyring succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "untrusted tag: v6.12.118 is signed by key ") || !strings.Contains(string(out), "which is not in the keyring "+filepath.Join(other, "keys.asc")) {
		t.Errorf("error does not say the tag is untrusted:\n%s", out)
	}
	m, err := manifest.Read(filepath.Join(work, "out/smoke/6.12.118.1/manifest.json"))
	if err != nil {
		t.Fatalf("a failed run must still write its manifest: %v", err)
	}
	if m.Status != "failed" || len(m.Outputs) != 0 {
		t.Errorf("failed run's manifest: status %q, %d outputs", m.Status, len(m.Outputs))
	}
	data, _ := json.Marshal(m.Stages)
	if !strings.Contains(string(data), `"name":"fetch","status":"failed"`) {
		t.Errorf("stages %s: want fetch failed", data)
	}
	// The first fetch wrote the tree as the pack arrived, before the signature could be
	// checked: nothing of it may be left for a build to use.
	if left, _ := os.ReadDir(filepath.Join(work, "src")); len(left) != 0 {
		t.Errorf("the refused tag's tree is still in %s: %v", filepath.Join(work, "src"), left)
	}
}

// kbuild check && kbuild run: check exits 3 once the newest release is built, 0 when it is not.
func TestCheckExitCodesForCron(t *testing.T) {
	if runErr != nil {
		t.Skip("the shared run failed")
	}
	out, err := kbuild(context.Background(), "check", "--profile", "smoke", "--work-dir", workDir)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(out, "upstream 6.12.118; last build 6.12.118: up to date") {
		t.Errorf("check after the build: %v\n%s", err, out)
	}
	out, err = kbuild(context.Background(), "check", "--profile", "smoke", "--work-dir", t.TempDir())
	if err != nil || !strings.Contains(out, "upstream 6.12.118; nothing built yet") {
		t.Errorf("check on an empty work dir: %v\n%s", err, out)
	}
}

// The source tree is exactly the tag's tree plus the patches, made both ways: written as the
// pack arrives (a first fetch, empty mirror) and exported from the shared mirror (the shared run
// may reuse an older tree). git itself, reading the tag into a scratch index, sees no difference
// but the folder our patch adds (contents, modes, symlinks).
func TestSourceTreeIsExactlyTheTagPlusPatches(t *testing.T) {
	for _, tc := range []struct{ name, cache, how string }{
		{"first fetch", t.TempDir(), "files written to"},
		{"from the mirror", cacheDir, "exported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := kbuild(context.Background(), "fetch", "--profile", "smoke", "--work-dir", t.TempDir(), "--cache-dir", tc.cache)
			if err != nil {
				t.Fatalf("kbuild fetch --profile smoke: %v\n%s", err, out)
			}
			if !strings.Contains(out, tc.how) {
				t.Errorf("the tree was not made as this case means to (%q):\n%s", tc.how, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			src := lines[len(lines)-1]
			if got := statusAgainst(t, src, "v6.12.118"); got != "?? Microsoft/\n" {
				t.Errorf("git status of the source tree against v6.12.118:\n%s\nwant only the patch's new folder (?? Microsoft/)", got)
			}
		})
	}
}

// statusAgainst is `git status --porcelain` of a plain folder compared with a tag of the local
// kernel.org, through a scratch index: git itself judges contents, modes and symlinks.
func statusAgainst(t *testing.T, src, tag string) string {
	t.Helper()
	env := scratchIndexEnv(t, filepath.Join(kernelOrg, "linux.git"), src)
	var out []byte
	for _, args := range [][]string{{"read-tree", tag}, {"status", "--porcelain", "--untracked-files=normal"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = src, env
		var err error
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return string(out)
}

// scratchIndexEnv points git at a repository, a plain folder as its work tree and a throwaway
// index, so git can compare the folder with any revision without touching either.
func scratchIndexEnv(t *testing.T, gitDir, src string) []string {
	return append(os.Environ(), "GIT_INDEX_FILE="+filepath.Join(t.TempDir(), "index"), "GIT_DIR="+gitDir, "GIT_WORK_TREE="+src)
}

// The tarball path on the real kernel: kernel.org's signed linux-6.12.118.tar.xz gives the same
// tree as the signed git tag (git status against v6.12.118 sees only the patch's folder).
func TestTarballSourceGivesTheSameTree(t *testing.T) {
	work := t.TempDir()
	out, err := kbuild(context.Background(), "fetch", "--profile", "smoke-tarball", "--work-dir", work, "--cache-dir", t.TempDir())
	if err != nil {
		t.Fatalf("kbuild fetch --profile smoke-tarball: %v\n%s", err, out)
	}
	if !strings.Contains(out, "linux-6.12.118.tar.xz (tarball), signed by") {
		t.Errorf("fetch output:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := statusAgainst(t, lines[len(lines)-1], "v6.12.118"); got != "?? Microsoft/\n" {
		t.Errorf("git status of the tarball's tree against v6.12.118:\n%s", got)
	}
}

// kbuild config diff prints exactly what the kernel's scripts/diffconfig prints, on real configs:
// the shipped smoke config against the tree's x86_64_defconfig.
func TestConfigDiffMatchesScriptsDiffconfig(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	srcs, _ := filepath.Glob(filepath.Join(workDir, "src/*/scripts/diffconfig"))
	if len(srcs) == 0 {
		t.Fatal("no source tree with scripts/diffconfig")
	}
	src := filepath.Dir(filepath.Dir(srcs[0]))
	a := filepath.Join(src, "arch/x86/configs/x86_64_defconfig")
	b := filepath.Join(filepath.Dir(manifestAt), "x86_64/config")
	want, err := exec.Command("python3", srcs[0], a, b).Output()
	if err != nil {
		t.Fatalf("scripts/diffconfig: %v", err)
	}
	got, err := exec.Command(filepath.Join(bin, "kbuild"), "config", "diff", a, b).Output()
	if err != nil {
		t.Fatalf("kbuild config diff: %v", err)
	}
	if string(got) != string(want) || len(want) < 100 {
		t.Errorf("kbuild config diff differs from scripts/diffconfig (%d vs %d bytes)", len(got), len(want))
	}
}
