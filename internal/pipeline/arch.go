package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/boot"
	"github.com/wslkernel/wslkernel/internal/branch"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/initrd"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// archRun is one arch's build: its O= tree, its output folder and its log.
type archRun struct {
	a       kbuild.Arch
	tree    *kbuild.Tree
	out     string
	logPath string
	log     *os.File
	final   *kconfig.Config // the .config configure made
	build   int             // the index of its manifest.Build, once the build stage recorded it
	vhdx    string          // modules.vhdx, when the config has modules
	module  string          // the module the boot test loads from it
	// configureKey and buildKey are the stages' cache keys, which the stages after them build on.
	configureKey, buildKey string
}

// newArch prepares an arch's output folder, log and build tree.
func (r *run) newArch(a kbuild.Arch) (*archRun, error) {
	ar := r.archTree(a)
	if err := os.MkdirAll(ar.out, 0o755); err != nil {
		return nil, err
	}
	// Appended to: a run that skips the build keeps the log of the one that made it.
	var err error
	if ar.log, err = os.OpenFile(ar.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(ar.log, "#### kbuild run, %s\n", time.Now().UTC().Format(time.RFC3339))
	return ar, nil
}

// archTree is an arch's build tree and output paths, touching nothing on disk.
func (r *run) archTree(a kbuild.Arch) *archRun {
	l := r.plan.Line
	ar := &archRun{a: a, out: filepath.Join(r.plan.OutDir, a.Name)}
	ar.logPath = filepath.Join(ar.out, "build.log")
	ar.tree = &kbuild.Tree{
		Src:          r.src,
		Out:          buildDir(r.opts, l, a.Name),
		Arch:         a,
		Jobs:         r.opts.Jobs,
		Wrapper:      l.Profile.Build.Wrapper,
		ExtraVersion: r.plan.Version.ExtraVersion(),
		Timestamp:    r.commitTS,
		CcacheLog:    filepath.Join(ar.out, "ccache.log"),
		CcacheDir:    r.ccacheDir,
		DistccHosts:  l.Profile.Build.DistccHosts,
		Runner:       r.opts.Runner,
	}
	if ar.tree.Jobs == 0 {
		ar.tree.Jobs = l.Profile.Build.Jobs
	}
	return ar
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
		err = r.cachedStage("configure", a.Name, r.configureCache(ctx, ar), func() (string, string, error) {
			detail, err := r.configure(ctx, ar)
			return detail, fileKey(filepath.Join(ar.tree.Out, ".config")), err
		})
		if err != nil {
			return arches, err
		}
	}
	return arches, nil
}

// sourceID names the source tree's contents: the branch's patch commit, or the tarball tree.
func (r *run) sourceID() string {
	if r.m.PatchesHead != "" {
		return r.m.PatchesHead
	}
	return r.src
}

// configureCache: the source, the base, every fragment's contents, the local version, the policy
// and the compiler (Kconfig records its version in the .config). Reusable while the build
// tree's .config is the one it made.
func (r *run) configureCache(ctx context.Context, ar *archRun) cached {
	l := r.plan.Line
	cfg := l.Profile.Config
	in := inputs{"source": r.sourceID(), "localversion": l.Pipeline.Version.LocalVersion,
		"strict": fmt.Sprint(cfg.IsStrict()), "compiler": r.toolchainID(ctx, ar.a)}
	if cfg.BaseIsTarget() {
		in["base"] = "make " + cfg.Base
	} else {
		in["base "+l.Pipeline.Rel(cfg.Base)] = fileKey(cfg.Base)
	}
	if cfg.Policy != "" {
		in["policy "+l.Pipeline.Rel(cfg.Policy)] = fileKey(cfg.Policy)
	}
	for i, f := range cfg.FragmentsFor(ar.a.Name) {
		in[fmt.Sprintf("fragment %d %s", i+1, l.Pipeline.Rel(f))] = fileKey(f) // order matters too
	}
	ar.configureKey = in.key()
	dotconfig := filepath.Join(ar.tree.Out, ".config")
	return cached{
		inputs: in,
		intact: func(st manifest.Stage) bool { return fileKey(dotconfig) == st.Product },
		restore: func(*manifest.Manifest, manifest.Stage) error {
			final, err := kconfig.ParseFile(dotconfig)
			ar.final = final
			return err
		},
	}
}

