package kconfig

import (
	"fmt"
	"slices"
	"strings"
)

// FateKind is what became, in a newer tree, of a symbol whose requested value did not survive.
type FateKind int

const (
	// Gone: no Kconfig file of the newer tree defines the symbol (or one keeps it as a
	// transitional name whose value no default reads), and nothing there looks like it.
	Gone FateKind = iota + 1
	// Renamed: the newer tree does not define it (or keeps it only as a transitional name), and
	// has symbols that look like it (Fate.Candidates).
	Renamed
	// Moved: the newer tree does not define it, and builds its code with another symbol
	// (Fate.Candidates, with the Makefile lines as evidence).
	Moved
	// LostDependency: the newer tree defines it, and a dependency of its definition is unmet
	// (Fate.Needs).
	LostDependency
	// Other: defined, its dependencies hold, and still not the value asked for (no prompt, a
	// choice taken by another member, a bool asked to be m): Fate.Why says which.
	Other
)

var fateNames = map[FateKind]string{Gone: "gone", Renamed: "renamed", Moved: "moved", LostDependency: "lost a dependency", Other: "not settable"}

func (k FateKind) String() string { return fateNames[k] }

// Fate is what became of one requested symbol in the newer tree, and the evidence.
type Fate struct {
	Symbol, Want, Got string
	Kind              FateKind
	Candidates        []Candidate // Renamed: what it may be called now, best first; Moved: what builds its code
	Code              []string    // Gone: where its code went, when it is built as part of another symbol's
	Needs             []Need      // LostDependency: the unmet terms of its dependency
	Why               []string    // what the newer tree's Kconfig files say (Rules.Why)
}

// Need is one unmet term of a dependency, and what would meet it.
type Need struct {
	Term string // the term with each symbol's value: "IP_NF_IPTABLES_LEGACY [=n]"
	// Symbol and Value meet the term when it is one symbol (or its negation): the setting to
	// request. Symbol is "" for a comparison or an || of several, which a person must read.
	Symbol, Value string
	// New: the older tree's definition has no such term, so the dependency came with the newer
	// tree; false when the term was there before (its symbol was met then and is not now), or
	// when no older tree was read.
	New bool
	// Hidden: Symbol has no prompt in the newer tree, so requesting it is not enough: something
	// must select it (Why of Symbol says what can).
	Hidden bool
}

// FateOf says what became of sym, requested as want, in the newer tree r (whose olddefconfig made
// final): gone, renamed (with candidates from older, the tree the request was written for; older
// may be nil, and then nothing can be called a rename), a dependency lost (the term and the symbol
// to request), or something else Kconfig explains.
func (r *Rules) FateOf(older *Rules, sym, want string, final *Config) Fate {
	f := Fate{Symbol: sym, Want: want, Got: final.Value(sym), Why: r.Why(sym, want, final)}
	s := r.Symbols[sym]
	var takers []Candidate
	if s != nil && s.Transitional {
		takers = r.takingDefaultFrom(sym)
	}
	switch {
	case s == nil || len(s.Defs) == 0 || s.Transitional && len(takers) == 0:
		// Undefined, or a transitional name no default reads: its value goes nowhere.
		if f.Candidates = RenameCandidates(older, r, sym); len(f.Candidates) > 0 {
			f.Kind = Renamed
			return f
		}
		moved, folded := codeMoved(older, r, sym)
		f.Kind, f.Candidates, f.Code = Gone, moved, folded
		if len(moved) > 0 {
			f.Kind = Moved
		}
		return f
	case s.Transitional:
		// Linux 7.x keeps an old name only to carry its value to the new symbols' defaults.
		f.Kind, f.Candidates = Renamed, takers
		return f
	}
	if f.Needs = r.needs(older, s, want, final); len(f.Needs) > 0 {
		f.Kind = LostDependency
	} else {
		f.Kind = Other
	}
	return f
}

// needs lists the unmet terms of s's dependency when no definition's dependency allows want.
func (r *Rules) needs(older *Rules, s *Symbol, want string, final *Config) []Need {
	if want == "n" {
		return nil // nothing depends on being off: what keeps it on is a select (Why)
	}
	need := max(tri(want), 1)
	for _, d := range s.Defs {
		if d.Depends == nil || d.Depends.Eval(final) >= need {
			return nil // one definition whose dependency holds is enough
		}
	}
	before := map[string]bool{}
	if older != nil {
		if prev := older.Symbols[s.Name]; prev != nil {
			for _, d := range prev.Defs {
				for _, t := range Terms(d.Depends) {
					before[t.Explain(&Config{})] = true
				}
			}
		}
	}
	var out []Need
	seen := map[string]bool{}
	for _, d := range s.Defs {
		for _, t := range Terms(d.Depends) {
			if t.Eval(final) >= need || seen[t.Explain(&Config{})] {
				continue
			}
			seen[t.Explain(&Config{})] = true
			n := Need{Term: t.Explain(final), New: older != nil && !before[t.Explain(&Config{})]}
			switch e := t.(type) {
			case *symExpr:
				if !isConst(e.name) {
					n.Symbol, n.Value = e.name, r.ValueToMeet(e.name, want)
				}
			case *notExpr:
				if x, ok := e.x.(*symExpr); ok && !isConst(x.name) {
					n.Symbol, n.Value = x.name, "n"
				}
			}
			if ns := r.Symbols[n.Symbol]; n.Symbol != "" && n.Value != "n" && (ns == nil || !ns.Visible()) {
				n.Hidden = true
			}
			out = append(out, n)
		}
	}
	return out
}

// ValueToMeet is the value sym needs for a symbol depending on it (or moved behind it) to be
// want: a bool must be y; a tristate as much as want (m lets a module depend on it).
func (r *Rules) ValueToMeet(sym, want string) string {
	if s := r.Symbols[sym]; s != nil && s.Type == "tristate" && want == "m" {
		return "m"
	}
	return "y"
}

// takingDefaultFrom lists the symbols whose default reads the transitional symbol old: where its
// value goes now.
func (r *Rules) takingDefaultFrom(old string) []Candidate {
	var out []Candidate
	for name, s := range r.Symbols {
		for _, d := range s.Defaults {
			if name == old || !mentions(d.Value, old) && !mentions(d.If, old) {
				continue
			}
			c := Candidate{Symbol: name, File: d.File, Line: d.Line, Score: 1,
				Evidence: fmt.Sprintf("its default takes the value of the transitional %s", old)}
			out = append(out, c)
			break
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.Symbol, b.Symbol) })
	return out
}

// mentions reports whether expression e reads symbol sym.
func mentions(e Expr, sym string) bool {
	switch e := e.(type) {
	case *symExpr:
		return e.name == sym
	case *notExpr:
		return mentions(e.x, sym)
	case *binExpr:
		return mentions(e.l, sym) || mentions(e.r, sym)
	case *cmpExpr:
		return e.l.name == sym || e.r.name == sym
	}
	return false
}
