package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/boot"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/initrd"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// archRun is one arch's build: its O= tree, its output folder and its log.
type archRun struct {
	a       kbuild.Arch
	tree    *kbuild.Tree
	out     string
	logPath string
	log     *os.File
}

// newArch prepares an arch's output folder, log and build tree.
func (r *run) newArch(a kbuild.Arch) (*archRun, error) {
	l := r.plan.Line
	ar := &archRun{a: a, out: filepath.Join(r.plan.OutDir, a.Name)}
	if err := os.MkdirAll(ar.out, 0o755); err != nil {
		return nil, err
	}
	ar.logPath = filepath.Join(ar.out, "build.log")
	var err error
	if ar.log, err = os.Create(ar.logPath); err != nil {
		return nil, err
	}
	ar.tree = &kbuild.Tree{
		Src:          r.src,
		Out:          buildDir(r.opts, l, a.Name),
		Arch:         a,
		Jobs:         r.opts.Jobs,
		Wrapper:      l.Profile.Build.Wrapper,
		ExtraVersion: r.plan.Version.ExtraVersion(),
		Timestamp:    r.commitTS,
		Runner:       r.opts.Runner,
	}
	if ar.tree.Jobs == 0 {
		ar.tree.Jobs = l.Profile.Build.Jobs
	}
	return ar, nil
}

// configureAll configures every arch; the caller closes the logs.
func (r *run) configureAll(ctx context.Context) ([]*archRun, error) {
	var arches []*archRun
	for _, a := range r.plan.Arches {
		ar, err := r.newArch(a)
		if err != nil {
			return arches, err
		}
		arches = append(arches, ar)
		r.m.Reproducer += fmt.Sprintf("\n# %s build by hand: %s make %s", a.Name, strings.Join(ar.tree.Env(), " "), strings.Join(ar.tree.Args(a.Image), " "))
		if err := r.stage("configure", a.Name, func() (string, error) { return r.configure(ctx, ar.tree, ar.log) }); err != nil {
			return arches, err
		}
	}
	return arches, nil
}

// buildArch runs build, initrd and boot for one configured arch.
func (r *run) buildArch(ctx context.Context, ar *archRun) error {
	a := ar.a
	kernel := filepath.Join(ar.out, "kernel")
	if err := r.stage("build", a.Name, func() (string, error) { return r.build(ctx, ar.tree, ar.log, ar.logPath, kernel) }); err != nil {
		return err
	}
	initrdPath := filepath.Join(ar.out, "initrd.img")
	if err := r.stage("initrd", a.Name, func() (string, error) { return r.initrd(ctx, a, initrdPath) }); err != nil {
		return err
	}
	if a.Name != "x86_64" {
		r.m.Stages = append(r.m.Stages, manifest.Stage{Name: "boot", Arch: a.Name, Status: "skipped", Detail: "only x86_64 is boot-tested"})
		return nil
	}
	return r.stage("boot", a.Name, func() (string, error) { return r.boot(ctx, a, kernel, initrdPath, ar.out) })
}

