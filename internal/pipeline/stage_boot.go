package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/boot"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The boot stage boots the kernel and initrd under qemu, with modules.vhdx attached when there is
// one; the init must report the release and load the chosen module from the disk. Nothing it
// reads changes what ships, so it adds nothing to the release's digest.

// bootDeclares: the machine's settings.
func bootDeclares(l *config.Line, _ string) (inputs, error) {
	b := l.Profile.Boot
	return inputs{"memory": b.Memory, "cmdline": b.Cmdline}, nil
}

// bootDerives: the kernel, initrd and modules disk booted, the module loaded, and the release the
// init must report.
func bootDerives(_ context.Context, r *run, ar *archRun) inputs {
	return inputs{"kernel": r.outputKey(outKernel, ar.a.Name), "initrd": r.outputKey(outInitrd, ar.a.Name),
		"modules": r.outputKey(outModules, ar.a.Name), "module": ar.module, "release": r.plan.KernelRelease}
}

func bootRestore(_ *run, ar *archRun, prev *manifest.Manifest, _ manifest.Stage) error {
	ar.boot = manifest.ForArch(prev.Boots, ar.a.Name)
	return nil
}

func bootBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	opts := bootOptions(r, ar)
	console := opts.ConsoleLog
	res, err := boot.Run(ctx, r.opts.Runner, opts)
	if err != nil {
		return outcome{}, err
	}
	r.record(func() {
		ar.boot = &manifest.Boot{Arch: ar.a.Name, Release: res.Release, Module: res.Module,
			InitSeconds: res.TimeToInit.Seconds(), WallSeconds: res.Wall.Seconds(), ConsoleLog: console}
	})
	detail := fmt.Sprintf("init reports %s", res.Release)
	if res.Module != "" {
		detail += fmt.Sprintf(", loaded %s from %s", res.Module, filepath.Base(ar.vhdx))
	}
	return outcome{detail: detail + fmt.Sprintf(", %.2fs to init (kernel clock), %.2fs wall", res.TimeToInit.Seconds(), res.Wall.Seconds())}, nil
}

// bootOptions are the boot test of the arch's kernel, initrd and modules disk.
func bootOptions(r *run, ar *archRun) boot.Options {
	b := r.plan.Line.Profile.Boot
	opts := boot.Options{
		Arch: ar.a.Name, Kernel: filepath.Join(ar.out, "kernel"), Initrd: filepath.Join(ar.out, "initrd.img"), Memory: b.Memory,
		Cmdline: b.Cmdline, Timeout: b.Timeout, ConsoleLog: filepath.Join(ar.out, "console.log"), Release: r.plan.KernelRelease,
	}
	if ar.module != "" {
		opts.ModulesDisk, opts.Module = ar.vhdx, ar.module
	}
	return opts
}

// rehearseBoot hands the boot test's qemu command to the Runner (kbuild plan).
func rehearseBoot(ctx context.Context, r *run, ar *archRun) error {
	prog, args, err := boot.Command(bootOptions(r, ar))
	if err != nil {
		return err
	}
	return r.opts.Runner.Run(ctx, prog, args, nil, io.Discard)
}

func describeBoot(p *Plan, a kbuild.Arch) string {
	qemu, _, _ := boot.Command(boot.Options{Arch: a.Name})
	module := "the first module in modules.dep that needs no other"
	if p.Line.Profile.Boot.Module != "" {
		module = p.Line.Profile.Boot.Module
	}
	return fmt.Sprintf("%s, expect the init to report %s (with modules.vhdx: and to load %s from it)", qemu, p.KernelRelease, module)
}
