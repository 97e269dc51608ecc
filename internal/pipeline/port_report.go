package pipeline

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/version"
)

// judge turns what became of a symbol (kconfig.Fate) into the change a maintainer makes to the
// fragment, feature file or policy that asked for it, with the "# series:" ranges that keep one
// file right for both series.
type judge struct {
	line         *config.Line
	from, to     version.Series // from: zero when unknown
	newer, older *kconfig.Rules // older: nil when the line's tree is not here
	final        *kconfig.Config
	requested    *kconfig.Config // what the fragments request on the new series
	dropped      []string        // every requested symbol dropped on the arch
}

// request judges a requested setting olddefconfig dropped.
func (j *judge) request(set kconfig.Setting) PortFinding {
	file := j.line.Pipeline.Rel(set.File)
	f := PortFinding{Where: fmt.Sprintf("%s:%d", file, set.Line), Fate: j.newer.FateOf(j.older, set.Symbol, set.Value, j.final)}
	keep := fmt.Sprintf("%s: put line %d (%s) under \"# series: %s\"", file, set.Line, settingText(set.Symbol, set.Value), j.oldRange(set.Series))
	gone := fmt.Sprintf(": %s has no such symbol", j.to) // a transitional name, kept without effect
	if !j.newer.Defines(set.Symbol) {
		if j.older != nil && !j.older.Defines(set.Symbol) {
			f.Change = []string{fmt.Sprintf("%s%s exists neither on %s nor on %s: correct the name, or move line %d to the fragment of the arch that has it (see why, below)",
				j.who(set.File, file), set.Symbol, j.to, j.from, set.Line)}
			return f
		}
		// Named first: which feature asked for a symbol of which series.
		keep, gone = j.absent(set.File, file, set.Symbol)+": "+strings.TrimPrefix(keep, file+": "), ""
	}
	switch f.Fate.Kind {
	case kconfig.Gone:
		f.Change = []string{keep + gone}
	case kconfig.Renamed:
		f.Change = []string{keep, j.requestNew(file, f.Fate.Candidates[0].Symbol, set.Value, "the likeliest new name: read its help first")}
	case kconfig.Moved:
		f.Change = []string{keep, j.requestNew(file, f.Fate.Candidates[0].Symbol, set.Value, fmt.Sprintf("%s builds its code with it", j.to))}
	case kconfig.LostDependency:
		f.Change = j.meet(file, f.Fate.Needs)
	default:
		f.Change = []string{"no change of this file alone makes it hold: see why, below"}
	}
	return f
}

// rule judges a policy rule (the profile's policy, or a feature's essential symbol) the final
// config breaks, whose symbol no fragment asked for, or asked for and kept.
func (j *judge) rule(v kconfig.Violation) PortFinding {
	file := j.line.Pipeline.Rel(v.File)
	want := v.Rule.Allow[v.Arch][0]
	f := PortFinding{Where: fmt.Sprintf("%s:%d", file, v.Rule.Line), Policy: true, Fate: j.newer.FateOf(j.older, v.Rule.Symbol, want, j.final)}
	keep := fmt.Sprintf("%s: put the rule of line %d (CONFIG_%s) under \"# series: %s\"", file, v.Rule.Line, v.Rule.Symbol, j.oldRange(v.Rule.Series))
	switch f.Fate.Kind {
	case kconfig.Gone:
		if j.newer.Defines(v.Rule.Symbol) { // a transitional name, kept without effect
			f.Change = []string{keep + fmt.Sprintf(": %s has no such symbol", j.to)}
		} else {
			f.Change = []string{j.absent(v.File, file, v.Rule.Symbol) + ": " + strings.TrimPrefix(keep, file+": ")}
		}
	case kconfig.Renamed, kconfig.Moved:
		f.Change = []string{keep, fmt.Sprintf("%s: rule on CONFIG_%s under \"# series: %s\" instead (%s)", file, f.Fate.Candidates[0].Symbol, j.newRange(), f.Fate.Candidates[0].Evidence)}
	case kconfig.LostDependency:
		f.Change = j.meet("the fragment or feature that provides it", f.Fate.Needs)
	default:
		f.Change = []string{fmt.Sprintf("request %s in the fragment or feature that provides it, or see why, below", settingText(v.Rule.Symbol, want))}
	}
	return f
}

// who names what a line of path (rel, relative to pipeline.yaml) belongs to, as a change begins:
// "feature nfs-cifs (configs/features/nfs-cifs.config): " for a feature's fragment, else the file.
func (j *judge) who(path, rel string) string {
	if name := featureOf(j.line, path); name != "" {
		return fmt.Sprintf("%s (%s): ", name, rel)
	}
	return rel + ": "
}

// featureOf names the feature of the line whose fragment path is ("feature nfs-cifs"), or "":
// what an error about a fragment's line names first, for configure and for port alike.
func featureOf(l *config.Line, path string) string {
	if f := feature.OfFile(l.Profile.Config.FeatureList(), path); f != nil {
		return "feature " + f.Name
	}
	return ""
}

// absent says that sym, asked for by a line of path, does not exist on the new series, and, when
// the line's tree was read and defines it, that it exists on the old one.
func (j *judge) absent(path, rel, sym string) string {
	s := fmt.Sprintf("%s%s does not exist on %s", j.who(path, rel), sym, j.to)
	if j.older != nil && j.older.Defines(sym) {
		s += fmt.Sprintf(" (it exists on %s)", j.from)
	}
	return s
}