// configure makes the .config: the base, the fragments in order, the local version from the
// version scheme last, then olddefconfig; every requested value must survive.
func (r *run) configure(ctx context.Context, tree *kbuild.Tree, log io.Writer) (string, error) {
	l := r.plan.Line
	prof := l.Profile
	if err := os.MkdirAll(tree.Out, 0o755); err != nil {
		return "", err
	}
	dotconfig := filepath.Join(tree.Out, ".config")
	previous, _ := os.ReadFile(dotconfig)
	prevInfo, _ := os.Stat(dotconfig)

	if prof.Config.BaseIsTarget() {
		if err := tree.Make(ctx, log, prof.Config.Base); err != nil {
			return "", err
		}
	} else {
		data, err := os.ReadFile(prof.Config.Base)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(dotconfig, data, 0o644); err != nil {
			return "", err
		}
	}
	base, err := kconfig.ParseFile(dotconfig)
	if err != nil {
		return "", err
	}
	// The base as it was before the fragments: what `kbuild config explain` starts from.
	if err := copyFile(dotconfig, dotconfig+".base"); err != nil {
		return "", err
	}
	var fragments []*kconfig.Config
	for _, f := range prof.Config.FragmentsFor(tree.Arch.Name) {
		frag, err := kconfig.ParseFile(f)
		if err != nil {
			return "", err
		}
		fragments = append(fragments, frag)
	}
	fragments = append(fragments, schemeFragment(l))
	merged, requested, overrides := kconfig.Merge(base, fragments...)
	for _, o := range overrides {
		fmt.Fprintf(r.opts.Out, "%-18s %s\n", "warning", o)
	}
	var buf bytes.Buffer
	if _, err := merged.WriteTo(&buf); err != nil {
		return "", err
	}
	if err := os.WriteFile(dotconfig, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := tree.Make(ctx, log, "olddefconfig"); err != nil {
		return "", err
	}
	final, err := kconfig.ParseFile(dotconfig)
	if err != nil {
		return "", err
	}
	var rules *kconfig.Rules
	why := func(sym, want string) string {
		if rules == nil {
			if rules, err = kconfig.LoadRules(tree.Src, tree.Arch.SrcArch); err != nil {
				return "\n      (the Kconfig files could not be read to say why: " + err.Error() + ")"
			}
		}
		return "\n      " + strings.Join(rules.Why(sym, want, final), "\n      ")
	}
	detail := fmt.Sprintf("%d settings, %d requested, all present", len(final.Settings()), len(requested.Settings()))
	if bad := kconfig.Verify(requested, final); len(bad) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "olddefconfig dropped %d requested settings:", len(bad))
		for _, m := range bad {
			b.WriteString("\n  " + m.String() + why(m.Requested.Symbol, m.Requested.Value))
		}
		if prof.Config.IsStrict() {
			return "", errors.New(b.String())
		}
		fmt.Fprintf(r.opts.Out, "%-18s %s\n%-18s (config.strict is false, so the build goes on)\n", "WARNING", b.String(), "")
		detail = fmt.Sprintf("%d settings, %d requested, %d DROPPED (strict: false)", len(final.Settings()), len(requested.Settings()), len(bad))
	}
	if prof.Config.Policy != "" {
		pol, err := kconfig.LoadPolicy(prof.Config.Policy)
		if err != nil {
			return "", err
		}
		if bad := pol.Check(tree.Arch.Name, final); len(bad) > 0 {
			var b strings.Builder
			fmt.Fprintf(&b, "the final .config breaks %d rules of the WSL policy, so WSL could not use this kernel:", len(bad))
			for _, v := range bad {
				b.WriteString("\n  " + v.String() + why(v.Rule.Symbol, v.Rule.Allow[v.Arch][0]))
			}
			return "", errors.New(b.String())
		}
		detail += fmt.Sprintf(", policy %s holds", l.Pipeline.Rel(prof.Config.Policy))
	}
	// An unchanged config keeps its old mtime, so make sees nothing new and rebuilds nothing.
	now, _ := os.ReadFile(dotconfig)
	if prevInfo != nil && bytes.Equal(previous, now) {
		mt := prevInfo.ModTime()
		os.Chtimes(dotconfig, mt, mt)
	}
	return detail, nil
}

// schemeFragment is what the version scheme asks of every config: the local version, last.
func schemeFragment(l *config.Line) *kconfig.Config {
	scheme := &kconfig.Config{}
	scheme.Set(kconfig.Setting{Symbol: "LOCALVERSION", Value: fmt.Sprintf("%q", l.Pipeline.Version.LocalVersion),
		File: l.Pipeline.File, Line: l.Pipeline.Pos("version.localversion").Line})
	return scheme
}

