package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The build stage makes the kernel image from the configured tree and copies it and its config
// into the output folder.

// buildDeclares: the compiler wrapper and its hosts, and the image target.
func buildDeclares(l *config.Line, arch string) (inputs, error) {
	a, err := kbuild.LookupArch(arch)
	if err != nil {
		return nil, err
	}
	b := l.Profile.Build
	return inputs{"wrapper": b.Wrapper, "distcc_hosts": strings.Join(b.DistccHosts, " "), "image": a.Image}, nil
}

// buildDerives: the configured tree, the .config, the version and timestamp baked in, the compiler.
func buildDerives(ctx context.Context, r *run, ar *archRun) inputs {
	t := ar.tree
	return inputs{"configure": ar.keys[stConfigure], "config": fileKey(dotconfig(ar)), "extraversion": t.ExtraVersion,
		"timestamp": r.st.commitTS().UTC().String(), "compiler": r.toolchainID(ctx, ar.a)}
}

func buildRestore(_ *run, ar *archRun, prev *manifest.Manifest, _ manifest.Stage) error {
	if ar.build = manifest.ForArch(prev.Builds, ar.a.Name); ar.build != nil {
		return nil
	}
	return fmt.Errorf("the last run's manifest has no build record for %s: run with --force", ar.a.Name)
}

func buildBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	tree := ar.tree
	os.Remove(tree.CcacheLog) // count this build's compilations only
	b := &manifest.Build{Arch: tree.Arch.Name}
	progress := r.buildProgress(ar)
	err := tree.Make(ctx, progress, tree.Arch.Image)
	progress.clear()
	b.Commands = progress.done
	if err == nil && progress.fromEmpty { // the next build from an empty tree expects as many
		recordCommands(tree.Out, progress.done)
	}
	if tree.Cached() {
		b.CcacheHits, b.CcacheMisses, _ = kbuild.CcacheStats(tree.CcacheLog)
	}
	b.Toolchain, _ = tree.Toolchain()
	r.record(func() { ar.build = b })
	if err != nil {
		return outcome{}, fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	release, err := tree.ReadRelease()
	if err != nil {
		return outcome{}, err
	}
	if release != r.plan.KernelRelease {
		return outcome{}, fmt.Errorf("the build's kernel release is %s, the version scheme says %s", release, r.plan.KernelRelease)
	}
	out, err := r.copyOutputs(ar)
	if err != nil {
		return outcome{}, err
	}
	b.Release, b.ImageBytes = release, out.outputs[0].Size
	if sz, err := kbuild.ELFSizes(filepath.Join(tree.Out, "vmlinux")); err == nil {
		b.VmlinuxText, b.VmlinuxData, b.VmlinuxBSS = sz.Text, sz.Data, sz.BSS
	}
	out.detail = fmt.Sprintf("%s %s, %d bytes; %d commands, ccache %d hits, %d misses", tree.Arch.Image, release, b.ImageBytes, b.Commands, b.CcacheHits, b.CcacheMisses)
	if !tree.Cached() {
		out.detail = fmt.Sprintf("%s %s, %d bytes; %d commands, no compiler cache", tree.Arch.Image, release, b.ImageBytes, b.Commands)
	}
	return out, nil
}

// buildProgress counts the build's commands. A tree without a vmlinux (empty, or a build that
// was stopped) expects as many as the last build from an empty tree ran; an incremental build runs
// only what changed: nothing to expect. Only a build from an empty tree (startsFromEmpty) records
// its count, so a resumed build's few commands never become the next expectation.
func (r *run) buildProgress(ar *archRun) *buildProgress {
	p := &buildProgress{log: ar.log, term: r.live(ar), label: "build [" + ar.a.Name + "]", start: time.Now()}
	p.fromEmpty = startsFromEmpty(ar.tree.Out)
	if _, err := os.Stat(filepath.Join(ar.tree.Out, "vmlinux")); os.IsNotExist(err) {
		on := 0
		for _, s := range ar.final.Settings() {
			if s.Value == "y" || s.Value == "m" {
				on++
			}
		}
		p.expected = expectedCommands(ar.tree.Out, on)
	}
	return p
}

// copyOutputs copies the kernel image and its .config from the build tree into the arch's output
// folder, as kernel and config, and describes them.
func (r *run) copyOutputs(ar *archRun) (outcome, error) {
	var out outcome
	from := map[string]string{outKernel: ar.a.ImagePath, outConfig: ".config"}
	for _, name := range []string{outKernel, outConfig} {
		dest := filepath.Join(ar.out, name)
		if err := atomicfile.Copy(filepath.Join(ar.tree.Out, from[name]), dest, 0o644); err != nil {
			return out, err
		}
		f, err := r.output(name, ar.a.Name, dest)
		if err != nil {
			return out, err
		}
		out.outputs = append(out.outputs, f)
	}
	return out, nil
}

// live is where live progress goes: opts.Progress, or nowhere while arches build in parallel or
// while the arch's lines are held behind another's (two bars on one line would be noise; each
// stage still gets its line).
func (r *run) live(ar *archRun) io.Writer {
	if r.parallel {
		return nil
	}
	if l, ok := ar.console.(archLines); ok && !l.isLive() {
		return nil
	}
	return r.opts.Progress
}

// makeImage hands the build's make command to the Runner (kbuild plan).
func makeImage(ctx context.Context, _ *run, ar *archRun) error {
	return ar.tree.Make(ctx, ar.log, ar.a.Image)
}

func describeBuild(p *Plan, a kbuild.Arch) string {
	return fmt.Sprintf("make %s (%s)", a.Image, wrapperName(p.Line.Profile.Build.Wrapper))
}

func wrapperName(w string) string {
	if w == "" {
		return "ccache"
	}
	return w
}
