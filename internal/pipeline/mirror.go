package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wslkernel/wslkernel/internal/upstream"
)

// The upstream mirror and the profile's source tree, as the stages use them.

// withMirror runs fn on the locked mirror of the line's upstream. A mirror found damaged (a
// truncated pack, a missing object: a killed run or a bad disk) is said so, emptied, fetched
// again, and fn runs once more. Only upstream.ErrDamaged is damage: a refusal (an untrusted tag,
// a tree that is not its release, an unsafe name) is what upstream sent, so emptying the shared
// mirror would only fetch it again, and is never done for one, even wrapped together with damage.
func (r *run) withMirror(ctx context.Context, fn func(*upstream.Mirror) error) error {
	mirror, unlock, err := upstream.OpenMirror(ctx, r.opts.CacheDir, r.plan.Line.Upstream.Git)
	if err != nil {
		return err
	}
	defer unlock()
	mirror.AllowLightweight = r.plan.Line.Upstream.AllowUnsigned
	mirror.Limits = unpackLimits(r.plan.Line.Upstream)
	if u := r.plan.Line.Upstream; !u.AllowUnsigned {
		mirror.Trust = &upstream.Trust{Keyring: u.Keyring, Signers: u.Signers}
	}
	if mirror.Repaired != "" {
		Say(r.opts.Out, "REPAIR", mirror.Repaired)
	}
	err = fn(mirror)
	if !damaged(err) {
		return err
	}
	Say(r.opts.Out, "REPAIR", err.Error(), fmt.Sprintf("fetching %s again into %s", r.plan.Release.Tag(), mirror.Dir))
	if err := mirror.Reset(); err != nil {
		return err
	}
	if err := r.refetchSame(ctx, mirror); err != nil {
		return err
	}
	return fn(mirror)
}

// damaged says whether err is damage to repair, and not also a refusal.
func damaged(err error) bool {
	return errors.Is(err, upstream.ErrDamaged) && !upstream.Refused(err)
}

// refetchSame fetches the release again into an emptied mirror; when this run verified the tag
// before the damage showed, it must name the same commit.
func (r *run) refetchSame(ctx context.Context, mirror *upstream.Mirror) error {
	if r.st.upstream.Commit == "" {
		return nil
	}
	f, err := mirror.FetchTag(ctx, r.plan.Release, nil)
	if err != nil {
		return err
	}
	tagged, err := mirror.Resolve(f.Ref)
	if err != nil {
		return err
	}
	if got := tagged.Commit.Hash.String(); got != r.st.upstream.Commit {
		return fmt.Errorf("%s now names commit %s, not %s as when this run verified it", r.plan.Release.Tag(), got, r.st.upstream.Commit)
	}
	return nil
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

// worktree is the profile's source tree for a git upstream: one folder, moved from release to
// release in place, so the build trees made from it stay incremental.
func (r *run) worktree() upstream.Worktree {
	return upstream.Worktree{Dir: treeDir(r.opts.WorkDir, r.plan.Line, "src"), Limits: unpackLimits(r.plan.Line.Upstream)}
}

// branchRef is where the mirror keeps the profile's release branch: out of the way of the tags
// it fetches, one per profile.
func (r *run) branchRef() string {
	return fmt.Sprintf("refs/wslkernel/%s/heads/%s", r.plan.Line.Name, r.plan.Branch)
}

// exportProgress draws one live line on a terminal; nil (no live progress) otherwise.
func (r *run) exportProgress() upstream.Progress {
	if r.opts.Progress == nil {
		return nil
	}
	return func(files, bytes int64) {
		fmt.Fprintf(r.opts.Progress, redraw+"export: %d files, %d MiB", files, bytes>>20)
	}
}

// clearProgress removes the live progress line.
func (r *run) clearProgress() {
	if r.opts.Progress != nil {
		fmt.Fprint(r.opts.Progress, redraw)
	}
}
