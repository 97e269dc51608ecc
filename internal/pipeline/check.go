package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

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
	// Refused are the newer tags passed over because fetch would refuse them (resolve: tags).
	Refused []error
	// Lifecycle is releases.json's word on the followed series: ended, or a newer longterm out.
	// nil when none was read; LifecycleUnknown then says why, if the line follows a series.
	Lifecycle        *upstream.Lifecycle
	LifecycleUnknown string
}

// Rotting says the followed series has ended at kernel.org, or a newer longterm series is out:
// the line should move, whether or not there is something to build now.
func (c *CheckResult) Rotting() bool { return c.Lifecycle != nil && c.Lifecycle.Rotting() }

// resolve picks the release the line builds now, as fetch would accept it: with resolve: tags,
// the newest tag that verifies (naming the newer ones refused); a pinned release (upstream.pin
// or --release) must be a tag upstream has (one ls-remote), so that neither check nor plan
// promises a release that does not exist.
func resolve(ctx context.Context, l *config.Line) (upstream.Resolved, error) {
	res, err := upstream.Resolve(ctx, upstreamSource(l), l.Track(), l.Upstream.Pin)
	if err != nil {
		return upstream.Resolved{}, err
	}
	if l.Upstream.Pin != "" && l.Upstream.Git != "" {
		if err := upstreamHas(ctx, l.Upstream.Git, res.Release); err != nil {
			return upstream.Resolved{}, err
		}
	}
	return res, nil
}

// printRefused names the tags resolve passed over, and why.
func printRefused(w io.Writer, refused []error) {
	for _, err := range refused {
		fmt.Fprintf(w, "refused  %v\n", err)
	}
}

// Check resolves the upstream release and decides whether a run has anything new to make. The
// publish remote's release tags decide (see decideRevision): upstream's release built from these
// inputs is released already, or it is not. Without a readable remote, the newest successful
// run of the profile in the work dir stands in for the last release.
func Check(ctx context.Context, l *config.Line, opts Options) (*CheckResult, error) {
	resolved, err := resolve(ctx, l)
	if err != nil {
		return nil, err
	}
	rel := resolved.Release
	rev := decideRevision(ctx, l, rel, InputsDigest(l, rel), opts.CacheDir)
	res := &CheckResult{Upstream: rel, Refused: resolved.Refused, Version: version.Version{Upstream: rel, Rev: rev.Rev}, Released: rev.Released, Why: rev.Why, Unknown: rev.Unknown,
		Lifecycle: resolved.Lifecycle, LifecycleUnknown: lifecycleUnknown(l, resolved)}
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

// lifecycleUnknown says why Resolve could not tell whether the followed series has ended: tags
// do not say it, and a pin reads no releases.json. "" when it could tell, or when the line
// follows a moniker, which moves on by itself.
func lifecycleUnknown(l *config.Line, resolved upstream.Resolved) string {
	switch {
	case resolved.Lifecycle != nil || l.Track().Moniker != "":
		return ""
	case upstreamSource(l).Kind == "tags":
		return "resolve: tags, and tags do not say when kernel.org ends a series or which is longterm"
	case l.Upstream.Pin != "":
		return "the release is pinned (upstream.pin or --release), so releases.json was not read"
	}
	return ""
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
	return fmt.Errorf("release %s: %s has no tag %s (%s): %w; name a release it has, or none to take the newest", rel, gitURL, rel.Tag(), seriesTags(tags, rel.Series()), upstream.ErrNoTag)
}

// Print says what Check found, in a line or two a person or a log can read.
func (c *CheckResult) Print(w io.Writer) {
	printRefused(w, c.Refused)
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
	c.printLifecycle(w)
}

// printLifecycle warns, in one line, that the followed series has ended or that a newer
// longterm series is out, naming it and how to move the line; or says, once, that it could not
// be known.
func (c *CheckResult) printLifecycle(w io.Writer) {
	lc := c.Lifecycle
	switch {
	case lc == nil && c.LifecycleUnknown != "":
		fmt.Fprintf(w, "end of life: unknown (%s)\n", c.LifecycleUnknown)
	case lc == nil || !lc.Rotting():
	case lc.Longterm == nil:
		fmt.Fprintf(w, "warning  %s is end-of-life at kernel.org, and releases.json lists no newer longterm series: move the line to a newer series in pipeline.yaml\n", lc.Series)
	case lc.EOL:
		fmt.Fprintf(w, "warning  %s is end-of-life at kernel.org; the newest longterm is %s (%s): %s\n", lc.Series, lc.Longterm.Series(), lc.Longterm, moveTo(lc.Longterm.Series()))
	default:
		fmt.Fprintf(w, "warning  a longterm series newer than %s is out at kernel.org: the newest is %s (%s): %s\n", lc.Series, lc.Longterm.Series(), lc.Longterm, moveTo(lc.Longterm.Series()))
	}
}

func moveTo(s version.Series) string {
	return fmt.Sprintf("move the line with series: \"%s\" in pipeline.yaml", s)
}

// maxNamed bounds the tags an error lists: the newest are the ones meant.
const maxNamed = 10

// seriesTags names the series' tags among tags, newest first.
func seriesTags(tags []version.Release, series version.Series) string {
	var in []version.Release
	for _, t := range tags {
		if series.Contains(t) {
			in = append(in, t)
		}
	}
	if len(in) == 0 {
		return fmt.Sprintf("it has no tag of %s", series)
	}
	slices.SortFunc(in, func(a, b version.Release) int { return b.Compare(a) })
	names := make([]string, 0, maxNamed)
	for _, t := range in[:min(len(in), maxNamed)] {
		names = append(names, t.Tag())
	}
	more := ""
	if len(in) > maxNamed {
		more = fmt.Sprintf(" and %d older", len(in)-maxNamed)
	}
	return fmt.Sprintf("the tags of %s it has: %s%s", series, strings.Join(names, ", "), more)
}