// toolchainID is the compiler's first --version line, for the keys of the stages that compile.
func (r *run) toolchainID(ctx context.Context, a kbuild.Arch) string {
	return r.toolVersion(ctx, a.CrossCompile+"gcc", "--version")
}

// toolVersion is the first line a program prints of its version, asked once per run: tool
// versions are inputs of the stages that use the tools.
func (r *run) toolVersion(ctx context.Context, prog string, args ...string) string {
	asked := prog + " " + strings.Join(args, " ")
	r.mu.Lock()
	v, ok := r.tools[asked]
	r.mu.Unlock()
	if ok {
		return v
	}
	var out bytes.Buffer
	v = "unknown " + prog
	if err := r.opts.Runner.Run(ctx, prog, args, nil, &out); err == nil {
		first, _, _ := strings.Cut(out.String(), "\n")
		v = strings.TrimSpace(first)
	}
	r.record(func() {
		if r.tools == nil {
			r.tools = map[string]string{}
		}
		r.tools[asked] = v
	})
	return v
}

// branchCache: the patch commit and each arch's .config (savedefconfig is a function of it).
// Reusable while the mirror's branch ref and the tree's defconfig files are still in place.
func (r *run) branchCache(ctx context.Context, arches []*archRun) cached {
	in := inputs{"source": r.sourceID(), "branch": r.m.BranchRef}
	var files []string
	for _, ar := range arches {
		in["config "+ar.a.Name] = fileKey(filepath.Join(ar.tree.Out, ".config"))
		files = append(files, filepath.Join(r.src, "arch", ar.a.SrcArch, "configs", DefconfigName))
	}
	return cached{
		inputs: in,
		intact: func(st manifest.Stage) bool {
			for _, f := range files {
				if _, err := os.Stat(f); err != nil {
					return false
				}
			}
			return r.m.BranchRef == "" || r.refIs(ctx, r.m.BranchRef, st.Product)
		},
		restore: func(prev *manifest.Manifest, st manifest.Stage) error {
			if r.m.BranchRef != "" {
				r.m.BranchHead = st.Product
			}
			return nil
		},
	}
}

// refIs reports whether the mirror's ref names the commit.
func (r *run) refIs(ctx context.Context, ref, commit string) bool {
	err := r.withMirror(ctx, func(m *upstream.Mirror) error {
		got, err := m.Repo().Storer.Reference(plumbing.ReferenceName(ref))
		if err != nil {
			return err
		}
		if got.Hash().String() != commit {
			return errors.New("moved")
		}
		return nil
	})
	return err == nil
}

// buildCache: the configured tree, the .config, the version and timestamp baked in, the compiler
// and its wrapper. Its outputs are the kernel image and the config beside it.
func (r *run) buildCache(ctx context.Context, ar *archRun) cached {
	t := ar.tree
	in := inputs{"configure": ar.configureKey, "config": fileKey(filepath.Join(t.Out, ".config")), "extraversion": t.ExtraVersion,
		"timestamp": t.Timestamp.UTC().String(), "wrapper": t.Wrapper, "distcc_hosts": strings.Join(t.DistccHosts, " "),
		"compiler": r.toolchainID(ctx, ar.a), "image": ar.a.Image}
	ar.buildKey = in.key()
	return cached{
		inputs:  in,
		outputs: []string{"kernel", "config"},
		restore: func(prev *manifest.Manifest, _ manifest.Stage) error {
			for _, b := range prev.Builds {
				if b.Arch == ar.a.Name {
					r.record(func() {
						r.m.Builds = append(r.m.Builds, b)
						ar.build = len(r.m.Builds) - 1
					})
					return nil
				}
			}
			return fmt.Errorf("the last run's manifest has no build record for %s: run with --force", ar.a.Name)
		},
	}
}

// modulesCache: the build, and the module the boot test is asked to load.
func (r *run) modulesCache(ar *archRun) cached {
	return cached{
		inputs:  inputs{"build": ar.buildKey, "boot_module": r.plan.Line.Profile.Boot.Module},
		outputs: []string{"modules"},
		restore: func(prev *manifest.Manifest, _ manifest.Stage) error {
			for _, f := range prev.Outputs {
				if f.Name == "modules" && f.Arch == ar.a.Name {
					ar.vhdx = filepath.Join(r.plan.OutDir, f.Path)
				}
			}
			for _, b := range prev.Builds {
				if b.Arch == ar.a.Name {
					ar.module = b.BootModule
					r.record(func() {
						if ar.build < len(r.m.Builds) {
							r.m.Builds[ar.build].ModulesDigest, r.m.Builds[ar.build].BootModule = b.ModulesDigest, b.BootModule
						}
					})
				}
			}
			return nil
		},
	}
}

