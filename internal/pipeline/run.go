package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/branch"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// run is the state of one Run: the plan, where things go, and the manifest being filled in.
type run struct {
	plan     *Plan
	opts     Options
	m        *manifest.Manifest
	src      string
	pristine string // source: tarball: the verified, unpacked release in the cache
	commitTS time.Time
	// ccacheDir is CCACHE_DIR for the builds; empty for ccache's default. kbuild verify uses a
	// cache of its own, so its build never reuses an object compiled in the run's directories.
	ccacheDir string
	// keepRefs leaves the mirror's branch ref where the last run put it (kbuild verify rebuilds
	// the same patches, but must not move the branch that is published).
	keepRefs bool
	// mu guards m and the output while arches build in parallel.
	mu sync.Mutex
	// parallel is set while arches build at the same time.
	parallel bool
	// prev is the last run of this version (its manifest in the output folder, if any): the
	// stages it finished with the same keys are skipped (see cache.go).
	prev *manifest.Manifest
	// manifestPath is where the manifest is written after every stage; empty: not before the end.
	manifestPath string
	// tools holds the versions of the programs asked so far (toolVersion), by command line.
	tools map[string]string
}

// live is where live progress goes: opts.Progress, or nowhere while arches build in parallel
// (two bars on one line would be noise; each stage still gets its line).
func (r *run) live() io.Writer {
	if r.parallel {
		return nil
	}
	return r.opts.Progress
}

// Run carries out the plan. The manifest is written whether the run succeeds or fails, so a
// failed run still says how far it got; its path is returned in both cases. With opts.Arches,
// every arch is configured (the branch's defconfig commit holds them all, so it is the same
// whichever arch a CI job builds) but only those are built and booted, and nothing is packaged:
// kbuild assemble gathers the arches' runs and packages them.
func Run(ctx context.Context, p *Plan, opts Options) (manifestPath string, err error) {
	return runWith(ctx, p, opts, "run", func(r *run, arches []*archRun) error {
		built := arches
		if len(opts.Arches) > 0 {
			built = slices.DeleteFunc(slices.Clone(arches), func(ar *archRun) bool { return !slices.Contains(opts.Arches, ar.a.Name) })
		}
		if err := r.buildAll(ctx, built); err != nil {
			return err
		}
		if len(p.Line.Profile.Package.Formats) == 0 {
			return nil
		}
		if len(built) < len(arches) {
			fmt.Fprintf(r.opts.Out, "%-18s not made here: this run built %s of %s; kbuild assemble gathers the arches' runs and packages them\n",
				"package", strings.Join(opts.Arches, ", "), strings.Join(p.Line.Profile.Arches, ", "))
			return nil
		}
		return r.packageStage(ctx)
	})
}

// runWith is a run up to and including the branch stage (fetch, patch, every arch configured,
// the defconfig commit), then finish; the manifest is written after every stage and at the end.
func runWith(ctx context.Context, p *Plan, opts Options, what string, finish func(*run, []*archRun) error) (manifestPath string, err error) {
	if opts.Runner == nil {
		opts.Runner = kbuild.Exec{}
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	unlock, err := lockWorkDir(opts.WorkDir, what)
	if err != nil {
		return "", err
	}
	defer unlock()
	l := p.Line
	r := &run{plan: p, opts: opts, m: &manifest.Manifest{
		Schema:        manifest.Schema,
		Pipeline:      l.Pipeline.Name,
		Profile:       l.Name,
		Version:       p.Version.String(),
		KernelRelease: p.KernelRelease,
		Branch:        p.Branch,
		Tag:           p.Tag,
		InputsDigest:  p.InputsDigest,
		Started:       time.Now().UTC(),
		Upstream:      manifest.Upstream{Release: p.Release.String(), Tag: p.Release.Tag(), GitURL: l.Upstream.Git},
		Reproducer:    fmt.Sprintf("kbuild %s --config %s --profile %s", what, l.Pipeline.File, l.Name),
	}}
	manifestPath = filepath.Join(p.OutDir, "manifest.json")
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return "", err
	}
	if prev, err := manifest.Read(manifestPath); err == nil {
		r.prev = prev
	}
	r.manifestPath = manifestPath
	defer func() {
		r.m.Status = "ok"
		if err != nil {
			r.m.Status, r.m.Error = "failed", err.Error()
		}
		if werr := r.m.Write(manifestPath); werr != nil && err == nil {
			err = werr
		}
	}()
	if err := r.inputs(); err != nil {
		return manifestPath, err
	}
	if err := r.stage("fetch", "", r.fetch); err != nil {
		return manifestPath, err
	}
	if err := r.cachedStage("patch", "", r.patchCache(ctx), r.source); err != nil {
		return manifestPath, err
	}
	arches, err := r.configureAll(ctx)
	defer closeLogs(arches)
	if err != nil {
		return manifestPath, err
	}
	err = r.cachedStage("branch", "", r.branchCache(ctx, arches), func() (string, string, error) {
		detail, err := r.defconfigs(ctx, arches)
		return detail, r.m.BranchHead, err
	})
	if err != nil {
		return manifestPath, err
	}
	if err := finish(r, arches); err != nil {
		return manifestPath, err
	}
	fmt.Fprintf(opts.Out, "%-18s %s\n", "manifest", manifestPath)
	return manifestPath, nil
}

