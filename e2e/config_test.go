//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// localPipeline writes pipeline.yaml, edited by edit, into a folder that links to the
// repository's configs, patches, initrd and cmd, so a profile can be changed without touching
// the repository (for example the wsl profile pointed at the local kernel.org).
func localPipeline(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"configs", "patches", "initrd", "cmd", "keys", "conformance"} {
		if err := os.Symlink(filepath.Join(repoRoot, d), filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := edit(string(data))
	if text == string(data) {
		t.Fatal("the edit changed nothing in pipeline.yaml")
	}
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wslLocal points the wsl profile at the local kernel.org, at release.
func wslLocal(release string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, "  wsl:\n    arches: [x86_64, arm64]\n", `  wsl:
    upstream:
      releases: file://${KERNEL_ORG}/releases.json
      git: file://${KERNEL_ORG}/linux.git
      keyring: ${KERNEL_ORG}/keys.asc
      pin: `+release+`
    arches: [x86_64, arm64]
`, 1)
	}
}

func kbuildWith(t *testing.T, pipeline string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "kbuild"), append(args, "--config", pipeline, "--cache-dir", cacheDir)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// wslConfigWork keeps the trees the wsl configure tests make (on 6.12.117) between runs, as the
// smoke build's are (the wsl line's own run, on 6.12.118, has a work dir of its own, so neither
// moves the other's source tree).
func wslConfigWork() string { return filepath.Join(cacheDir, "e2e-wsl-config") }

