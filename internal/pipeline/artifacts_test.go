package pipeline

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// modulesLine is a line whose kernel has modules, in a tree that has the kernel's
// install-extmod-build (a link to its scripts/run.sh: make is the fake's).
func modulesLine(t *testing.T) *config.Line {
	korg, _ := upstreamFixtureLinks(t, map[string]string{extmodScript: "../run.sh"})
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\nCONFIG_MODULES=y\n", "series": ""})
	l.Profile.Package.Formats = []string{"nuget"}
	return l
}

func outputOf(m *manifest.Manifest, name, arch string) *manifest.File {
	i := slices.IndexFunc(m.Outputs, func(f manifest.File) bool { return f.Name == name && f.Arch == arch })
	if i < 0 {
		return nil
	}
	return &m.Outputs[i]
}

// Switching package.modules_disk to artifacts runs the modules stage again, not the build: it
// installs the headers with the kernel's install-extmod-build through make run-command, adds
// the build's .config, and makes artifacts.vhd laid out for the kernel's release, which the NuGet
// package then carries in place of modules.vhd. The flat run before it made no such disk.
func TestArtifactsDiskComesFromTheModulesStage(t *testing.T) {
	testtool.Need(t, "mke2fs", "debugfs")
	l := modulesLine(t)
	work := t.TempDir()
	_, flat, fake, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("the flat run: %v", err)
	}
	if outputOf(flat, outArtifacts, "x86_64") != nil || outputOf(flat, outModulesVHD, "x86_64") == nil || slices.ContainsFunc(fake.lines, func(s string) bool { return strings.Contains(s, "run-command") }) {
		t.Fatalf("the flat run made %v and ran make %v", flat.Outputs, fake.makes)
	}

	flatOut := filepath.Join(work, "out", l.Name, flat.Version)
	if disk, name, err := InstalledDisk(flatOut, flat, "x86_64"); err != nil || name != "modules.vhdx" || disk != filepath.Join(flatOut, "x86_64/modules.vhdx") {
		t.Errorf("the flat run's installed disk: %s as %s, %v", disk, name, err)
	}

	l.Profile.Package.ModulesDisk = config.ModulesDiskArtifacts
	path, m, fake, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("the artifacts run: %v", err)
	}
	if got := stageStatuses(m); !strings.Contains(got, "build/x86_64:skipped modules/x86_64:ok") || !strings.Contains(got, "package:ok") {
		t.Errorf("switching the layout: stages %s; want the build skipped, modules and package run", got)
	}
	out := filepath.Dir(path)
	headers := filepath.Join(out, "x86_64", "artifacts-root", m.KernelRelease, "linux-headers")
	if !slices.ContainsFunc(fake.lines, func(s string) bool {
		return strings.HasSuffix(s, " run-command KBUILD_RUN_COMMAND=${srctree}/"+extmodScript+" "+headers)
	}) {
		t.Errorf("no make run-command of install-extmod-build into %s among:\n%s", headers, strings.Join(fake.lines, "\n"))
	}
	art := outputOf(m, outArtifacts, "x86_64")
	if art == nil || art.Path != "x86_64/"+moddisk.ArtifactsName {
		t.Fatalf("outputs %v: want x86_64/artifacts.vhd", m.Outputs)
	}
	disk := filepath.Join(out, art.Path)
	if err := moddisk.CheckArtifacts(context.Background(), runner.Exec{}, disk, m.KernelRelease); err != nil {
		t.Errorf("the stage's disk: %v", err)
	}
	if got, name, err := InstalledDisk(out, m, "x86_64"); err != nil || name != moddisk.ArtifactsName || got != disk {
		t.Errorf("kbuild install would install %s as %s (%v); want %s as artifacts.vhd", got, name, err, disk)
	}
	debugfs := testtool.Need(t, "debugfs")[0]
	dotconfig, _ := exec.Command(debugfs, "-R", "cat /"+m.KernelRelease+"/linux-headers/.config", disk).Output()
	built, _ := os.ReadFile(filepath.Join(out, "x86_64", "config"))
	if len(built) == 0 || string(dotconfig) != string(built) {
		t.Errorf("the headers' .config:\n%s\nthe build's:\n%s", dotconfig, built)
	}
	if _, err := os.Stat(filepath.Join(out, "x86_64", "artifacts-root")); !os.IsNotExist(err) {
		t.Errorf("the disk's scratch tree is left: %v", err)
	}
	z, err := zip.OpenReader(filepath.Join(out, "packages", "Microsoft.WSL.Kernel."+m.Version+"-1.nupkg"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var bins []string
	for _, f := range z.File {
		if strings.HasPrefix(f.Name, "build/") {
			bins = append(bins, f.Name)
		}
	}
	if want := []string{"build/native/bin/x64/kernel", "build/native/bin/x64/artifacts.vhd"}; !slices.Equal(bins, want) {
		t.Errorf("the NuGet package holds %v, want %v", bins, want)
	}
}

// kbuild plan says which modules disk the payloads carry and where that was set, and shows the
// make command that installs the headers; the setting is in the release's inputs only when it
// asks for artifacts (the flat default changes no earlier run's digest).
func TestPlanShowsTheModulesDisk(t *testing.T) {
	l := modulesLine(t)
	opts := Options{WorkDir: t.TempDir(), Runner: &fakeKbuild{}, Out: io.Discard}
	opts.CacheDir = filepath.Join(opts.WorkDir, "cache")
	flatDigest := InputsDigest(l, mustPlan(t, l, opts).Release)
	var b strings.Builder
	mustPlan(t, l, opts).PrintCommands(&b)
	if want := "flat modules disk (modules.vhdx, modules.vhd in the NuGet package; package.modules_disk unset: the default)"; !strings.Contains(b.String(), want) || strings.Contains(b.String(), "run-command") {
		t.Errorf("plan says\n%s\nwant %q and no run-command", b.String(), want)
	}
	l.Profile.Package.ModulesDisk = config.ModulesDiskArtifacts
	p := mustPlan(t, l, opts)
	b.Reset()
	p.PrintCommands(&b)
	for _, want := range []string{"modules disk artifacts.vhd (" + p.KernelRelease + "/modules and linux-headers",
		"artifacts.vhd (package.modules_disk: artifacts): " + p.KernelRelease + "/modules and " + p.KernelRelease + "/linux-headers (install-extmod-build, .config, programs stripped), no perf",
		"run-command", "KBUILD_RUN_COMMAND=${srctree}/scripts/package/install-extmod-build "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan says\n%s\nwant it to hold %q", b.String(), want)
		}
	}
	if InputsDigest(l, p.Release) == flatDigest {
		t.Error("the artifacts layout leaves the release's inputs digest as the flat one's")
	}
}

func mustPlan(t *testing.T, l *config.Line, opts Options) *Plan {
	t.Helper()
	p, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Set in pipeline.yaml, the layout is shown with the line that set it.
func TestPlanNamesWhereTheModulesDiskWasSet(t *testing.T) {
	l := modulesLine(t)
	doc, err := os.ReadFile(l.Pipeline.File)
	if err != nil {
		t.Fatal(err)
	}
	doc = append(doc, "    package:\n      formats: [nuget]\n      modules_disk: artifacts\n"...)
	if err := os.WriteFile(l.Pipeline.File, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(l.Pipeline.File)
	if err != nil {
		t.Fatal(err)
	}
	if l, err = p.Select("smoke"); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(string(doc), "\n") // modules_disk is the last line
	want := "modules disk artifacts.vhd (6.12.118.1-microsoft-standard-WSL2/modules and linux-headers, the layout of WSL's branch for 6.18.40.1; package.modules_disk at " +
		l.Pipeline.File + ":" + strconv.Itoa(line) + ")"
	if got := describeModulesDisk(&Plan{Line: l, KernelRelease: "6.12.118.1-microsoft-standard-WSL2"}); got != want {
		t.Errorf("describeModulesDisk = %q, want %q", got, want)
	}
}
