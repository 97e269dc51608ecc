package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/runner"
)

// onLastRun prepares a command that works on what the last run built (boot, verify, package):
// the option defaults, the work dir's lock (unlock when done, also after an error), and the
// last successful run's manifest.
func onLastRun(p *Plan, opts *Options, what string) (m *manifest.Manifest, unlock func(), err error) {
	if opts.Runner == nil {
		opts.Runner = runner.Exec{}
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if unlock, err = lockWorkDir(opts.WorkDir, what); err != nil {
		return nil, func() {}, err
	}
	if m, err = lastRun(p); err != nil {
		err = fmt.Errorf("nothing to %s: %w", what, err)
	}
	return m, unlock, err
}

// lastRun reads the manifest of the plan's last successful run.
func lastRun(p *Plan) (*manifest.Manifest, error) {
	path := filepath.Join(p.OutDir, "manifest.json")
	m, err := manifest.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no build of %s: %s does not exist; kbuild run --profile %s builds it first", p.Version, path, p.Line.Name)
	}
	if err != nil {
		return nil, err
	}
	if m.Status != "ok" {
		return nil, fmt.Errorf("the last run (%s) failed: %s", path, m.Error)
	}
	return m, nil
}

// Boot boots what the last run built, for each of the plan's arches: the kernel and initrd (after
// checking they are still the files the manifest lists) with modules.vhdx attached when there is
// one, as the run's boot stage does. It returns the boots; the run's manifest is not changed.
func Boot(ctx context.Context, p *Plan, opts Options) ([]manifest.Boot, error) {
	last, unlock, err := onLastRun(p, &opts, "boot")
	defer unlock()
	if err != nil {
		return nil, err
	}
	r := newRun(p, opts, inBoot)
	if err := r.resume(last, stages); err != nil {
		return nil, err
	}
	for _, ar := range r.arches {
		ar.boot = nil
		for _, name := range []string{outKernel, outInitrd, outModules} {
			path, err := CheckedOutput(p.OutDir, last, name, ar.a.Name)
			if err != nil {
				return nil, err
			}
			if name == outModules {
				ar.vhdx = path
			}
		}
		if ar.vhdx == "" {
			ar.module = ""
		}
	}
	defer r.close()
	err = r.walk(ctx, r.exec)
	var boots []manifest.Boot
	for _, ar := range r.arches {
		if ar.boot != nil {
			boots = append(boots, *ar.boot)
		}
	}
	return boots, err
}

// CheckedOutput finds the run's output name for arch and checks the file still has the hash the
// manifest recorded; "" with no error when the run made none (modules, for a config without).
func CheckedOutput(outDir string, m *manifest.Manifest, name, arch string) (string, error) {
	for _, o := range m.Outputs {
		if o.Name != name || o.Arch != arch {
			continue
		}
		path := filepath.Join(outDir, o.Path)
		got, err := manifest.Describe(name, arch, path)
		if err != nil {
			return "", err
		}
		if got.SHA256 != o.SHA256 {
			return "", fmt.Errorf("%s changed since the run built it (sha256 %s, the manifest says %s): run again", path, got.SHA256, o.SHA256)
		}
		return path, nil
	}
	if name == outModules {
		return "", nil
	}
	return "", fmt.Errorf("the last run built no %s for %s", name, arch)
}

// InstalledDisk is the run's modules disk for arch that .wslconfig's kernelModules= takes, as
// the run's payloads carry it, and the name it is installed under: artifacts.vhd when the run
// made one (package.modules_disk: artifacts), else modules.vhdx; checked as CheckedOutput checks,
// and "" when the kernel has no modules.
func InstalledDisk(outDir string, m *manifest.Manifest, arch string) (path, name string, err error) {
	if outputNamed(m, outArtifacts, arch) {
		path, err = CheckedOutput(outDir, m, outArtifacts, arch)
		return path, moddisk.ArtifactsName, err
	}
	path, err = CheckedOutput(outDir, m, outModules, arch)
	return path, "modules.vhdx", err
}

func outputNamed(m *manifest.Manifest, name, arch string) bool {
	for _, o := range m.Outputs {
		if o.Name == name && o.Arch == arch {
			return true
		}
	}
	return false
}