// headersCache: the build (headers_install reads the configured tree).
func (r *run) headersCache(ar *archRun) cached {
	return cached{inputs: inputs{"build": ar.buildKey}, outputs: []string{"headers"}}
}

// initrdCache: the spec, the compression, the time stamped on every entry, and the Go programs'
// sources (every Go file of the module they belong to, and the Go version that builds them).
func (r *run) initrdCache(ctx context.Context, a kbuild.Arch) cached {
	spec := r.plan.Line.Profile.Initrd
	in := inputs{"spec " + r.plan.Line.Pipeline.Rel(spec.Spec): fileKey(spec.Spec), "compression": spec.Compression,
		"mtime": fmt.Sprint(r.commitTS.Unix())}
	if len(spec.Programs) > 0 {
		in["go"] = r.goVersion(ctx)
	}
	for name, pkg := range spec.Programs {
		in["program "+name] = goSourcesKey(pkg)
	}
	return cached{inputs: in, outputs: []string{"initrd"}}
}

// goVersion is the version of the go command that builds the initrd's programs.
func (r *run) goVersion(ctx context.Context) string {
	return r.toolVersion(ctx, "go", "env", "GOVERSION")
}

// goSourcesKey hashes every Go file, go.mod and go.sum of the module holding the package in pkg:
// more than the program needs, never less, and a few milliseconds for a module this size.
func goSourcesKey(pkg string) string {
	root := pkg
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dirKey(pkg)
		}
		root = parent
	}
	var parts []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		name := d.Name()
		if d.Type().IsRegular() && (name == "go.mod" || name == "go.sum" || (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"))) {
			rel, _ := filepath.Rel(root, path)
			parts = append(parts, rel, fileKey(path))
		}
		return nil
	})
	return key(parts...)
}

// bootCache: the kernel, initrd and modules disk booted, the module loaded, the machine's
// settings and the release the init must report.
func (r *run) bootCache(ar *archRun) cached {
	b := r.plan.Line.Profile.Boot
	return cached{
		inputs: inputs{"kernel": r.outputKey("kernel", ar.a.Name), "initrd": r.outputKey("initrd", ar.a.Name),
			"modules": r.outputKey("modules", ar.a.Name), "module": ar.module, "memory": b.Memory, "cmdline": b.Cmdline,
			"release": r.plan.KernelRelease},
		restore: func(prev *manifest.Manifest, _ manifest.Stage) error {
			for _, bt := range prev.Boots {
				if bt.Arch == ar.a.Name {
					r.record(func() { r.m.Boots = append(r.m.Boots, bt) })
				}
			}
			return nil
		},
	}
}

// DefconfigName is the in-tree defconfig the branch carries: make wsl_defconfig.
const DefconfigName = "wsl_defconfig"

