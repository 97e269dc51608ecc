package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/branch"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// The patch stage makes the patched source tree. For git, the series becomes commits on the
// tag in the mirror and the profile's worktree is moved to the last of them in place (only the
// files that differ are written). A tarball source gets a tree keyed by the tarball and the
// patches' contents, complete once its stamp exists. Its product is the commit (git) or tree.

// patchDeclares: the series and every patch's contents, and the fuzz allowed.
func patchDeclares(l *config.Line, _ string) (inputs, error) {
	prof := l.Profile
	in := inputs{"patch_fuzz": fmt.Sprint(prof.PatchFuzz)}
	if prof.Patches == "" {
		return in, nil
	}
	series, err := patch.ReadSeries(prof.Patches)
	if err != nil {
		return nil, err
	}
	in["series "+l.Pipeline.Rel(prof.Patches)] = fileKey(prof.Patches)
	for _, e := range series {
		in["patch "+e.Name] = fileKey(e.Path)
	}
	return in, nil
}

// patchDerives: the upstream commit and its signer (or the verified tarball), and the branch.
func patchDerives(_ context.Context, r *run, _ *archRun) inputs {
	in := inputs{"upstream": r.st.upstream.Commit, "signer": r.st.upstream.Signer, "branch": r.branchRef()}
	if r.st.pristine != "" {
		in["tarball"] = r.st.pristine
	}
	return in
}

// patchIntact: the source tree still holds the commit and the mirror still has it.
func patchIntact(ctx context.Context, r *run, _ *archRun, rec manifest.Stage) bool {
	if r.st.pristine != "" {
		_, err := os.Stat(rec.Product + ".done")
		return err == nil
	}
	return r.worktree().Holds().String() == rec.Product && r.mirrorHas(ctx, rec.Product)
}

func patchRestore(r *run, _ *archRun, prev *manifest.Manifest, _ manifest.Stage) error {
	r.st.branchRef, r.st.patchesHead, r.st.branchHead = prev.BranchRef, prev.PatchesHead, prev.PatchesHead
	r.st.patches, r.st.src = prev.Patches, prev.SourceTree
	return nil
}

func patchBody(ctx context.Context, r *run, _ *archRun) (outcome, error) {
	series, commits, err := r.readSeries()
	if err != nil {
		return outcome{}, err
	}
	res, err := r.applySeries(ctx, commits, true)
	if err != nil {
		return outcome{}, err
	}
	applied := r.recordPatches(commits, res)
	if r.st.pristine == "" {
		wt := r.worktree()
		var how string
		err = r.withMirror(ctx, func(m *upstream.Mirror) error {
			var err error
			how, err = wt.Checkout(ctx, m.Dir, plumbing.NewHash(r.st.branchHead), runtime.NumCPU(), r.exportProgress())
			return err
		})
		r.clearProgress()
		if err != nil {
			return outcome{}, fmt.Errorf("making the source tree %s: %w", wt.Dir, err)
		}
		r.st.src = wt.Dir
		return outcome{detail: fmt.Sprintf("%s, tree %s (%s)", applied, r.st.src, how), product: r.st.patchesHead}, nil
	}
	return r.tarballTree(ctx, series, res, applied)
}