func (r *run) build(ctx context.Context, tree *kbuild.Tree, log io.Writer, logPath, kernel string) (string, error) {
	if err := tree.Make(ctx, log, tree.Arch.Image); err != nil {
		return "", fmt.Errorf("%w\nfull log: %s", err, logPath)
	}
	release, err := tree.ReadRelease()
	if err != nil {
		return "", err
	}
	if release != r.plan.KernelRelease {
		return "", fmt.Errorf("the build's kernel release is %s, the version scheme says %s", release, r.plan.KernelRelease)
	}
	if err := copyFile(filepath.Join(tree.Out, tree.Arch.ImagePath), kernel); err != nil {
		return "", err
	}
	configOut := filepath.Join(filepath.Dir(kernel), "config")
	if err := copyFile(filepath.Join(tree.Out, ".config"), configOut); err != nil {
		return "", err
	}
	if err := r.output("kernel", tree.Arch.Name, kernel); err != nil {
		return "", err
	}
	if err := r.output("config", tree.Arch.Name, configOut); err != nil {
		return "", err
	}
	info, err := os.Stat(kernel)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s, %d bytes", tree.Arch.Image, release, info.Size()), nil
}

// initrd builds the profile's Go programs for the arch and writes the archive its spec describes.
func (r *run) initrd(ctx context.Context, a kbuild.Arch, dest string) (string, error) {
	spec := r.plan.Line.Profile.Initrd
	vars := map[string]string{}
	for name, pkg := range spec.Programs {
		bin := filepath.Join(r.opts.WorkDir, "programs", a.Name, strings.ToLower(name))
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return "", err
		}
		var out bytes.Buffer
		env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + a.GOARCH}
		args := []string{"build", "-C", pkg, "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, "."}
		if err := r.opts.Runner.Run(ctx, "go", args, env, &out); err != nil {
			return "", fmt.Errorf("building %s (%s) for %s: %v\n%s", name, pkg, a.Name, err, out.String())
		}
		vars[name] = bin
	}
	f, err := os.Open(spec.Spec)
	if err != nil {
		return "", err
	}
	defer f.Close()
	entries, err := initrd.ParseSpec(f, spec.Spec, vars)
	if err != nil {
		return "", err
	}
	if err := initrd.Write(dest, entries, r.commitTS.Unix(), spec.Compression); err != nil {
		return "", err
	}
	if err := r.output("initrd", a.Name, dest); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d entries from %s", len(entries), r.plan.Line.Pipeline.Rel(spec.Spec)), nil
}

func (r *run) boot(ctx context.Context, a kbuild.Arch, kernel, initrdPath, out string) (string, error) {
	b := r.plan.Line.Profile.Boot
	console := filepath.Join(out, "console.log")
	res, err := boot.Run(ctx, r.opts.Runner, boot.Options{
		Arch: a.Name, Kernel: kernel, Initrd: initrdPath, Memory: b.Memory, Cmdline: b.Cmdline,
		Timeout: b.Timeout, ConsoleLog: console, Release: r.plan.KernelRelease,
	})
	if err != nil {
		return "", err
	}
	r.m.Boots = append(r.m.Boots, manifest.Boot{Arch: a.Name, Release: res.Release, InitSeconds: res.TimeToInit.Seconds(),
		WallSeconds: res.Wall.Seconds(), ConsoleLog: console})
	return fmt.Sprintf("init reports %s, %.2fs to init (kernel clock), %.1fs wall", res.Release, res.TimeToInit.Seconds(), res.Wall.Seconds()), nil
}

// output records a file the run produced.
func (r *run) output(name, arch, path string) error {
	f, err := manifest.Describe(name, arch, path)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(r.plan.OutDir, path); err == nil {
		f.Path = rel
	}
	r.m.Outputs = append(r.m.Outputs, f)
	return nil
}

// copyFile copies src to dst, which appears only when complete.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Commit()
}
