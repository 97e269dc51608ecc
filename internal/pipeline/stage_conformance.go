package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/conformance"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The conformance stage proves the kernel in the system that uses it: the arch's kernel boots
// under qemu with a real Debian 12 userland as root disk (made by mmdebstrap from the profile's
// package list, cached by its hash), systemd as PID 1 on cgroup v2, the run's modules.vhdx
// overlaid on /lib/modules/<release> as WSL's init does, and one probe per feature runs (Docker on
// both iptables backends, FUSE, 9p, TUN, WireGuard, file systems on loop devices, BTF...). A probe
// that fails fails the run, naming the feature, the probe and its output: package never runs on a
// kernel that did not pass. It applies to profiles with a conformance block, on x86_64.

func wantsConformance(r *run, ar *archRun) (bool, string) {
	if r.plan.Line.Profile.Conformance == nil {
		return false, ""
	}
	if ar.a.Name != "x86_64" {
		return false, "not run: the conformance machine is x86_64 (qemu q35); " + ar.a.Name + " booted the smoke init only"
	}
	return true, ""
}

// userland is the profile's conformance userland, its images cached under cacheDir.
func userland(c *config.Conformance, cacheDir string) conformance.Userland {
	return conformance.Userland{PackageList: c.Packages, GuestDir: c.Guest, CacheDir: filepath.Join(cacheDir, "conformance")}
}

// conformanceDeclares: the userland (its package list and guest files, by the key that names its
// image) and the machine's settings.
func conformanceDeclares(l *config.Line, _ string) (inputs, error) {
	c := l.Profile.Conformance
	if c == nil {
		return inputs{}, nil
	}
	key, err := userland(c, "").Key()
	if err != nil {
		return nil, err
	}
	return inputs{"userland": key, "timeout": c.Timeout.String(), "probe_timeout": c.ProbeTimeout.String(),
		"memory": c.Memory, "cpus": fmt.Sprint(c.CPUs), "probes": strings.Join(c.Probes, " "),
		"cmdline": feature.ConformanceCmdline(l.Profile.Config.FeatureList())}, nil
}

// conformanceDerives: the kernel and modules disk booted, and the release the guest must report.
func conformanceDerives(_ context.Context, r *run, ar *archRun) inputs {
	return inputs{"kernel": r.outputKey(outKernel, ar.a.Name), "modules": r.outputKey(outModules, ar.a.Name), "release": r.plan.KernelRelease}
}

func conformanceRestore(_ *run, ar *archRun, prev *manifest.Manifest, _ manifest.Stage) error {
	ar.conformance = manifest.ForArch(prev.Conformance, ar.a.Name)
	return nil
}

func conformanceBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	c := r.plan.Line.Profile.Conformance
	image, err := userland(c, r.opts.CacheDir).Build(ctx, r.opts.Runner)
	if err != nil {
		return outcome{}, err
	}
	res, runErr := conformance.Run(ctx, r.opts.Runner, conformanceOptions(r, ar, image))
	if res != nil {
		r.record(func() { ar.conformance = conformanceRecord(ar.a.Name, res) })
	}
	if runErr != nil {
		return outcome{}, runErr
	}
	return outcome{detail: fmt.Sprintf("%d probes passed on %s (Debian 12, systemd): init at %.1fs, multi-user.target at %.1fs, %.0fs wall",
		len(res.Probes), res.Release, res.TimeToInit.Seconds(), res.TimeToMultiUser.Seconds(), res.Wall.Seconds())}, nil
}

// conformanceOptions are the conformance boot of the arch's kernel and modules disk.
func conformanceOptions(r *run, ar *archRun, image string) conformance.Options {
	c := r.plan.Line.Profile.Conformance
	return conformance.Options{Kernel: filepath.Join(ar.out, "kernel"), ModulesDisk: ar.vhdx, Release: r.plan.KernelRelease,
		Image: image, WorkDir: filepath.Join(ar.out, "conformance"), Memory: c.Memory, CPUs: c.CPUs,
		Timeout: c.Timeout, ProbeTimeout: c.ProbeTimeout, Probes: c.Probes,
		// What an opt-in feature changes, the probes are told (apparmor-active: AppArmor runs).
		Cmdline: feature.ConformanceCmdline(r.plan.Line.Profile.Config.FeatureList())}
}

// conformanceRecord is the manifest's record of a conformance boot.
func conformanceRecord(arch string, res *conformance.Result) *manifest.Conformance {
	rec := &manifest.Conformance{Arch: arch, Release: res.Release, InitSeconds: res.TimeToInit.Seconds(),
		MultiUserSeconds: res.TimeToMultiUser.Seconds(), WallSeconds: res.Wall.Seconds(), ConsoleLog: res.ConsoleLog}
	for _, p := range res.Probes {
		mp := manifest.Probe{Feature: p.Feature, Name: p.Name, Status: p.Status, Seconds: p.Seconds}
		if !p.Pass() {
			mp.Output = p.Output
		}
		rec.Probes = append(rec.Probes, mp)
	}
	return rec
}

// rehearseConformance hands the conformance boot's qemu command to the Runner (kbuild plan).
func rehearseConformance(ctx context.Context, r *run, ar *archRun) error {
	u := userland(r.plan.Line.Profile.Conformance, r.opts.CacheDir)
	key, err := u.Key()
	if err != nil {
		return err
	}
	prog, args := conformance.Command(conformanceOptions(r, ar, u.ImagePath(key)), "<token>")
	return r.opts.Runner.Run(ctx, prog, args, nil, io.Discard)
}

func describeConformance(p *Plan, _ kbuild.Arch) string {
	c := p.Line.Profile.Conformance
	if c == nil {
		return ""
	}
	return fmt.Sprintf("boot with the Debian 12 userland of %s (systemd, modules.vhdx overlaid as WSL's init does), one probe per feature",
		p.Line.Pipeline.Rel(c.Packages))
}
