package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// CheckResult compares what upstream offers, and what the release line is made of now, with
// what was last released (or, with no published state to read, last built here).
type CheckResult struct {
	Upstream version.Release
	Version  version.Version // what a run would build now
	// LastBuilt is the newest successful run of the profile in the work dir; nil when none.
	LastBuilt *version.Release
	// Released names the published release with exactly these inputs, when there is one.
	Released string
	// Newer: there is something to build and release (a newer upstream, or changed patches or
	// configs).
	Newer bool
	// Why says what decided it; Unknown why the published state could not be read, if it could not.
	Why     string
	Unknown error
}

// Check resolves the upstream release and decides whether a run has anything new to make. The
// publish remote's release tags decide (see decideRevision): upstream's release built from these
// inputs is released already, or it is not. Without a readable remote, the newest successful
// run of the profile in the work dir stands in for the last release.
func Check(ctx context.Context, l *config.Line, opts Options) (*CheckResult, error) {
	rel, err := upstream.Resolve(ctx, l.Source(), l.Track(), l.Upstream.Pin)
	if err != nil {
		return nil, err
	}
	if l.Upstream.Pin != "" {
		if err := upstreamHas(ctx, l.Upstream.Git, rel); err != nil {
			return nil, err
		}
	}
	rev := decideRevision(ctx, l, rel, InputsDigest(l, rel), opts.CacheDir)
	res := &CheckResult{Upstream: rel, Version: version.Version{Upstream: rel, Rev: rev.Rev}, Released: rev.Released, Why: rev.Why, Unknown: rev.Unknown}
	if m, _, err := LatestRun(opts.WorkDir, l.Name); err == nil {
		if built, err := version.ParseRelease(m.Upstream.Release); err == nil {
			res.LastBuilt = &built
		}
	}
	switch {
	case rev.Unknown == nil:
		res.Newer = rev.Released == ""
	case res.LastBuilt != nil:
		res.Newer = rel.Compare(*res.LastBuilt) > 0
	default:
		res.Newer = true
	}
	return res, nil
}

// upstreamHas checks a pinned release (upstream.pin or --release) against the repository's tags
// (one ls-remote): Resolve takes a pin on trust, and check must not say "run to build it" of a
// release that is not there. A missing tag wraps upstream.ErrNoTag.
func upstreamHas(ctx context.Context, gitURL string, rel version.Release) error {
	tags, err := upstream.ListTags(ctx, gitURL)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(tags, func(t version.Release) bool { return t.Compare(rel) == 0 }) {
		return nil
	}
	newest := ""
	if latest, err := upstream.LatestTag(tags, rel.Series(), gitURL); err == nil {
		newest = fmt.Sprintf(" (the newest of %s there is %s)", rel.Series(), latest)
	}
	return fmt.Errorf("release %s: %s has no tag %s%s: %w; name a release it has, or none to take the newest", rel, gitURL, rel.Tag(), newest, upstream.ErrNoTag)
}

// Print says what Check found, in a line or two a person or a log can read.
func (c *CheckResult) Print(w io.Writer) {
	switch {
	case c.Unknown == nil && c.Newer:
		fmt.Fprintf(w, "upstream %s: %s to release; %s\n", c.Upstream, c.Version, c.Why)
	case c.Unknown == nil:
		fmt.Fprintf(w, "upstream %s: up to date, released as %s\n", c.Upstream, c.Released)
	case c.LastBuilt == nil:
		fmt.Fprintf(w, "upstream %s; nothing built yet: run to build it\n", c.Upstream)
	case c.Newer:
		fmt.Fprintf(w, "upstream %s is newer than the last build (%s): run to build it\n", c.Upstream, c.LastBuilt)
	default:
		fmt.Fprintf(w, "upstream %s; last build %s: up to date\n", c.Upstream, c.LastBuilt)
	}
	if c.Unknown != nil && !errors.Is(c.Unknown, errNoRemote) {
		fmt.Fprintf(w, "released versions: unknown (%v), so compared with the builds in the work dir\n", c.Unknown)
	}
}
