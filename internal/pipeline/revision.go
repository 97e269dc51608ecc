package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/published"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// InputsDigest hashes what makes a release what it is: the upstream release, the patch series
// and every patch's contents, and the config (base, every arch's fragments, the local version).
// kpublish writes it into the release tag's message; the same upstream with the same digest is
// the same release, and a changed digest is the next revision.
func InputsDigest(l *config.Line, rel version.Release) string {
	cfg := l.Profile.Config
	parts := []string{"release", rel.String(), "localversion", l.Pipeline.Version.LocalVersion}
	if cfg.BaseIsTarget() {
		parts = append(parts, "base", cfg.Base)
	} else {
		parts = append(parts, "base", fileKey(cfg.Base))
	}
	arches := slices.Clone(l.Profile.Arches)
	slices.Sort(arches)
	for _, a := range arches {
		parts = append(parts, "arch", a)
		for _, f := range cfg.FragmentsFor(a) {
			parts = append(parts, l.Pipeline.Rel(f), fileKey(f))
		}
	}
	if l.Profile.Patches != "" {
		parts = append(parts, "series", fileKey(l.Profile.Patches))
		series, _ := patch.ReadSeries(l.Profile.Patches) // an unreadable series fails the run, not this
		for _, e := range series {
			parts = append(parts, e.Name, fileKey(e.Path))
		}
	}
	return key(parts...)
}

// Revision is what the published state says of the release about to be built.
type Revision struct {
	Rev int
	// Why says how the revision was chosen, for plan and check to print.
	Why string
	// Released names the published release with these very inputs: building it again gives
	// nothing new to publish.
	Released string
	// Unknown is set when the published releases could not be read (no remote, unreachable):
	// the revision is then 1, and kpublish refuses to move a tag that names something else.
	Unknown error
}

// errNoRemote: the line publishes nowhere (an enthusiast's own kernel), so nothing is released.
var errNoRemote = errors.New("publish.remote is not set")

// decideRevision reads the publish remote's release tags: no release of this upstream release
// yet gives revision 1; the newest one's own inputs give its revision; other inputs give the
// next. The digest of a published release is read from its tag, through the upstream mirror.
func decideRevision(ctx context.Context, l *config.Line, rel version.Release, digest, cacheDir string) Revision {
	remote := l.Pipeline.Publish.Remote
	if remote == "" {
		return Revision{Rev: 1, Why: "revision 1 (no publish.remote to read released versions from)", Unknown: errNoRemote}
	}
	rels, err := published.List(ctx, remote, l.Pipeline.Version.Tag)
	if err != nil {
		return Revision{Rev: 1, Why: fmt.Sprintf("revision 1: the released versions could not be read (%v)", err), Unknown: err}
	}
	latest := published.LatestOf(rels, rel)
	if latest == nil {
		return Revision{Rev: 1, Why: fmt.Sprintf("revision 1: %s has no release of %s yet", remote, rel)}
	}
	theirs, err := publishedInputs(ctx, l, cacheDir, *latest)
	switch {
	case err != nil:
		return Revision{Rev: latest.Version.Rev + 1, Why: fmt.Sprintf("revision %d: what %s was built from is unknown (%v)", latest.Version.Rev+1, latest.Tag, err)}
	case theirs == digest:
		return Revision{Rev: latest.Version.Rev, Released: latest.Tag,
			Why: fmt.Sprintf("revision %d: %s was built from these same inputs (nothing new to release)", latest.Version.Rev, latest.Tag)}
	default:
		return Revision{Rev: latest.Version.Rev + 1,
			Why: fmt.Sprintf("revision %d: patches or configs changed since %s", latest.Version.Rev+1, latest.Tag)}
	}
}

// publishedInputs reads a release's inputs digest through the locked upstream mirror, where
// kpublish made its tag (a fresh machine's mirror fetches it from the remote).
func publishedInputs(ctx context.Context, l *config.Line, cacheDir string, rel published.Release) (string, error) {
	mirror, unlock, err := upstream.OpenMirror(cacheDir, l.Upstream.Git)
	if err != nil {
		return "", err
	}
	defer unlock()
	return published.InputsOf(ctx, mirror.Repo(), l.Pipeline.Publish.Remote, rel)
}