// packageStage makes the Windows payloads of every arch.
func (r *run) packageStage(ctx context.Context) error {
	return r.cachedStage("package", "", r.packageCache(), noProduct(func() (string, error) {
		_, detail, err := r.makePayloads(ctx, "")
		return detail, err
	}))
}

// Fetch runs only the fetch and patch stages, for a source tree without a build, and returns the
// tree's path. It writes no manifest.
func Fetch(ctx context.Context, p *Plan, opts Options) (string, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	// The source tree is moved in place: not while a run builds from it.
	unlock, err := lockWorkDir(opts.WorkDir, "fetch")
	if err != nil {
		return "", err
	}
	defer unlock()
	r := &run{plan: p, opts: opts, m: &manifest.Manifest{}}
	if err := r.stage("fetch", "", r.fetch); err != nil {
		return "", err
	}
	if err := r.keyedStage("patch", "", nil, r.source); err != nil {
		return "", err
	}
	return r.src, nil
}

// Configure runs fetch, patch and configure for every arch, and returns each arch's .config.
// It writes no manifest and builds nothing.
func Configure(ctx context.Context, p *Plan, opts Options) ([]string, error) {
	if opts.Runner == nil {
		opts.Runner = kbuild.Exec{}
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	unlock, err := lockWorkDir(opts.WorkDir, "configure")
	if err != nil {
		return nil, err
	}
	defer unlock()
	r := &run{plan: p, opts: opts, m: &manifest.Manifest{}}
	if err := r.stage("fetch", "", r.fetch); err != nil {
		return nil, err
	}
	if err := r.keyedStage("patch", "", nil, r.source); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return nil, err
	}
	arches, err := r.configureAll(ctx)
	defer closeLogs(arches)
	if err != nil {
		return nil, err
	}
	var configs []string
	for _, ar := range arches {
		configs = append(configs, filepath.Join(ar.tree.Out, ".config"))
	}
	return configs, nil
}

func closeLogs(arches []*archRun) {
	for _, ar := range arches {
		ar.log.Close()
	}
}

// stage times fn and records it in the manifest.
func (r *run) stage(name, arch string, fn func() (string, error)) error {
	return r.keyedStage(name, arch, nil, func() (string, string, error) {
		detail, err := fn()
		return detail, "", err
	})
}

// keyedStage is stage for a stage with a cache key (cache.go): a success records the key and
// the stage's product. Either way the manifest is written, so a killed run leaves its record.
func (r *run) keyedStage(name, arch string, in inputs, fn func() (detail, product string, err error)) error {
	start := time.Now()
	detail, product, err := fn()
	st := manifest.Stage{Name: name, Arch: arch, Status: "ok", Started: start.UTC(), Seconds: time.Since(start).Seconds(), Detail: detail}
	label := name
	if arch != "" {
		label += " [" + arch + "]"
	}
	r.record(func() {
		if err != nil {
			st.Status, st.Detail = "failed", err.Error()
			fmt.Fprintf(r.opts.Out, "%-18s failed after %.1fs\n", label, st.Seconds)
		} else {
			if len(in) > 0 {
				st.Key, st.Inputs = in.key(), in
			}
			st.Product = product
			fmt.Fprintf(r.opts.Out, "%-18s %s (%.1fs)\n", label, detail, st.Seconds)
		}
		r.m.Stages = append(r.m.Stages, st)
	})
	r.checkpoint()
	return err
}

