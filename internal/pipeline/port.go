package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// The series jump (kbuild port): the line's profile on the newest release of another series, in
// a place of its own, with a report of what the fragments, features and policy must change
// before the line can follow that series.

// PortProfile is the profile name a series jump is rehearsed under: its source tree, build
// trees, branch ref and outputs are its own (<work>/port/..., refs/wslkernel/port/...), so the
// line's release branch and its trees for the series it follows are never touched.
const PortProfile = "port"

// ErrFollowed is Port's refusal of the series the line follows already: nothing to port to.
var ErrFollowed = errors.New("the line follows that series")

// PortLine derives the line on series s from base: the same upstream, patches, config base,
// fragments, features and policy, following s, with no pin (a pin is a release of the old
// series) and nothing packaged or published.
func PortLine(base *config.Line, s version.Series) *config.Line {
	pipe := *base.Pipeline
	pipe.Series = s.String()
	pipe.Publish = config.Publish{}
	prof := *base.Profile
	prof.Package = config.Package{}
	up := base.Upstream
	up.Pin = ""
	return &config.Line{Pipeline: &pipe, Name: PortProfile, Base: base.Name, Upstream: up, Profile: &prof}
}

// PortReport is what a series jump found: per arch, every requested value and policy rule that
// does not hold on the new series, what became of its symbol, and the change to make.
type PortReport struct {
	Line *config.Line // the line ported (pipeline.yaml's)
	// From is the series the line follows now: its tree's, else pipeline.yaml's; the zero
	// Series when the line follows a moniker and has no tree here.
	From    version.Series
	Plan    *Plan  // the port's plan: the release ported to and where
	OldTree string // the line's source tree the rename candidates came from; "" when none
	// OldTreeWhy says which tree OldTree is, or why there is none.
	OldTreeWhy string
	Arches     []PortArch
}

// PortArch is one arch's part of the report.
type PortArch struct {
	Arch      string
	Requested int // values the fragments request on the new series
	Findings  []PortFinding
}

// PortFinding is one value that does not hold on the new series: a request that olddefconfig
// dropped, or a policy rule (the profile's or a feature's essential symbol) the final config
// breaks.
type PortFinding struct {
	Where  string // file:line of the request or the rule, relative to pipeline.yaml
	Policy bool   // a policy rule, not a fragment's request
	Fate   kconfig.Fate
	Change []string // what to change, in words a maintainer follows
}

// Clean reports whether every arch configured with every value requested and the policy held.
func (r *PortReport) Clean() bool {
	for _, a := range r.Arches {
		if len(a.Findings) > 0 {
			return false
		}
	}
	return true
}

