package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/published"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// InputsDigest hashes what makes a release what it is: the upstream release and what every
// stage whose outputs ship declares it reads from pipeline.yaml and the repository (the patch
// series and every patch, the config base and every arch's fragments, the local version, the
// initrd, the package settings), taken from the stage table itself, so it cannot drift from the
// stages' keys. kpublish writes it into the release tag's message; the same upstream with the
// same digest is the same release, and a changed digest is the next revision.
func InputsDigest(l *config.Line, rel version.Release) string {
	parts := []string{"release", rel.String()}
	arches := slices.Clone(l.Profile.Arches)
	slices.Sort(arches)
	for _, s := range stages {
		if !s.ships || s.declares == nil {
			continue
		}
		for _, a := range stageArches(s, arches) {
			in, err := s.declares(l, a)
			if err != nil {
				in = inputs{"unreadable": err.Error()} // the run fails on it; the digest still differs
			}
			parts = append(parts, s.name, a, in.key())
		}
	}
	return key(parts...)
}

// stageArches are the arches a stage runs for: each of the profile's, or none ("") for a stage
// that is not an arch's.
func stageArches(s *stage, arches []string) []string {
	if s.perArch {
		return arches
	}
	return []string{""}
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
	mirror, unlock, err := upstream.OpenMirror(ctx, cacheDir, l.Upstream.Git)
	if err != nil {
		return "", err
	}
	defer unlock()
	return published.InputsOf(ctx, mirror.Repo(), l.Pipeline.Publish.Remote, rel)
}