// inputs hashes everything the line reads from the repository.
func (r *run) inputs() error {
	l := r.plan.Line
	add := func(name, path string) error {
		f, err := manifest.Describe(name, "", path)
		if err != nil {
			return err
		}
		f.Path = l.Pipeline.Rel(path)
		r.m.Inputs = append(r.m.Inputs, f)
		return nil
	}
	if err := add("pipeline", l.Pipeline.File); err != nil {
		return err
	}
	prof := l.Profile
	if !prof.Config.BaseIsTarget() {
		if err := add("config-base", prof.Config.Base); err != nil {
			return err
		}
	}
	for _, f := range prof.Config.Fragments {
		if err := add("fragment", f); err != nil {
			return err
		}
	}
	if prof.Patches != "" {
		if err := add("series", prof.Patches); err != nil {
			return err
		}
		entries, err := patch.ReadSeries(prof.Patches)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := add("patch", e.Path); err != nil {
				return err
			}
		}
	}
	return add("initrd-spec", prof.Initrd.Spec)
}

// withMirror runs fn on the locked mirror of the line's upstream. A mirror found damaged (a
// truncated pack, a missing object: a killed run or a bad disk) is said so, emptied, fetched
// again, and fn runs once more.
func (r *run) withMirror(ctx context.Context, fn func(*upstream.Mirror) error) error {
	l := r.plan.Line
	mirror, unlock, err := upstream.OpenMirror(r.opts.CacheDir, l.Upstream.Git)
	if err != nil {
		return err
	}
	defer unlock()
	if mirror.Repaired != "" {
		fmt.Fprintf(r.opts.Out, "%-18s %s\n", "REPAIR", mirror.Repaired)
	}
	err = fn(mirror)
	if !errors.Is(err, upstream.ErrDamaged) {
		return err
	}
	fmt.Fprintf(r.opts.Out, "%-18s %v\n%-18s fetching %s again into %s\n", "REPAIR", err, "", r.plan.Release.Tag(), mirror.Dir)
	if err := mirror.Reset(); err != nil {
		return err
	}
	if r.m.Upstream.Commit != "" {
		// The tag was resolved and verified before the damage showed: it must name the same commit.
		f, err := mirror.FetchTag(ctx, r.plan.Release, nil)
		if err != nil {
			return err
		}
		tagged, err := mirror.Resolve(f.Ref)
		if err != nil {
			return err
		}
		if got := tagged.Commit.Hash.String(); got != r.m.Upstream.Commit {
			return fmt.Errorf("%s now names commit %s, not %s as when this run verified it", r.plan.Release.Tag(), got, r.m.Upstream.Commit)
		}
	}
	return fn(mirror)
}