// Port fetches the newest release of series s (as the line resolves releases: releases.json or
// the tags), carries the line's patch series onto it (upstreamed patches reported and skipped; a
// patch that does not apply fails, naming it, as in a run), configures every arch from the
// line's fragments and features as they apply to s, and reports each value that does not hold.
// All of it happens under the port's own profile (PortLine): what the line builds and publishes
// is left alone. The report's Clean says whether the line could follow s as it is.
func Port(ctx context.Context, base *config.Line, s version.Series, opts Options) (*PortReport, error) {
	if t := base.Track(); t.Moniker == "" && t.Series == s {
		return nil, fmt.Errorf("--series %s: %w: %s follows %s already; kbuild configure checks it", s, ErrFollowed, base.Pipeline.File, s)
	}
	l := PortLine(base, s)
	p, err := NewPlan(ctx, l, opts)
	if errors.Is(err, upstream.ErrNoRelease) {
		return nil, noSuchSeries(ctx, l, s, err)
	}
	if err != nil {
		return nil, err
	}
	rep := &PortReport{Line: base, Plan: p}
	rep.OldTree, rep.From, rep.OldTreeWhy = lineTree(base, opts.WorkDir, s)
	r := newRun(p, opts, inConfigure)
	unlock, err := lockWorkDir(r.opts.WorkDir, "port")
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer r.close()
	err = r.walk(ctx, func(ctx context.Context, st *stage, ar *archRun) error {
		err := r.exec(ctx, st, ar)
		if st.name == stConfigure && errors.As(err, &uncleanConfig{}) {
			return nil // the report below says it all, arch by arch
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, ar := range r.arches {
		pa, err := r.portArch(ar, rep.OldTree, rep.From)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ar.a.Name, err)
		}
		rep.Arches = append(rep.Arches, pa)
	}
	return rep, nil
}

// noSuchSeries says, for a series neither releases.json nor the tags have a release of, which
// series they do have. It wraps upstream.ErrNoRelease.
func noSuchSeries(ctx context.Context, l *config.Line, s version.Series, err error) error {
	var have []string
	if data, gerr := upstream.Get(ctx, l.Upstream.Releases); gerr == nil {
		if f, perr := upstream.ParseReleases(data); perr == nil {
			var rels []version.Release
			for _, e := range f.Releases {
				if r, err := version.ParseRelease(e.Version); err == nil {
					rels = append(rels, r)
				}
			}
			have = append(have, fmt.Sprintf("releases.json (%s) lists %s", l.Upstream.Releases, seriesOf(rels)))
		}
	}
	if tags, terr := upstream.ListTags(ctx, l.Upstream.Git); terr == nil {
		have = append(have, fmt.Sprintf("the tags of %s are of %s", l.Upstream.Git, seriesOf(tags)))
		if upstreamSource(l).Kind != "tags" && slices.ContainsFunc(tags, func(r version.Release) bool { return s.Contains(r) && r.Patch > 0 }) {
			have = append(have, fmt.Sprintf("the tags have %s, so upstream.resolve: tags in %s would follow it", s, l.Pipeline.File))
		}
	}
	if len(have) == 0 {
		return fmt.Errorf("--series %s: %w", s, err)
	}
	return fmt.Errorf("--series %s: no release of %s to port to: %s (%w)", s, s, strings.Join(have, "; "), err)
}

// seriesOf names the series of releases, oldest first, once each.
func seriesOf(rels []version.Release) string {
	var series []version.Series
	for _, r := range rels {
		if !slices.Contains(series, r.Series()) {
			series = append(series, r.Series())
		}
	}
	if len(series) == 0 {
		return "no series"
	}
	slices.SortFunc(series, version.Series.Compare)
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

// lineTree is the line's own source tree of the series it follows, which the port reads (and
// never writes) for the prompts and help texts of the symbols the new series lacks: the git
// worktree, else the source tree of its newest successful run. It returns the tree ("" when
// there is none), the series the line follows (the tree's, else pipeline.yaml's) and which tree
// it is or why there is none.
func lineTree(base *config.Line, workDir string, to version.Series) (string, version.Series, string) {
	t := base.Track()
	candidates := []string{treeDir(workDir, base, "src")}
	if m, _, err := LatestRun(workDir, base.Name); err == nil && m.SourceTree != "" {
		candidates = append(candidates, m.SourceTree)
	}
	for _, dir := range candidates {
		rel, extra, err := upstream.TreeRelease(dir)
		if err != nil || rel.Series() == to || t.Moniker == "" && rel.Series() != t.Series {
			continue
		}
		return dir, rel.Series(), fmt.Sprintf("the line's tree, Linux %s%s", rel.Full(), extra)
	}
	return "", t.Series, fmt.Sprintf("no source tree of the line is in %s (kbuild fetch --profile %s makes one), so no symbol can be called renamed", workDir, base.Name)
}

// portArch reads what the configure stage left for the arch: the requests as they apply to the
// new series, the final .config, and the broken policy rules; and judges each against both trees.
func (r *run) portArch(ar *archRun, oldTree string, from version.Series) (PortArch, error) {
	l := r.plan.Line
	pa := PortArch{Arch: ar.a.Name}
	final, err := kconfig.ParseFile(dotconfig(ar))
	if err != nil {
		return pa, err
	}
	ar.final = final
	base, err := kconfig.ParseFile(dotconfig(ar) + ".base")
	if err != nil {
		return pa, err
	}
	fragments, err := seriesFragments(l.Profile.Config.FragmentsFor(ar.a.Name), r.plan.Release.Series())
	if err != nil {
		return pa, err
	}
	_, requested, _ := kconfig.Merge(base, append(fragments, schemeFragment(l))...)
	pa.Requested = len(requested.Settings())
	dropped := kconfig.Verify(requested, final)
	violations, err := r.policyViolations(ar)
	if err != nil {
		return pa, err
	}
	if len(dropped) == 0 && len(violations) == 0 {
		return pa, nil
	}
	newer, err := kconfig.LoadRulesArch(ar.tree.Src, ar.a.Make, ar.a.SrcArch)
	if err != nil {
		return pa, fmt.Errorf("reading the Kconfig files of %s: %w", ar.tree.Src, err)
	}
	var older *kconfig.Rules
	if oldTree != "" {
		if older, err = kconfig.LoadRulesArch(oldTree, ar.a.Make, ar.a.SrcArch); err != nil {
			return pa, fmt.Errorf("reading the Kconfig files of the line's tree %s: %w", oldTree, err)
		}
	}
	j := judge{line: l, to: r.plan.Release.Series(), from: from, newer: newer, older: older, final: final, requested: requested}
	for _, m := range dropped {
		j.dropped = append(j.dropped, m.Requested.Symbol)
	}
	for _, m := range dropped {
		pa.Findings = append(pa.Findings, j.request(m.Requested))
	}
	for _, v := range violations {
		if !slices.Contains(j.dropped, v.Rule.Symbol) { // said once, where it was requested
			pa.Findings = append(pa.Findings, j.rule(v))
		}
	}
	return pa, nil
}