// The wsl profile, the kernel we ship, configures cleanly on 6.12.117 for both arches: every
// requested value survives olddefconfig and the WSL policy holds; explain says who set a symbol.
func TestWslProfileConfiguresAndPassesItsPolicy(t *testing.T) {
	pipeline := localPipeline(t, wslLocal("6.12.117"))
	out, err := kbuildWith(t, pipeline, "configure", "--profile", "wsl", "--work-dir", wslConfigWork())
	if err != nil {
		t.Fatalf("kbuild configure --profile wsl: %v\n%s", err, out)
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		if !strings.Contains(out, "configure ["+arch+"]") || !strings.Contains(out, "all present, policy configs/wsl.policy holds") {
			t.Errorf("configure [%s] did not report a clean config and policy:\n%s", arch, out)
		}
	}
	// The same .config as the kernel's own merge_config.sh on the same base (defconfig's output,
	// which configure keeps as .config.base) and our fragments.
	build := filepath.Join(wslConfigWork(), "build/wsl/x86_64")
	src, err := filepath.EvalSymlinks(filepath.Join(build, "source"))
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := os.ReadFile(filepath.Join(build, ".config"))
	if want := mergeConfigSh(t, src, filepath.Join(build, ".config.base"), wslFragments(t, "x86_64")); !bytes.Equal(ours, want) {
		t.Errorf("the wsl x86_64 .config (%d bytes) differs from merge_config.sh + olddefconfig's (%d bytes)", len(ours), len(want))
	}
	out, err = kbuildWith(t, pipeline, "config", "explain", "CONFIG_HYPERV_VSOCKETS", "--profile", "wsl", "--arch", "arm64", "--work-dir", wslConfigWork())
	if err != nil {
		t.Fatalf("kbuild config explain: %v\n%s", err, out)
	}
	for _, want := range []string{"CONFIG_HYPERV_VSOCKETS=y in ", "set by configs/wsl.config:", "the final value is what was requested",
		`defined at net/vmw_vsock/Kconfig:`, "depends on: NET [=y] && VSOCKETS [=y] && HYPERV [=y]"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
}

// A fragment that turns off what another option depends on: with strict: false the dropped
// value is a warning that names the unmet dependency from the tree's Kconfig, and the WSL policy
// still refuses the config.
func TestDroppedOptionNamesTheUnmetDependencyAndPolicyRefuses(t *testing.T) {
	pipeline := localPipeline(t, func(s string) string {
		s = wslLocal("6.12.117")(s)
		return strings.Replace(s, "      policy: configs/wsl.policy\n", "      policy: configs/wsl.policy\n      strict: false\n", 1)
	})
	broken := filepath.Join(filepath.Dir(pipeline), "no-nvdimm.config")
	os.WriteFile(broken, []byte("# CONFIG_LIBNVDIMM is not set\n"), 0o644)
	data, _ := os.ReadFile(pipeline)
	data = bytes.Replace(data, []byte("x86_64: [configs/wsl-x86_64.config, configs/size-x86_64.config]"),
		[]byte("x86_64: [configs/wsl-x86_64.config, configs/size-x86_64.config, no-nvdimm.config]"), 1)
	os.WriteFile(pipeline, data, 0o644)

	out, err := kbuildWith(t, pipeline, "configure", "--profile", "wsl", "--work-dir", wslConfigWork())
	if code := exitCode(err); code != 1 {
		t.Fatalf("kbuild configure exit %d (%v), want 1:\n%s", code, err, out)
	}
	for _, want := range []string{
		"no-nvdimm.config:1: CONFIG_LIBNVDIMM=n overrides ",
		"configs/wsl.config:", "CONFIG_VIRTIO_PMEM=y was requested, but the final .config has n",
		"depends on: VIRTIO_MENU [=y] && VIRTIO [=y] && LIBNVDIMM [=n]  => n; unmet: LIBNVDIMM [=n]",
		"config.strict is false, so the build goes on",
		"breaks 1 rules of the WSL policy",
		"configs/wsl.policy:", "CONFIG_VIRTIO_PMEM must be y on x86_64 (WSLg's system distro is a pmem device), but the final .config has n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// Our merge of a base plus fragments, then olddefconfig, gives byte for byte the .config that
// the kernel's own scripts/kconfig/merge_config.sh -m followed by make olddefconfig gives: on
// Debian's real amd64 config with our WSL fragments over it.
func TestMergeEqualsMergeConfigSh(t *testing.T) {
	debian := "/usr/src/linux-config-6.12/config.amd64_none_amd64.xz"
	base := filepath.Join(t.TempDir(), "config.debian-amd64")
	xz, err := exec.Command("xz", "-dc", debian).Output()
	if err != nil {
		t.Fatalf("%s (linux-config-6.12, which scripts/setup installs): %v", debian, err)
	}
	os.WriteFile(base, xz, 0o644)
	frags := []string{"configs/wsl.config", "configs/size.config", "configs/wsl-x86_64.config", "configs/size-x86_64.config"}
	pipeline := localPipeline(t, func(s string) string {
		return strings.Replace(s, "profiles:\n", `profiles:
  debian:
    upstream:
      releases: file://${KERNEL_ORG}/releases.json
      git: file://${KERNEL_ORG}/linux.git
      keyring: ${KERNEL_ORG}/keys.asc
    arches: [x86_64]
    config:
      base: `+base+`
      fragments: [`+strings.Join(frags, ", ")+`]
      strict: false
    patches: patches/series
    initrd:
      spec: initrd/smoke.list
      programs:
        SMOKE_INIT: cmd/smokeinit
`, 1)
	})
	out, err := kbuildWith(t, pipeline, "configure", "--profile", "debian", "--work-dir", workDir)
	if err != nil {
		t.Fatalf("kbuild configure --profile debian: %v\n%s", err, out)
	}
	ours, _ := os.ReadFile(filepath.Join(workDir, "build/debian/x86_64/.config"))
	src, err := filepath.EvalSymlinks(filepath.Join(workDir, "build/debian/x86_64/source"))
	if err != nil {
		t.Fatal(err)
	}

	if want := mergeConfigSh(t, src, base, frags); len(ours) < 100000 || !bytes.Equal(ours, want) {
		t.Errorf("our .config (%d bytes) differs from merge_config.sh + olddefconfig (%d bytes)", len(ours), len(want))
	}
}

// wslFragments are the wsl profile's fragments for arch, features included (resolved by the
// pipeline's load step), in the order configure merges them, relative to the repository.
func wslFragments(t *testing.T, arch string) []string {
	t.Helper()
	p, err := pipeline.Load(filepath.Join(repoRoot, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Select("wsl")
	if err != nil {
		t.Fatal(err)
	}
	var frags []string
	for _, f := range l.Profile.Config.FragmentsFor(arch) {
		frags = append(frags, p.Rel(f))
	}
	return frags
}

// mergeConfigSh is the .config the kernel's own tools make from base and the fragments (paths
// relative to the repository), the local version included (and the EXTRAVERSION kbuild passes
// make, which the .config's header line names). merge_config.sh sees a "# series:" line as a
// comment and would take every line, so it is given each fragment as it applies to src's series
// (its Makefile's), as configure merges it: both merges see the same lines.
func mergeConfigSh(t *testing.T, src, base string, frags []string) []byte {
	t.Helper()
	theirs := t.TempDir()
	applied := t.TempDir()
	lv := filepath.Join(applied, "localversion.config")
	os.WriteFile(lv, []byte(`CONFIG_LOCALVERSION="-microsoft-standard-WSL2"`+"\n"), 0o644)
	rel, _, err := upstream.TreeRelease(src)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-m", "-O", theirs, base}
	for i, f := range frags {
		frag, err := kconfig.ParseFragmentFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := frag.ForSeries(rel.Series()).WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(applied, fmt.Sprintf("%02d-%s", i, filepath.Base(f)))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	args = append(args, lv)
	merge := exec.Command(filepath.Join(src, "scripts/kconfig/merge_config.sh"), args...)
	if b, err := merge.CombinedOutput(); err != nil {
		t.Fatalf("merge_config.sh: %v\n%s", err, b)
	}
	// RUSTC as kbuild runs make: the suite's PATH has a rustc (setup), whose version Kconfig would write.
	if b, err := exec.CommandContext(context.Background(), "make", "-s", "-C", src, "O="+theirs, "ARCH=x86_64", "EXTRAVERSION=.1", "RUSTC=false", "olddefconfig").CombinedOutput(); err != nil {
		t.Fatalf("make olddefconfig: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(filepath.Join(theirs, ".config"))
	return want
}

// Servicing a series on the real tree: a patch carrying upstream's own change to init/version.c
// between v6.12.117 and v6.12.118 applies to 6.12.117 as it is, and against 6.12.118 it is seen
// as upstreamed: kbuild patches refresh drops it from the series and deletes its file, leaving
// the other patches alone.
func TestRefreshDropsAPatchUpstreamTook(t *testing.T) {
	diff, err := exec.Command("git", "--git-dir", filepath.Join(kernelOrg, "linux.git"), "diff", "v6.12.117", "v6.12.118", "--", "init/version.c").Output()
	if err != nil || len(diff) == 0 {
		t.Fatalf("git diff v6.12.117 v6.12.118 -- init/version.c: %v", err)
	}
	pipeline := localPipeline(t, func(s string) string { return s + "\n" })
	dir := filepath.Dir(pipeline)
	// A real copy of patches/, which refresh rewrites, not the repository's.
	os.Remove(filepath.Join(dir, "patches"))
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot, "patches"), filepath.Join(dir, "patches")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	name := "0003-init-backport-the-version-banner-change.patch"
	mail := "From 5555555555555555555555555555555555555555 Mon Sep 17 00:00:00 2001\n" +
		"From: Stable Backporter <stable@example.invalid>\nDate: Mon, 23 Nov 2026 09:00:00 +0000\n" +
		"Subject: [PATCH] init: backport the version banner change\n\nCarried until the next stable release has it.\n---\n" + string(diff) + "-- \n2.39.5\n\n"
	os.WriteFile(filepath.Join(dir, "patches", name), []byte(mail), 0o644)
	series := filepath.Join(dir, "patches/series")
	f, _ := os.OpenFile(series, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(name + "\n")
	f.Close()

	out, err := kbuildWith(t, pipeline, "patches", "refresh", "--profile", "smoke", "--release", "6.12.117", "--work-dir", t.TempDir())
	if err != nil || !strings.Contains(out, "the series applies to v6.12.117 as it is: nothing to refresh") {
		t.Fatalf("refresh on 6.12.117: %v\n%s", err, out)
	}
	out, err = kbuildWith(t, pipeline, "patches", "refresh", "--profile", "smoke", "--work-dir", t.TempDir())
	if err != nil {
		t.Fatalf("refresh on 6.12.118: %v\n%s", err, out)
	}
	if !strings.Contains(out, name+`: "init: backport the version banner change" is upstream in v6.12.118: dropped`) {
		t.Errorf("refresh output:\n%s", out)
	}
	text, _ := os.ReadFile(series)
	if !strings.Contains(string(text), "# upstream in v6.12.118: "+name+"\n") || !strings.Contains(string(text), "\n0002-") {
		t.Errorf("series after refresh:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(dir, "patches", name)); !os.IsNotExist(err) {
		t.Errorf("the upstreamed patch file is still there: %v", err)
	}
	for _, p := range []string{"0001-Microsoft-add-instructions-for-building-the-WSL-kern.patch", "0002-Microsoft-add-the-modules.vhdx-script-and-point-at-t.patch"} {
		a, _ := os.ReadFile(filepath.Join(dir, "patches", p))
		b, _ := os.ReadFile(filepath.Join(repoRoot, "patches", p))
		if !bytes.Equal(a, b) {
			t.Errorf("refresh changed %s, which applies as it is", p)
		}
	}
}
