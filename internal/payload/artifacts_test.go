package payload

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// withArtifacts gives each build of the fake run an artifacts.vhd, made by moddisk as the modules
// stage makes it, laid out for the kernel release rel (a module, modules.dep, and the headers'
// files an out-of-tree build reads first).
func withArtifacts(t *testing.T, o *Options, rel string) {
	t.Helper()
	testtool.Need(t, "mke2fs", "debugfs")
	for i := range o.Builds {
		b := &o.Builds[i]
		root := t.TempDir()
		modules, headers := moddisk.ArtifactsFolders(root, rel)
		for name, body := range map[string]string{
			filepath.Join(modules, "kernel/lib/crc-itu-t.ko"):            "\x7fELF " + b.Arch,
			filepath.Join(modules, "modules.dep"):                        "kernel/lib/crc-itu-t.ko:\n",
			filepath.Join(headers, "Makefile"):                           "VERSION = 6\n",
			filepath.Join(headers, ".config"):                            "CONFIG_MODULES=y\n",
			filepath.Join(headers, "Module.symvers"):                     "",
			filepath.Join(headers, "include/config/kernel.release"):      rel + "\n",
			filepath.Join(headers, "arch/"+b.Arch+"/include/asm/page.h"): "",
		} {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dest := filepath.Join(o.OutDir, b.Arch, moddisk.ArtifactsName)
		if _, err := moddisk.MakeArtifacts(context.Background(), runner.Exec{}, root, rel, dest, released); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		b.Artifacts = File{Path: dest, SHA256: fmt.Sprintf("%x", sha256.Sum256(data))}
	}
}

// With the artifacts layout every payload carries artifacts.vhd where it carried the flat disk:
// the NuGet package's build/native/bin/<arch>/ holds kernel and artifacts.vhd (as WSL's branch
// for 6.18.40.1 takes them), the CAB kernel and artifacts.vhd, the MSI installs artifacts.vhd and
// hands it to the custom action as kernelModules=, and update.json lists what is installed.
func TestArtifactsDiskReplacesTheFlatOnes(t *testing.T) {
	testtool.Need(t, "cabextract", "wixl", "msiinfo", "faketime", "go")
	o, _ := fakeRun(t)
	withArtifacts(t, &o, o.Release.KernelRelease)
	o.Formats, o.ActionSource, o.ModulesDisk = []string{"cab", "msi", "nuget"}, actionSource, ArtifactsDisk
	if _, err := Make(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(o.OutDir, Dir)
	zr, err := zip.OpenReader(filepath.Join(dir, "Microsoft.WSL.Kernel.6.12.118.1-1.nupkg"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var bins []string
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "build/") {
			bins = append(bins, f.Name)
		}
	}
	if want := []string{"build/native/bin/x64/kernel", "build/native/bin/x64/artifacts.vhd", "build/native/bin/arm64/kernel", "build/native/bin/arm64/artifacts.vhd"}; !slices.Equal(bins, want) {
		t.Errorf("the NuGet package holds %v, want %v", bins, want)
	}
	for _, win := range []string{"x64", "arm64"} {
		cab := filepath.Join(dir, "wsl-kernel-6.12.118.1-"+win+".cab")
		out, err := exec.Command("cabextract", "-l", cab).CombinedOutput()
		if err != nil {
			t.Fatalf("cabextract -l %s: %v\n%s", cab, err, out)
		}
		if !strings.Contains(string(out), " | artifacts.vhd\n") || !strings.Contains(string(out), " | kernel\n") || strings.Contains(string(out), "modules.vhd") {
			t.Errorf("%s lists:\n%s", cab, out)
		}
		var up Update
		data, _ := os.ReadFile(filepath.Join(dir, "update-"+win+".json"))
		if err := json.Unmarshal(data, &up); err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, f := range up.Files {
			files = append(files, f.Name)
		}
		if !slices.Equal(files, []string{"kernel", "artifacts.vhd"}) {
			t.Errorf("update-%s.json's files: %v, want kernel and artifacts.vhd", win, files)
		}
	}
	msi := filepath.Join(dir, "wsl-kernel-6.12.118.1-x64.msi")
	files := strings.Join(msiTable(t, msi, "File"), "\n")
	if !strings.Contains(files, "File1\tFile1\tartifacts.vhd\t") || strings.Contains(files, "modules.vhd") {
		t.Errorf("the MSI's File table:\n%s", files)
	}
	if actions := msiTable(t, msi, "CustomAction"); !contains(actions, "SetWslConfig\t1042\tWslConfigAction\tset -kernel \"[#File0]\" -modules \"[#File1]\"\t") {
		t.Errorf("the MSI's custom actions do not point kernelModules= at artifacts.vhd (File1):\n%s", strings.Join(actions, "\n"))
	}
}

// An artifacts disk WSL would not mount for this kernel, or none where the layout asks for one,
// stops the package before anything is written; so does a layout nothing knows.
func TestArtifactsDiskWSLWouldNotMountIsRefused(t *testing.T) {
	testtool.Need(t, "cabextract")
	for _, c := range []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"made for another release", func(o *Options) { withArtifacts(t, o, "6.12.117.1-microsoft-standard-WSL2") },
			"artifacts.vhd is not a disk WSL would mount for this kernel, so it is not packaged: "},
		{"missing", func(o *Options) { withArtifacts(t, o, o.Release.KernelRelease); o.Builds[1].Artifacts = File{} },
			"package.modules_disk is artifacts, and the run has no artifacts.vhd for arm64"},
		{"no VHD", func(o *Options) {
			withArtifacts(t, o, o.Release.KernelRelease)
			rewrite(t, o, "x86_64", func(b *Build) *File { return &b.Artifacts }, func(b []byte) []byte { return b[:len(b)-512] })
		}, "x86_64/artifacts.vhd is not a fixed VHD"},
		{"unknown layout", func(o *Options) { o.ModulesDisk = "nested" }, `modules disk layout "nested": want flat or artifacts`},
	} {
		o, _ := fakeRun(t)
		o.Formats, o.ModulesDisk = []string{"cab", "nuget"}, ArtifactsDisk
		c.edit(&o)
		wantRefused(t, c.name, o, c.want)
	}
	// The flat layout (the default) packages the flat disks and leaves artifacts.vhd alone.
	o, _ := fakeRun(t)
	withArtifacts(t, &o, "another-release")
	o.Formats = []string{"cab"}
	if _, err := Make(context.Background(), o); err != nil {
		t.Fatalf("the flat layout: %v", err)
	}
	if out, _ := exec.Command("cabextract", "-l", filepath.Join(o.OutDir, Dir, "wsl-kernel-6.12.118.1-x64.cab")).CombinedOutput(); !strings.Contains(string(out), " | modules.vhdx\n") || strings.Contains(string(out), "artifacts") {
		t.Errorf("the flat layout's CAB lists:\n%s", out)
	}
}