// defconfigs commits each arch's savedefconfig as arch/<arch>/configs/wsl_defconfig, the branch's
// last commit, and writes the same files into the source tree, so the published source builds
// with make wsl_defconfig and that file is always the config that was built.
func (r *run) defconfigs(ctx context.Context, arches []*archRun) (string, error) {
	l := r.plan.Line
	files := map[string][]byte{}
	var paths []string
	for _, ar := range arches {
		if err := ar.tree.Make(ctx, ar.log, "savedefconfig"); err != nil {
			return "", fmt.Errorf("%s: make savedefconfig: %w", ar.a.Name, err)
		}
		data, err := os.ReadFile(filepath.Join(ar.tree.Out, "defconfig"))
		if err != nil {
			return "", err
		}
		path := "arch/" + ar.a.SrcArch + "/configs/" + DefconfigName
		files[path] = data
		paths = append(paths, path)
		if err := atomicfile.WriteFile(filepath.Join(r.src, filepath.FromSlash(path)), data, 0o644); err != nil {
			return "", err
		}
	}
	if r.m.BranchHead == "" {
		return fmt.Sprintf("%s written into the tree; a tarball source has no branch to commit them to", strings.Join(paths, ", ")), nil
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "Add %s, the config this release is built with\n\n", DefconfigName)
	fmt.Fprintf(&msg, "Generated by kbuild with make savedefconfig from profile %s of %s:\n", l.Name, l.Pipeline.Name)
	for _, ar := range arches {
		frags := []string{l.Profile.Config.Base}
		if !l.Profile.Config.BaseIsTarget() {
			frags[0] = l.Pipeline.Rel(frags[0])
		}
		for _, f := range l.Profile.Config.FragmentsFor(ar.a.Name) {
			frags = append(frags, l.Pipeline.Rel(f))
		}
		fmt.Fprintf(&msg, "  arch/%s/configs/%s: %s\n", ar.a.SrcArch, DefconfigName, strings.Join(frags, " + "))
	}
	fmt.Fprintf(&msg, "\nBuild it with: make %s && make\n", DefconfigName)
	err := r.withMirror(ctx, func(m *upstream.Mirror) error {
		repo := m.Repo()
		head, err := repo.CommitObject(plumbing.NewHash(r.m.BranchHead))
		if err != nil {
			return fmt.Errorf("%w: %v", upstream.ErrDamaged, err)
		}
		top, err := branch.Defconfigs(repo.Storer, head, files, r.commitTS, msg.String())
		if err != nil {
			return err
		}
		r.m.BranchHead = top.String()
		return repo.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(r.m.BranchRef), top))
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s at %s: %s committed", r.plan.Branch, r.m.BranchHead[:12], strings.Join(paths, ", ")), nil
}

// record changes the manifest; arches building in parallel take turns.
func (r *run) record(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
}

// minParallelCores is how many cores a machine needs for the arches to build at the same time.
var minParallelCores = 4

