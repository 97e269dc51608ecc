package pipeline

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// fetchRestore takes up what fetch found out: the upstream commit, its time and signer, and for a
// tarball source the unpacked release, which the patch stage recorded as its input (fetch always
// runs in a run; this serves the commands that take up a run's record: status, boot, package).
func fetchRestore(r *run, _ *archRun, prev *manifest.Manifest, _ manifest.Stage) error {
	r.st.upstream = prev.Upstream
	if ps := stageRecord(prev, stPatch, ""); ps != nil {
		r.st.pristine = ps.Inputs["tarball"]
	}
	return nil
}

// fetch brings the release into the mirror (or, for a tarball source, the cache) and verifies
// its signature. It always runs: one ls-remote tells whether upstream moved the tag.
func fetchBody(ctx context.Context, r *run, _ *archRun) (outcome, error) {
	if r.plan.Line.Upstream.Source == "tarball" {
		return fetchTarball(ctx, r)
	}
	fetched, tagged, trust, err := r.fetchTag(ctx)
	if err == nil && fetched.Tree != "" {
		defer os.RemoveAll(fetched.Tree) // gone once adopted
	}
	if err != nil {
		return outcome{}, err
	}
	r.st.upstream.Commit = tagged.Commit.Hash.String()
	r.st.upstream.CommitTime = tagged.Commit.Committer.When.UTC()
	how := ""
	if fetched.Tree != "" {
		wt := r.worktree()
		if err := wt.Adopt(tagged.Commit.Hash); err != nil {
			return outcome{}, fmt.Errorf("making the source tree %s: %w", wt.Dir, err)
		}
		how = fmt.Sprintf(", %d files written to %s as they arrived", fetched.Files, wt.Dir)
	}
	how += r.howFetched(fetched)
	return outcome{detail: fmt.Sprintf("%s %s%s, %s", r.plan.Release.Tag(), r.st.upstream.Commit[:12], how, trust)}, nil
}

// fetchTag fetches the tag into the mirror and decides whether to trust it, under the mirror's
// lock. A first fetch (no source tree yet) writes the tree as the pack arrives; it is used only
// once the tag's signature is checked. A refused tag is forgotten by the mirror (its tag and
// commit refs removed), so no later run or command takes it for a release fetched and found
// fine; its tree, if written, is removed.
func (r *run) fetchTag(ctx context.Context) (fetched *upstream.Fetched, tagged *upstream.Tagged, trust string, err error) {
	wt := r.worktree()
	rel := r.plan.Release
	err = r.withMirror(ctx, func(m *upstream.Mirror) error {
		var err error
		fetched, tagged, trust, err = r.fetchAndVerify(ctx, m, wt)
		if err != nil && fetched != nil && fetched.Tree != "" {
			os.RemoveAll(fetched.Tree)
		}
		if upstream.Refused(err) {
			if ferr := m.Forget(rel.Tag()); ferr != nil {
				return fmt.Errorf("%w (and %v)", err, ferr)
			}
		}
		return err
	})
	return fetched, tagged, trust, err
}

func (r *run) fetchAndVerify(ctx context.Context, m *upstream.Mirror, wt upstream.Worktree) (fetched *upstream.Fetched, tagged *upstream.Tagged, trust string, err error) {
	if wt.Vacant() {
		fetched, err = m.FetchTagTree(ctx, r.plan.Release, r.opts.Progress, upstream.TreeRequest{
			Dest: wt.Unverified(), Workers: runtime.NumCPU(), Files: r.exportProgress(),
		})
		r.clearProgress()
	} else {
		fetched, err = m.FetchTag(ctx, r.plan.Release, r.opts.Progress)
	}
	if err != nil {
		return fetched, nil, "", err
	}
	if tagged, err = m.Resolve(fetched.Ref); err != nil {
		return fetched, nil, "", err
	}
	if trust, err = r.verifyTag(tagged); err != nil {
		return fetched, nil, "", err
	}
	// Checked with allow_unsigned too: a tree that is not the release would fail the build's
	// release check only after a whole build.
	err = upstream.CheckCommitRelease(tagged.Commit, r.plan.Release, r.plan.Release.Tag()+" in "+r.plan.Line.Upstream.Git)
	return fetched, tagged, trust, err
}

// verifyTag checks the tag's signature against the line's keyring, or says loudly that it is not.
func (r *run) verifyTag(tagged *upstream.Tagged) (string, error) {
	l := r.plan.Line
	tag := r.plan.Release.Tag()
	if l.Upstream.AllowUnsigned {
		r.st.upstream.Unsigned = true
		Say(r.opts.Out, "WARNING", tag+": allow_unsigned is set, so nothing proves this tree is kernel.org's")
		return "SIGNATURE NOT VERIFIED (allow_unsigned)", nil
	}
	fpr, err := upstream.VerifyTag(tagged, tag, l.Upstream.Keyring, l.Upstream.Signers)
	if err != nil {
		return "", err
	}
	r.st.upstream.Signer = fpr
	return "signed by " + fpr, nil
}

// howFetched says where the tag came from, warning of a re-tag or an unreachable upstream.
func (r *run) howFetched(f *upstream.Fetched) string {
	tag := r.plan.Release.Tag()
	switch {
	case f.Retagged != "":
		Say(r.opts.Out, "WARNING", fmt.Sprintf("upstream's %s is a new tag object (was %s, now %s): fetched again, signature checked again",
			tag, f.Retagged[:12], f.Ref.Hash().String()[:12]))
		return ", RE-TAGGED upstream"
	case f.Offline != "":
		Say(r.opts.Out, "warning", fmt.Sprintf("upstream unreachable (%s): using the mirror's copy of %s", f.Offline, tag))
		return ", from the mirror (upstream unreachable)"
	case f.Cached:
		return ", already in the mirror"
	case f.Incremental:
		return ", only what is new since the mirror's last release"
	}
	return ""
}

// fetchTarball makes the release's verified tree from kernel.org's tarballs (upstream.Unpack)
// and records where it came from and who signed it.
func fetchTarball(ctx context.Context, r *run) (outcome, error) {
	l := r.plan.Line
	rel := r.plan.Release
	trust := upstream.Trust{Keyring: l.Upstream.Keyring, Signers: l.Upstream.Signers}
	dest, u, err := upstream.Unpack(ctx, r.opts.Runner, r.opts.CacheDir, l.Upstream.Tarballs, rel, trust, unpackLimits(l.Upstream))
	if err != nil {
		return outcome{}, err
	}
	r.st.pristine = dest
	r.st.upstream.Signer, r.st.upstream.Commit, r.st.upstream.CommitTime = u.Signer, u.Commit, u.ModTime.UTC()
	r.st.upstream.GitURL = upstream.TarballURL(l.Upstream.Tarballs, rel)
	return outcome{detail: fmt.Sprintf("linux-%s.tar.xz (%s), signed by %s", rel, u.How, u.Signer)}, nil
}

func describeFetch(p *Plan, _ kbuild.Arch) string {
	l := p.Line
	trust := "verify the tag's signature against " + l.Upstream.Keyring
	if l.Upstream.AllowUnsigned {
		trust = "DO NOT verify the tag's signature (allow_unsigned)"
	}
	return fmt.Sprintf("%s from %s; %s", p.Release.Tag(), l.Upstream.Git, trust)
}
