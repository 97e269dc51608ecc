package pipeline

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// modulesDeclares: the module the boot test is asked to load, and the artifacts layout when
// package.modules_disk asks for it (the flat layout, the default, adds nothing: the keys of the
// runs made before the setting existed still hold).
func modulesDeclares(l *config.Line, _ string) (inputs, error) {
	in := inputs{"boot_module": l.Profile.Boot.Module}
	if artifactsDisk(l) {
		in["modules_disk"] = config.ModulesDiskArtifacts
	}
	return in, nil
}

// artifactsDisk says whether the line's payloads carry the artifacts disk (package.modules_disk).
func artifactsDisk(l *config.Line) bool {
	return l.Profile.Package.ModulesDiskLayout() == config.ModulesDiskArtifacts
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
	disks := map[string]string{outModules: vhdx, outModulesVHD: vhd}
	detail := ""
	if artifactsDisk(r.plan.Line) {
		art := filepath.Join(ar.out, moddisk.ArtifactsName)
		if err := makeArtifacts(ctx, r, ar, modDir, art); err != nil {
			return outcome{}, err
		}
		disks[outArtifacts] = art
		detail = ", and " + moddisk.ArtifactsName
	}
	var out outcome
	for name, path := range disks {
		f, err := r.output(name, ar.a.Name, path)
		if err != nil {
			return outcome{}, err
		}
		out.outputs = append(out.outputs, f)
	}
	slices.SortFunc(out.outputs, func(a, b manifest.File) int { return strings.Compare(a.Name, b.Name) })
	r.record(func() { ar.vhdx, ar.module, ar.modulesDigest = vhdx, module, digest })
	out.detail = fmt.Sprintf("%d modules in %s (%d bytes) and %s (%d bytes)", n, filepath.Base(vhdx), out.outputs[0].Size, filepath.Base(vhd), out.outputs[1].Size)
	if detail != "" {
		i := slices.IndexFunc(out.outputs, func(f manifest.File) bool { return f.Name == outArtifacts })
		out.detail += fmt.Sprintf("%s (%d bytes: modules and linux-headers under %s)", detail, out.outputs[i].Size, r.plan.KernelRelease)
	}
	return out, nil
}

// makeArtifacts writes dest, artifacts.vhd (package.modules_disk: artifacts): the modules of
// modDir (moved: the flat disks are made already) and the headers an out-of-tree module build
// needs, under the kernel release's folder, as WSL's branch for 6.18.40.1 mounts it. The headers
// are what the kernel's own scripts/package/install-extmod-build copies (its linux-headers
// packages, Debian's, the RPM's and Arch's, use it): the Makefiles, include/ and
// arch/<arch>/include with the generated headers, Module.symvers, scripts/ with its host
// programs (rebuilt for the target arch when cross-compiling), tools/objtool/objtool where the
// config has OBJTOOL; plus .config, which the script leaves to its callers and DKMS reads. The
// programs are stripped (moddisk.StripPrograms) of the paths of the work dir they were built in.
// perf is not made.
func makeArtifacts(ctx context.Context, r *run, ar *archRun, modDir, dest string) error {
	root := filepath.Join(ar.out, "artifacts-root")
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	defer os.RemoveAll(root)
	modules, headers := moddisk.ArtifactsFolders(root, r.plan.KernelRelease)
	if err := os.MkdirAll(filepath.Dir(modules), 0o755); err != nil {
		return err
	}
	if err := os.Rename(modDir, modules); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(ar.tree.Src, extmodScript)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("package.modules_disk: artifacts needs the kernel's %s to install the headers, and %s has none: use the flat modules disk for this kernel", extmodScript, ar.tree.Src)
	}
	if err := installExtmodBuild(ctx, ar, headers); err != nil {
		return fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	if _, err := moddisk.StripPrograms(ctx, r.opts.Runner, headers, stripFor(ar.a)); err != nil {
		return err
	}
	config, err := os.ReadFile(filepath.Join(ar.tree.Out, ".config"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(headers, ".config"), config, 0o644); err != nil {
		return err
	}
	_, err = moddisk.MakeArtifacts(ctx, r.opts.Runner, root, r.plan.KernelRelease, dest, r.st.commitTS())
	return err
}

// stripFor names the strip for a headers program's machine: the arch's (its CROSS_COMPILE
// strip when the build machine is another), for the programs install-extmod-build rebuilt for
// it; this machine's strip for those built to run here (objtool, resolve_btfids, which it does
// not rebuild); "" for any other.
func stripFor(a kbuild.Arch) func(elf.Machine) string {
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	return func(m elf.Machine) string {
		switch {
		case m == machines[a.GOARCH] && !a.Native():
			return a.CrossCompile + "strip"
		case m == machines[runtime.GOARCH] || m == machines[a.GOARCH]:
			return "strip"
		}
		return ""
	}
}

// extmodScript is the kernel's script that installs what an out-of-tree module build needs.
const extmodScript = "scripts/package/install-extmod-build"

// installExtmodBuild has the kernel's install-extmod-build copy the out-of-tree module build
// files into dest (an absolute path), through make's run-command target, as the kernel's own
// RPM spec does: make exports what the script reads (srctree, SRCARCH, CC, HOSTCC, MAKE) and
// runs it in the build tree.
func installExtmodBuild(ctx context.Context, ar *archRun, dest string) error {
	return ar.tree.Make(ctx, ar.log, "run-command", "KBUILD_RUN_COMMAND=${srctree}/"+extmodScript+" "+dest)
}

// installModules builds the modules and installs them, stripped, under root.
func installModules(ctx context.Context, ar *archRun, root string) error {
	if err := ar.tree.Make(ctx, ar.log, "modules"); err != nil {
		return err
	}
	return ar.tree.Make(ctx, ar.log, "INSTALL_MOD_PATH="+root, "INSTALL_MOD_STRIP=1", "modules_install")
}

// rehearseModules hands the modules stage's make commands to the Runner (kbuild plan).
func rehearseModules(ctx context.Context, r *run, ar *archRun) error {
	if err := installModules(ctx, ar, filepath.Join(ar.out, "modules-root")); err != nil {
		return err
	}
	if artifactsDisk(r.plan.Line) {
		_, headers := moddisk.ArtifactsFolders(filepath.Join(ar.out, "artifacts-root"), r.plan.KernelRelease)
		return installExtmodBuild(ctx, ar, headers)
	}
	return nil
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

func describeModules(p *Plan, _ kbuild.Arch) string {
	what := "when CONFIG_MODULES=y: make modules, modules_install (stripped), modules.vhdx and modules.vhd"
	if artifactsDisk(p.Line) {
		what += fmt.Sprintf("; %s (package.modules_disk: artifacts): %s/modules and %s/linux-headers (install-extmod-build, .config, programs stripped), no perf",
			moddisk.ArtifactsName, p.KernelRelease, p.KernelRelease)
	}
	return what
}