func (r *run) fetch() (string, error) {
	if r.plan.Line.Upstream.Source == "tarball" {
		return r.fetchTarball()
	}
	ctx := context.Background()
	l := r.plan.Line
	tag := r.plan.Release.Tag()
	var tagged *upstream.Tagged
	var fetched *upstream.Fetched
	wt := r.worktree()
	err := r.withMirror(ctx, func(m *upstream.Mirror) error {
		var err error
		if wt.Vacant() {
			// A first fetch writes the source tree as the pack arrives; it is used only once
			// the tag's signature is checked below.
			fetched, err = m.FetchTagTree(ctx, r.plan.Release, r.opts.Progress, upstream.TreeRequest{
				Dest: wt.Unverified(), Workers: runtime.NumCPU(), Files: r.exportProgress(),
			})
			if r.opts.Progress != nil {
				fmt.Fprint(r.opts.Progress, "\r\033[K")
			}
		} else {
			fetched, err = m.FetchTag(ctx, r.plan.Release, r.opts.Progress)
		}
		if err != nil {
			return err
		}
		tagged, err = m.Resolve(fetched.Ref)
		return err
	})
	if err == nil && fetched.Tree != "" {
		defer os.RemoveAll(fetched.Tree) // gone once adopted; not used if the check fails
	}
	if err != nil {
		return "", err
	}
	trust := ""
	if l.Upstream.AllowUnsigned {
		r.m.Upstream.Unsigned = true
		trust = "SIGNATURE NOT VERIFIED (allow_unsigned)"
		fmt.Fprintf(r.opts.Out, "%-18s %s: allow_unsigned is set, so nothing proves this tree is kernel.org's\n", "WARNING", tag)
	} else {
		fpr, err := upstream.VerifyTag(tagged, tag, l.Upstream.Keyring, l.Upstream.Signers)
		if err != nil {
			return "", err
		}
		r.m.Upstream.Signer = fpr
		trust = "signed by " + fpr
	}
	r.m.Upstream.Commit = tagged.Commit.Hash.String()
	r.m.Upstream.CommitTime = tagged.Commit.Committer.When.UTC()
	r.commitTS = tagged.Commit.Committer.When
	how := ""
	if fetched.Tree != "" {
		if err := wt.Adopt(tagged.Commit.Hash); err != nil {
			return "", fmt.Errorf("making the source tree %s: %w", wt.Dir, err)
		}
		how = fmt.Sprintf(", %d files written to %s as they arrived", fetched.Files, wt.Dir)
	}
	switch {
	case fetched.Retagged != "":
		fmt.Fprintf(r.opts.Out, "%-18s upstream's %s is a new tag object (was %s, now %s): fetched again, signature checked again\n",
			"WARNING", tag, fetched.Retagged[:12], fetched.Ref.Hash().String()[:12])
		how += ", RE-TAGGED upstream"
	case fetched.Offline != "":
		fmt.Fprintf(r.opts.Out, "%-18s upstream unreachable (%s): using the mirror's copy of %s\n", "warning", fetched.Offline, tag)
		how += ", from the mirror (upstream unreachable)"
	case fetched.Cached:
		how += ", already in the mirror"
	case fetched.Incremental:
		how += ", only what is new since the mirror's last release"
	}
	return fmt.Sprintf("%s %s%s, %s", tag, tagged.Commit.Hash.String()[:12], how, trust), nil
}

// exportProgress draws one live line on a terminal; nil (no live progress) otherwise.
func (r *run) exportProgress() upstream.Progress {
	if r.opts.Progress == nil {
		return nil
	}
	return func(files, bytes int64) {
		fmt.Fprintf(r.opts.Progress, "\r\033[Kexport: %d files, %d MiB", files, bytes>>20)
	}
}

// patchCache is the patch stage's key: the upstream commit (or the verified tarball), the series
// and every patch's contents, the fuzz allowed and the branch it is committed to. The stage is
// reusable while the source tree still holds its commit and the mirror still has it.
func (r *run) patchCache(ctx context.Context) cached {
	prof := r.plan.Line.Profile
	in := inputs{"upstream": r.m.Upstream.Commit, "signer": r.m.Upstream.Signer, "patch_fuzz": fmt.Sprint(prof.PatchFuzz), "branch": r.branchRef()}
	if r.pristine != "" {
		in["tarball"] = r.pristine
	}
	if prof.Patches != "" {
		series, err := patch.ReadSeries(prof.Patches)
		if err != nil {
			return cached{} // no inputs: the stage runs and reports the series' error
		}
		in["series "+r.plan.Line.Pipeline.Rel(prof.Patches)] = fileKey(prof.Patches)
		for _, e := range series {
			in["patch "+e.Name] = fileKey(e.Path)
		}
	}
	return cached{
		inputs: in,
		intact: func(st manifest.Stage) bool {
			if r.pristine != "" {
				_, err := os.Stat(st.Product + ".done")
				return err == nil
			}
			return r.worktree().Holds().String() == st.Product && r.mirrorHas(ctx, st.Product)
		},
		restore: func(prev *manifest.Manifest, st manifest.Stage) error {
			r.m.BranchRef, r.m.PatchesHead, r.m.BranchHead = prev.BranchRef, prev.PatchesHead, prev.PatchesHead
			r.m.Patches, r.m.SourceTree, r.src = prev.Patches, prev.SourceTree, prev.SourceTree
			return nil
		},
	}
}

// worktree is the profile's source tree for a git upstream: one folder, moved from release to
// release in place, so the build trees made from it stay incremental.
func (r *run) worktree() upstream.Worktree {
	return upstream.Worktree{Dir: filepath.Join(r.opts.WorkDir, "src", r.plan.Line.Name)}
}