// buildAll builds every configured arch: at the same time when the machine has at least
// four cores, each arch getting its share of them for make -j; else one after the other, each
// with all of them. Parallel arches also overlap each other's serial steps (linking, compressing).
// The first failure is returned; the other arches finish what they started.
func (r *run) buildAll(ctx context.Context, arches []*archRun) error {
	cores := runtime.NumCPU()
	if len(arches) < 2 || cores < minParallelCores || r.opts.Jobs > 0 || r.plan.Line.Profile.Build.Jobs > 0 {
		for _, ar := range arches {
			if err := r.buildArch(ctx, ar); err != nil {
				return err
			}
		}
		return nil
	}
	r.parallel = true
	defer func() { r.parallel = false }()
	errs := make([]error, len(arches))
	var wg sync.WaitGroup
	for i, ar := range arches {
		ar.tree.Jobs = max(1, cores/len(arches))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.buildArch(ctx, ar)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// buildArch runs build, modules, initrd and boot for one configured arch.
func (r *run) buildArch(ctx context.Context, ar *archRun) error {
	if err := r.buildOnly(ctx, ar); err != nil {
		return err
	}
	return r.cachedStage("boot", ar.a.Name, r.bootCache(ar), noProduct(func() (string, error) {
		return r.boot(ctx, ar, filepath.Join(ar.out, "kernel"), filepath.Join(ar.out, "initrd.img"))
	}))
}

// noProduct adapts a stage that leaves nothing outside the output folder to cachedStage.
func noProduct(fn func() (string, error)) func() (string, string, error) {
	return func() (string, string, error) {
		detail, err := fn()
		return detail, "", err
	}
}

// buildOnly is buildArch without the boot: build, modules (when the config has them), initrd.
func (r *run) buildOnly(ctx context.Context, ar *archRun) error {
	kernel := filepath.Join(ar.out, "kernel")
	if err := r.cachedStage("build", ar.a.Name, r.buildCache(ctx, ar), noProduct(func() (string, error) { return r.build(ctx, ar, kernel) })); err != nil {
		return err
	}
	if ar.final.Value("MODULES") == "y" {
		if err := r.cachedStage("modules", ar.a.Name, r.modulesCache(ar), noProduct(func() (string, error) { return r.modules(ctx, ar) })); err != nil {
			return err
		}
	}
	if r.plan.Line.Profile.Build.Headers {
		if err := r.cachedStage("headers", ar.a.Name, r.headersCache(ar), noProduct(func() (string, error) { return r.headers(ctx, ar) })); err != nil {
			return err
		}
	}
	return r.cachedStage("initrd", ar.a.Name, r.initrdCache(ctx, ar.a), noProduct(func() (string, error) {
		return r.initrd(ctx, ar.a, filepath.Join(ar.out, "initrd.img"))
	}))
}

// configure makes the .config: the base, the fragments in order, the local version from the
// version scheme last, then olddefconfig; every requested value must survive.
func (r *run) configure(ctx context.Context, ar *archRun) (string, error) {
	tree, log := ar.tree, ar.log
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
	if err := atomicfile.Copy(dotconfig, dotconfig+".base", 0o644); err != nil {
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
	ar.final = final
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

func (r *run) build(ctx context.Context, ar *archRun, kernel string) (string, error) {
	tree := ar.tree
	os.Remove(tree.CcacheLog) // count this build's compilations only
	b := manifest.Build{Arch: tree.Arch.Name}
	_, err := os.Stat(filepath.Join(tree.Out, "vmlinux"))
	fresh := os.IsNotExist(err)
	on := 0
	for _, s := range ar.final.Settings() {
		if s.Value == "y" || s.Value == "m" {
			on++
		}
	}
	progress := &buildProgress{log: ar.log, term: r.live(), label: "build [" + tree.Arch.Name + "]",
		expected: expectedCommands(tree.Out, on), start: time.Now()}
	if !fresh {
		progress.expected = 0 // an incremental build runs only what changed: nothing to expect
	}
	err = tree.Make(ctx, progress, tree.Arch.Image)
	progress.clear()
	b.Commands = progress.done
	if err == nil && fresh {
		recordCommands(tree.Out, progress.done)
	}
	if tree.Wrapper != "none" {
		b.CcacheHits, b.CcacheMisses, _ = kbuild.CcacheStats(tree.CcacheLog)
	}
	b.Toolchain, _ = tree.Toolchain()
	if err != nil {
		r.record(func() { r.m.Builds = append(r.m.Builds, b) })
		return "", fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	built := &b
	defer r.record(func() {
		r.m.Builds = append(r.m.Builds, b)
		ar.build = len(r.m.Builds) - 1
	})
	release, err := tree.ReadRelease()
	if err != nil {
		return "", err
	}
	if release != r.plan.KernelRelease {
		return "", fmt.Errorf("the build's kernel release is %s, the version scheme says %s", release, r.plan.KernelRelease)
	}
	if err := atomicfile.Copy(filepath.Join(tree.Out, tree.Arch.ImagePath), kernel, 0o644); err != nil {
		return "", err
	}
	configOut := filepath.Join(filepath.Dir(kernel), "config")
	if err := atomicfile.Copy(filepath.Join(tree.Out, ".config"), configOut, 0o644); err != nil {
		return "", err
	}
	if _, err := r.output("kernel", tree.Arch.Name, kernel); err != nil {
		return "", err
	}
	if _, err := r.output("config", tree.Arch.Name, configOut); err != nil {
		return "", err
	}
	info, err := os.Stat(kernel)
	if err != nil {
		return "", err
	}
	built.Release, built.ImageBytes = release, info.Size()
	if sz, err := kbuild.ELFSizes(filepath.Join(tree.Out, "vmlinux")); err == nil {
		built.VmlinuxText, built.VmlinuxData, built.VmlinuxBSS = sz.Text, sz.Data, sz.BSS
	}
	return fmt.Sprintf("%s %s, %d bytes; %d commands, ccache %d hits, %d misses", tree.Arch.Image, release, info.Size(), built.Commands, built.CcacheHits, built.CcacheMisses), nil
}

// modules builds the modules, installs them stripped into a scratch root and makes
// modules.vhdx of lib/modules/<release>, as WSL mounts it; it also picks the module the boot
// test loads.
func (r *run) modules(ctx context.Context, ar *archRun) (string, error) {
	vhdx := filepath.Join(ar.out, "modules.vhdx")
	if err := ar.tree.Make(ctx, ar.log, "modules"); err != nil {
		return "", fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	root := filepath.Join(ar.out, "modules-root")
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	if err := ar.tree.Make(ctx, ar.log, "INSTALL_MOD_PATH="+root, "INSTALL_MOD_STRIP=1", "modules_install"); err != nil {
		return "", fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	modDir := filepath.Join(root, "lib/modules", r.plan.KernelRelease)
	standalone, err := moddisk.Standalone(modDir)
	if err != nil {
		return "", err
	}
	want := r.plan.Line.Profile.Boot.Module
	switch {
	case want != "" && !slices.Contains(standalone, want):
		return "", fmt.Errorf("boot.module %s is not among the modules that load alone: %s", want, strings.Join(standalone, ", "))
	case want != "":
		ar.module = want
	case len(standalone) > 0:
		ar.module = standalone[0]
	}
	n, err := moddisk.Make(ctx, r.opts.Runner, modDir, vhdx, r.commitTS)
	if err != nil {
		return "", err
	}
	digest, _, err := manifest.TreeDigest(modDir)
	if err != nil {
		return "", err
	}
	r.record(func() { r.m.Builds[ar.build].ModulesDigest, r.m.Builds[ar.build].BootModule = digest, ar.module })
	ar.vhdx = vhdx
	if _, err := r.output("modules", ar.a.Name, vhdx); err != nil {
		return "", err
	}
	info, err := os.Stat(vhdx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d modules in %s, %d bytes", n, filepath.Base(vhdx), info.Size()), nil
}

// headers installs the UAPI headers (make headers_install) into <out>/<arch>/headers, written
// beside and renamed into place; the manifest records the folder by its digest.
func (r *run) headers(ctx context.Context, ar *archRun) (string, error) {
	dest := filepath.Join(ar.out, "headers")
	tmp := dest + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // after a failure; after success it is already renamed
	if err := ar.tree.Make(ctx, ar.log, "INSTALL_HDR_PATH="+tmp, "headers_install"); err != nil {
		return "", fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	if err := os.RemoveAll(dest); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return "", err
	}
	f, err := r.output("headers", ar.a.Name, dest)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, %d KiB", dest, f.Size>>10), nil
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
	if err := initrd.Write(ctx, r.opts.Runner, dest, entries, r.commitTS.Unix(), spec.Compression); err != nil {
		return "", err
	}
	if _, err := r.output("initrd", a.Name, dest); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d entries from %s", len(entries), r.plan.Line.Pipeline.Rel(spec.Spec)), nil
}

// boot boots the kernel and initrd under qemu, with modules.vhdx attached when there is one;
// the init must report the release and load the chosen module from the disk.
func (r *run) boot(ctx context.Context, ar *archRun, kernel, initrdPath string) (string, error) {
	b := r.plan.Line.Profile.Boot
	console := filepath.Join(ar.out, "console.log")
	opts := boot.Options{
		Arch: ar.a.Name, Kernel: kernel, Initrd: initrdPath, Memory: b.Memory, Cmdline: b.Cmdline,
		Timeout: b.Timeout, ConsoleLog: console, Release: r.plan.KernelRelease,
	}
	if ar.module != "" {
		opts.ModulesDisk, opts.Module = ar.vhdx, ar.module
	}
	res, err := boot.Run(ctx, r.opts.Runner, opts)
	if err != nil {
		return "", err
	}
	r.record(func() {
		r.m.Boots = append(r.m.Boots, manifest.Boot{Arch: ar.a.Name, Release: res.Release, Module: res.Module,
			InitSeconds: res.TimeToInit.Seconds(), WallSeconds: res.Wall.Seconds(), ConsoleLog: console})
	})
	detail := fmt.Sprintf("init reports %s", res.Release)
	if res.Module != "" {
		detail += fmt.Sprintf(", loaded %s from %s", res.Module, filepath.Base(ar.vhdx))
	}
	return detail + fmt.Sprintf(", %.2fs to init (kernel clock), %.2fs wall", res.TimeToInit.Seconds(), res.Wall.Seconds()), nil
}

// output records a file (or folder) the run produced, and returns its description.
func (r *run) output(name, arch, path string) (manifest.File, error) {
	f, err := manifest.Describe(name, arch, path)
	if err != nil {
		return f, err
	}
	if rel, err := filepath.Rel(r.plan.OutDir, path); err == nil {
		f.Path = rel
	}
	r.record(func() { r.m.Outputs = append(r.m.Outputs, f) })
	return f, nil
}
