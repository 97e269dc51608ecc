package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/moddisk"
)

// The modules stage builds the modules, installs them stripped into a scratch root and makes the
// modules disk of lib/modules/<release>, as WSL mounts it, in both forms WSL takes: modules.vhdx
// (VHDX, for .wslconfig's kernelModules=) and modules.vhd (a fixed VHD, as in the
// Microsoft.WSL.Kernel package); the same modules give the same bytes. it also picks the module the boot
// test loads. It applies to a config with CONFIG_MODULES=y.

func hasModules(_ *run, ar *archRun) (bool, string) {
	return ar.final != nil && ar.final.Value("MODULES") == "y", ""
}

// modulesDeclares: the module the boot test is asked to load.
func modulesDeclares(l *config.Line, _ string) (inputs, error) {
	return inputs{"boot_module": l.Profile.Boot.Module}, nil
}

// modulesDerives: the build.
func modulesDerives(_ context.Context, _ *run, ar *archRun) inputs {
	return inputs{"build": ar.keys[stBuild]}
}

// modulesRestore takes up the modules stage's record: the disk, and from the arch's build entry,
// where the manifest keeps them, the boot test's module and the modules tree's digest.
func modulesRestore(r *run, ar *archRun, prev *manifest.Manifest, _ manifest.Stage) error {
	for _, f := range prevOutputs(prev, ar.a.Name, []string{outModules}) {
		ar.vhdx = filepath.Join(r.plan.OutDir, f.Path)
	}
	if b := manifest.ForArch(prev.Builds, ar.a.Name); b != nil {
		ar.module, ar.modulesDigest = b.BootModule, b.ModulesDigest
	}
	return nil
}

func modulesBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	vhdx := filepath.Join(ar.out, "modules.vhdx")
	root := filepath.Join(ar.out, "modules-root")
	if err := os.RemoveAll(root); err != nil {
		return outcome{}, err
	}
	defer os.RemoveAll(root)
	if err := installModules(ctx, ar, root); err != nil {
		return outcome{}, fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	modDir := filepath.Join(root, "lib/modules", r.plan.KernelRelease)
	module, err := bootModule(modDir, r.plan.Line.Profile.Boot.Module)
	if err != nil {
		return outcome{}, err
	}
	vhd := filepath.Join(ar.out, "modules.vhd")
	n, err := moddisk.MakeDisks(ctx, r.opts.Runner, modDir, moddisk.Disks{VHDX: vhdx, VHD: vhd}, r.st.commitTS())
	if err != nil {
		return outcome{}, err
	}
	digest, _, err := manifest.TreeDigest(modDir)
	if err != nil {
		return outcome{}, err
	}
	var out outcome
	for name, path := range map[string]string{outModules: vhdx, outModulesVHD: vhd} {
		f, err := r.output(name, ar.a.Name, path)
		if err != nil {
			return outcome{}, err
		}
		out.outputs = append(out.outputs, f)
	}
	slices.SortFunc(out.outputs, func(a, b manifest.File) int { return strings.Compare(a.Name, b.Name) })
	r.record(func() { ar.vhdx, ar.module, ar.modulesDigest = vhdx, module, digest })
	out.detail = fmt.Sprintf("%d modules in %s (%d bytes) and %s (%d bytes)", n, filepath.Base(vhdx), out.outputs[0].Size, filepath.Base(vhd), out.outputs[1].Size)
	return out, nil
}

// installModules builds the modules and installs them, stripped, under root.
func installModules(ctx context.Context, ar *archRun, root string) error {
	if err := ar.tree.Make(ctx, ar.log, "modules"); err != nil {
		return err
	}
	return ar.tree.Make(ctx, ar.log, "INSTALL_MOD_PATH="+root, "INSTALL_MOD_STRIP=1", "modules_install")
}

// rehearseModules hands the modules stage's make commands to the Runner (kbuild plan).
func rehearseModules(ctx context.Context, _ *run, ar *archRun) error {
	return installModules(ctx, ar, filepath.Join(ar.out, "modules-root"))
}

// bootModule is the module the boot test loads: the one asked for, which must load alone, else
// the first that does; "" when none does.
func bootModule(modDir, want string) (string, error) {
	standalone, err := moddisk.Standalone(modDir)
	if err != nil {
		return "", err
	}
	switch {
	case want != "" && !slices.Contains(standalone, want):
		return "", fmt.Errorf("boot.module %s is not among the modules that load alone: %s", want, strings.Join(standalone, ", "))
	case want != "":
		return want, nil
	case len(standalone) > 0:
		return standalone[0], nil
	}
	return "", nil
}

func describeModules(_ *Plan, _ kbuild.Arch) string {
	return "when CONFIG_MODULES=y: make modules, modules_install (stripped), modules.vhdx"
}
