//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/payload"
	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/winetest"
)

// The smoke release's MSI under a real installer: Wine's msiexec, in a prefix the test makes,
// through winetest.CheckMSI's whole life (refusals of build 18362, of arm64 Windows and of an
// unreadable .wslconfig; install, upgrade, refused downgrade, uninstall; a failing custom action
// rolled back). The upgrade is to revision 6.12.118.2 of the same kernel, packaged here as the
// package stage packages the smoke line (payload.Make with the smoke profile's package settings)
// from the shared run's build, only its version one revision on: the version scheme's rebuild
// of the same upstream release.
func TestSmokeMSIUnderWine(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	testtool.Need(t, "wixl", "msiinfo", "faketime", "wine", "wineserver")
	out := filepath.Dir(manifestAt)
	// A copy: TestPackageSignsWithTheEnvironmentsCertificate packages the shared run again.
	old := filepath.Join(t.TempDir(), "wsl-kernel-6.12.118.1-x64.msi")
	data, err := os.ReadFile(filepath.Join(out, payload.Dir, filepath.Base(old)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, data, 0o644); err != nil {
		t.Fatal(err)
	}

	p, err := config.Load(filepath.Join(repoRoot, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := p.Select("smoke")
	if err != nil {
		t.Fatal(err)
	}
	pk := line.Profile.Package
	// The release as the package stage fills it from the run's state, here from the shared run's
	// record, as of revision .2, with its x86_64 build only (the MSI is x64's), which it reads
	// from the shared run's folder.
	m := manifestRun
	rel := payload.Release{Line: m.Pipeline, Version: "6.12.118.2", KernelRelease: m.KernelRelease, Tag: m.Upstream.Tag,
		Commit: m.Upstream.Commit, Signer: m.Upstream.Signer, CommitTime: m.Upstream.CommitTime, Branch: m.Branch, BranchHead: m.BranchHead}
	build := payload.Build{Arch: "x86_64"}
	for name, to := range map[string]*payload.File{"kernel": &build.Kernel, "modules": &build.ModulesVHDX, "modules-vhd": &build.ModulesVHD} {
		i := slices.IndexFunc(m.Outputs, func(f manifest.File) bool { return f.Name == name && f.Arch == "x86_64" })
		if i < 0 {
			t.Fatalf("the shared run's manifest lists no %s for x86_64", name)
		}
		*to = payload.File{Path: filepath.Join(out, m.Outputs[i].Path), SHA256: m.Outputs[i].SHA256}
	}
	next := t.TempDir()
	if _, err := payload.Make(context.Background(), payload.Options{OutDir: next, Release: rel, Builds: []payload.Build{build}, Formats: []string{"msi"}, Product: pk.Product,
		Manufacturer: p.Name, MinWindowsBuild: pk.MinWindowsBuild, ActionSource: filepath.Join(repoRoot, "cmd", "wslconfig-action")}); err != nil {
		t.Fatal(err)
	}

	files := map[string][]byte{}
	for _, name := range []string{"kernel", "modules.vhdx"} {
		if files[name], err = os.ReadFile(filepath.Join(out, "x86_64", name)); err != nil {
			t.Fatal(err)
		}
	}
	product, minBuild := pk.Product, pk.MinWindowsBuild
	if product == "" {
		product = "Windows Subsystem for Linux Kernel" // payload's default
	}
	if minBuild == 0 {
		minBuild = 19041
	}
	winetest.CheckMSI(t, winetest.MSIs{Product: product, MinWindowsBuild: minBuild,
		Old: old, New: filepath.Join(next, payload.Dir, "wsl-kernel-6.12.118.2-x64.msi"), OldVersion: "6.12.118.1", NewVersion: "6.12.118.2",
		Files: files})
}