// recordPatches puts the series into the state, says which patches upstream already holds and
// where hunks moved, and returns the stage's summary.
func (r *run) recordPatches(commits []*patch.Commit, res *patch.Result) string {
	upstreamed := map[*patch.Commit]bool{}
	for _, c := range res.Upstreamed {
		upstreamed[c] = true
		Say(r.opts.Out, "note", fmt.Sprintf("patch %s (%s) is upstreamed in %s: skipped; kbuild patches refresh drops it from the series",
			c.Entry.Name, c.Subject(), r.plan.Release.Tag()))
	}
	r.st.patches = nil
	for _, c := range commits {
		p := manifest.Patch{File: r.plan.Line.Pipeline.Rel(c.Entry.Path), Subject: c.Subject(),
			Author: fmt.Sprintf("%s <%s>", c.Header.Author.Name, c.Header.Author.Email)}
		if upstreamed[c] {
			p.Upstreamed = r.plan.Release.Tag()
		}
		r.st.patches = append(r.st.patches, p)
	}
	for _, o := range res.Offsets {
		Say(r.opts.Out, "note", o)
	}
	applied := fmt.Sprintf("%d patches applied", len(res.Commits))
	if len(res.Upstreamed) > 0 {
		applied += fmt.Sprintf(", %d upstreamed", len(res.Upstreamed))
	}
	if r.st.branchHead != "" {
		applied += fmt.Sprintf(", branch %s at %s", r.plan.Branch, r.st.branchHead[:12])
	}
	return applied
}

// tarballTree is the patched tree of a tarball source: hard links to the verified release (patches
// replace files by rename, so the cached tree is never changed), named by what it holds.
func (r *run) tarballTree(ctx context.Context, series []patch.Entry, res *patch.Result, applied string) (outcome, error) {
	h := sha256.New()
	fmt.Fprintf(h, "tarball %s signed by %s\n", r.st.pristine, r.st.upstream.Signer)
	if fuzz := r.plan.Line.Profile.PatchFuzz; fuzz > 0 {
		fmt.Fprintf(h, "fuzz %d\n", fuzz) // fuzz can change where a hunk lands
	}
	for _, e := range series {
		data, err := os.ReadFile(e.Path)
		if err != nil {
			return outcome{}, err
		}
		fmt.Fprintf(h, "patch %s %d\n", e.Name, len(data))
		h.Write(data)
	}
	r.st.src = filepath.Join(r.opts.WorkDir, "src", hex.EncodeToString(h.Sum(nil))[:16])
	stamp := r.st.src + ".done"
	if _, err := os.Stat(stamp); err == nil {
		return outcome{detail: fmt.Sprintf("%s, tree %s (reused)", applied, r.st.src), product: r.st.src}, nil
	}
	if err := os.RemoveAll(r.st.src); err != nil {
		return outcome{}, err
	}
	files, err := upstream.LinkTree(ctx, r.st.pristine, r.st.src)
	if err == nil {
		err = res.Write(r.st.src)
	}
	if err != nil {
		return outcome{}, fmt.Errorf("making the source tree %s: %w", r.st.src, err)
	}
	if err := atomicfile.WriteFile(stamp, []byte(r.st.upstream.Commit+"\n"), 0o644); err != nil {
		return outcome{}, err
	}
	return outcome{detail: fmt.Sprintf("%s, %d files changed, tree %s (%d files)", applied, len(res.Changes), r.st.src, files), product: r.st.src}, nil
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
	if r.st.pristine != "" {
		return patch.ApplyFuzz(patch.DirReader(r.st.pristine), commits, r.plan.Line.Profile.PatchFuzz)
	}
	return r.applyGit(ctx, commits, commit)
}

// applyGit applies the series to the upstream commit in the mirror, in memory; with commit, it
// also makes the branch's patch commits and points the branch ref at them.
func (r *run) applyGit(ctx context.Context, commits []*patch.Commit, commit bool) (res *patch.Result, err error) {
	err = r.withMirror(ctx, func(m *upstream.Mirror) error {
		repo := m.Repo()
		base, err := repo.CommitObject(plumbing.NewHash(r.st.upstream.Commit))
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
		r.st.branchRef = r.branchRef()
		r.st.branchHead, r.st.patchesHead = head.String(), head.String()
		if r.keepRefs {
			return nil
		}
		return repo.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(r.st.branchRef), head))
	})
	return res, err
}

func describePatch(p *Plan, _ kbuild.Arch) string {
	if p.Line.Profile.Patches == "" {
		return ""
	}
	return fmt.Sprintf("apply the series %s as commits on %s", p.Line.Pipeline.Rel(p.Line.Profile.Patches), p.Branch)
}