// mirrorHas reports whether the upstream mirror holds a commit (a mirror emptied and fetched
// again since the last run has lost the branch's commits).
func (r *run) mirrorHas(ctx context.Context, commit string) bool {
	err := r.withMirror(ctx, func(m *upstream.Mirror) error {
		_, err := m.Repo().CommitObject(plumbing.NewHash(commit))
		return err
	})
	return err == nil
}

// source makes the patched source tree. For git, the series becomes commits on the tag in the
// mirror and the profile's worktree is moved to the last of them in place (only the files that
// differ are written). A tarball source gets a tree keyed by the tarball and the patches'
// contents, complete once its stamp exists. The product is the commit (git) or tree (tarball).
func (r *run) source() (string, string, error) {
	ctx := context.Background()
	prof := r.plan.Line.Profile
	series, commits, err := r.readSeries()
	if err != nil {
		return "", "", err
	}
	// For git, the series becomes commits on top of the tag, in the mirror; the tree is that commit's.
	res, err := r.applySeries(ctx, commits, true)
	if err != nil {
		return "", "", err
	}
	upstreamed := map[*patch.Commit]bool{}
	for _, c := range res.Upstreamed {
		upstreamed[c] = true
		fmt.Fprintf(r.opts.Out, "%-18s patch %s (%s) is upstreamed in %s: skipped; kbuild patches refresh drops it from the series\n",
			"note", c.Entry.Name, c.Subject(), r.plan.Release.Tag())
	}
	for _, c := range commits {
		p := manifest.Patch{
			File:    r.plan.Line.Pipeline.Rel(c.Entry.Path),
			Subject: c.Subject(),
			Author:  fmt.Sprintf("%s <%s>", c.Header.Author.Name, c.Header.Author.Email),
		}
		if upstreamed[c] {
			p.Upstreamed = r.plan.Release.Tag()
		}
		r.m.Patches = append(r.m.Patches, p)
	}
	for _, o := range res.Offsets {
		fmt.Fprintf(r.opts.Out, "%-18s %s\n", "note", o)
	}
	applied := fmt.Sprintf("%d patches applied", len(res.Commits))
	if len(res.Upstreamed) > 0 {
		applied += fmt.Sprintf(", %d upstreamed", len(res.Upstreamed))
	}
	if r.m.BranchHead != "" {
		applied += fmt.Sprintf(", branch %s at %s", r.plan.Branch, r.m.BranchHead[:12])
	}

	if r.pristine == "" {
		wt := r.worktree()
		var how string
		err = r.withMirror(ctx, func(m *upstream.Mirror) error {
			var err error
			how, err = wt.Checkout(ctx, m.Dir, plumbing.NewHash(r.m.BranchHead), runtime.NumCPU(), r.exportProgress())
			return err
		})
		if r.opts.Progress != nil {
			fmt.Fprint(r.opts.Progress, "\r\033[K")
		}
		if err != nil {
			return "", "", fmt.Errorf("making the source tree %s: %w", wt.Dir, err)
		}
		r.src, r.m.SourceTree = wt.Dir, wt.Dir
		return fmt.Sprintf("%s, tree %s (%s)", applied, r.src, how), r.m.PatchesHead, nil
	}

	h := sha256.New()
	fmt.Fprintf(h, "tarball %s signed by %s\n", r.pristine, r.m.Upstream.Signer)
	if prof.PatchFuzz > 0 {
		fmt.Fprintf(h, "fuzz %d\n", prof.PatchFuzz) // fuzz can change where a hunk lands
	}
	for _, e := range series {
		data, err := os.ReadFile(e.Path)
		if err != nil {
			return "", "", err
		}
		fmt.Fprintf(h, "patch %s %d\n", e.Name, len(data))
		h.Write(data)
	}
	r.src = filepath.Join(r.opts.WorkDir, "src", hex.EncodeToString(h.Sum(nil))[:16])
	r.m.SourceTree = r.src
	stamp := r.src + ".done"
	if _, err := os.Stat(stamp); err == nil {
		return fmt.Sprintf("%s, tree %s (reused)", applied, r.src), r.src, nil
	}
	if err := os.RemoveAll(r.src); err != nil {
		return "", "", err
	}
	// Hard links: patches replace files by rename, so the cached tree is never changed.
	files, err := upstream.LinkTree(context.TODO(), r.pristine, r.src) // TODO(cancel): the run's ctx once source takes one
	if err == nil {
		err = res.Write(r.src)
	}
	if err != nil {
		return "", "", fmt.Errorf("making the source tree %s: %w", r.src, err)
	}
	if err := atomicfile.WriteFile(stamp, []byte(r.m.Upstream.Commit+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return fmt.Sprintf("%s, %d files changed, tree %s (%d files)", applied, len(res.Changes), r.src, files), r.src, nil
}

// readSeries reads and parses the profile's patch series; no series is an empty one.
func (r *run) readSeries() ([]patch.Entry, []*patch.Commit, error) {
	var series []patch.Entry
	if f := r.plan.Line.Profile.Patches; f != "" {
		var err error
		if series, err = patch.ReadSeries(f); err != nil {
			return nil, nil, err
		}
	}
	commits, err := patch.ParseAll(series)
	return series, commits, err
}

// applySeries applies the commits to the fetched release in memory: to the unpacked tarball, or
// to the tag in the mirror (see applyGit).
func (r *run) applySeries(ctx context.Context, commits []*patch.Commit, commit bool) (*patch.Result, error) {
	if r.pristine != "" {
		return patch.ApplyFuzz(patch.DirReader(r.pristine), commits, r.plan.Line.Profile.PatchFuzz)
	}
	return r.applyGit(ctx, commits, commit)
}

// applyGit applies the series to the upstream commit in the mirror, in memory; with commit, it
// also makes the branch's patch commits and points the branch ref at them.
func (r *run) applyGit(ctx context.Context, commits []*patch.Commit, commit bool) (res *patch.Result, err error) {
	err = r.withMirror(ctx, func(m *upstream.Mirror) error {
		repo := m.Repo()
		base, err := repo.CommitObject(plumbing.NewHash(r.m.Upstream.Commit))
		if err != nil {
			return fmt.Errorf("%w: %v", upstream.ErrDamaged, err)
		}
		tree, err := base.Tree()
		if err != nil {
			return fmt.Errorf("%w: %v", upstream.ErrDamaged, err)
		}
		if res, err = patch.ApplyFuzz(branch.Reader(repo.Storer, tree), commits, r.plan.Line.Profile.PatchFuzz); err != nil || !commit {
			return err
		}
		head, err := branch.Patches(repo.Storer, base, res.Steps)
		if err != nil {
			return err
		}
		r.m.BranchRef = r.branchRef()
		r.m.BranchHead, r.m.PatchesHead = head.String(), head.String()
		if r.keepRefs {
			return nil
		}
		return repo.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(r.m.BranchRef), head))
	})
	return res, err
}