// requestNew is the change that requests sym (which takes over from a symbol the new series
// lacks) in file, or says that a fragment requests it already.
func (j *judge) requestNew(file, sym, want, why string) string {
	value := j.newer.ValueToMeet(sym, want)
	if set, ok := j.requested.Get(sym); ok && set.Value == value {
		return fmt.Sprintf("%s is requested already (%s:%d): nothing to add", settingText(sym, value), j.line.Pipeline.Rel(set.File), set.Line)
	}
	return fmt.Sprintf("%s: request %s under \"# series: %s\" (%s)", file, settingText(sym, value), j.newRange(), why)
}

// meet says what to request so that each unmet term holds.
func (j *judge) meet(file string, needs []kconfig.Need) []string {
	var out []string
	for _, n := range needs {
		switch {
		case n.Symbol == "":
			out = append(out, fmt.Sprintf("%s: make %s hold (no one symbol does it: read the dependency below)", file, n.Term))
		case slices.Contains(j.dropped, n.Symbol):
			out = append(out, fmt.Sprintf("CONFIG_%s, which it depends on, was dropped too: its change comes first", n.Symbol))
		case n.Hidden:
			out = append(out, fmt.Sprintf("%s: CONFIG_%s has no prompt on %s, so requesting it does nothing: request what selects it (kbuild config explain %s --profile %s)",
				file, n.Symbol, j.to, n.Symbol, PortProfile))
		default:
			out = append(out, fmt.Sprintf("%s: request %s under \"# series: %s\"", file, settingText(n.Symbol, n.Value), j.newRange()))
		}
	}
	return out
}

// oldRange is the range a line that holds on the old series and not on the new one keeps: its
// own, ended (or started) where the new series begins.
func (j *judge) oldRange(own kconfig.SeriesRange) kconfig.SeriesRange {
	r := own
	if j.forward() {
		r.To = j.before()
	} else {
		r.From = version.Series{Major: j.to.Major, Minor: j.to.Minor + 1}
	}
	return r
}

// newRange is the range of what the new series needs: from it on (or up to it, porting back).
func (j *judge) newRange() kconfig.SeriesRange {
	if j.forward() {
		return kconfig.SeriesRange{From: j.to}
	}
	return kconfig.SeriesRange{To: j.to}
}

func (j *judge) forward() bool { return j.from == (version.Series{}) || j.to.Compare(j.from) > 0 }

// before is the last series before the new one: X.(Y-1); for X.0, whose predecessor only
// kernel.org's history names, the series the line follows now. A range ending there errs toward
// a loud failure (kconfig.SeriesRange says why).
func (j *judge) before() version.Series {
	if j.to.Minor > 0 {
		return version.Series{Major: j.to.Major, Minor: j.to.Minor - 1}
	}
	return j.from
}

// settingText is a setting as a fragment writes it.
func settingText(sym, value string) string {
	if value == "n" {
		return fmt.Sprintf("# CONFIG_%s is not set", sym)
	}
	return fmt.Sprintf("CONFIG_%s=%s", sym, value)
}

// Print writes the report: where the port ran, then per arch each value that does not hold,
// what became of its symbol and the evidence, and the change to make; last, the verdict.
func (r *PortReport) Print(w io.Writer) {
	p := r.Plan
	from := r.From.String()
	if r.From == (version.Series{}) {
		from = r.Line.Pipeline.Series
	}
	to := p.Release.Series()
	fmt.Fprintf(w, "port     profile %s from %s to %s: %s (%s), in %s\n", r.Line.Name, from, to, p.Release.Tag(), p.Chosen, treeDir(p.workDir, p.Line, "build"))
	if r.OldTree != "" {
		fmt.Fprintf(w, "         rename candidates from %s (%s)\n", r.OldTree, r.OldTreeWhy)
	} else {
		fmt.Fprintf(w, "         %s\n", r.OldTreeWhy)
	}
	for _, a := range r.Arches {
		if len(a.Findings) == 0 {
			fmt.Fprintf(w, "%-8s clean: all %d requested values hold, and the policy\n", a.Arch, a.Requested)
			continue
		}
		fmt.Fprintf(w, "%-8s %d values do not hold on %s:\n", a.Arch, len(a.Findings), to)
		for _, f := range a.Findings {
			what := "requested"
			if f.Policy {
				what = "policy"
			}
			fmt.Fprintf(w, "  %s %s (%s %s)\n", settingText(f.Fate.Symbol, f.Fate.Want), strings.ToUpper(f.Fate.Kind.String()), what, f.Where)
			for _, c := range f.Fate.Candidates {
				fmt.Fprintf(w, "      candidate %s\n", c)
			}
			for _, c := range f.Fate.Code {
				fmt.Fprintf(w, "      code: %s\n", c)
			}
			for _, n := range f.Fate.Needs {
				how := "unmet"
				if n.New {
					how = fmt.Sprintf("unmet, and new in %s", to)
				}
				fmt.Fprintf(w, "      depends on %s: %s\n", n.Term, how)
			}
			for _, c := range f.Change {
				fmt.Fprintf(w, "      change: %s\n", c)
			}
			for _, why := range f.Fate.Why {
				fmt.Fprintf(w, "      why: %s\n", why)
			}
		}
	}
	if r.Clean() {
		fmt.Fprintf(w, "result   clean: the line configures on %s as it is; set series: \"%s\" in %s (line %d) and kbuild run builds, boots and releases it\n",
			p.Release, to, r.Line.Pipeline.File, r.Line.Pipeline.Pos("series").Line)
		return
	}
	fmt.Fprintf(w, "result   NOT CLEAN on %s: make the changes above, then kbuild port --series %s again; the line's branch, trees and releases are untouched\n", to, to)
}