// RefreshPatches applies the series to the plan's release and rewrites it for that base: hunk
// headers where the hunks now apply, upstreamed patches dropped. With write false it only
// reports. The source tree is not touched.
func RefreshPatches(ctx context.Context, p *Plan, opts Options, write bool) (*patch.Refreshed, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	prof := p.Line.Profile
	if prof.Patches == "" {
		return nil, fmt.Errorf("profile %s has no patch series", p.Line.Name)
	}
	r := &run{plan: p, opts: opts, m: &manifest.Manifest{}}
	if err := r.stage("fetch", "", r.fetch); err != nil {
		return nil, err
	}
	series, commits, err := r.readSeries()
	if err != nil {
		return nil, err
	}
	res, err := r.applySeries(ctx, commits, false)
	if err != nil {
		return nil, fmt.Errorf("the series does not apply to %s, so it cannot be refreshed automatically: %w", p.Release.Tag(), err)
	}
	ref, err := patch.Refresh(prof.Patches, series, commits, res, p.Release.Tag())
	if err != nil {
		return nil, err
	}
	if write && ref.Changed() {
		if err := ref.Write(); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// branchRef is where the mirror keeps the profile's release branch: out of the way of the tags
// it fetches, one per profile.
func (r *run) branchRef() string {
	return fmt.Sprintf("refs/wslkernel/%s/heads/%s", r.plan.Line.Name, r.plan.Branch)
}
