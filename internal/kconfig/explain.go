package kconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/typo"
)

// Why explains from the Kconfig rules why sym has its value in final when want was asked for
// (want "" for no request): where the symbol is defined, whether anyone can set it, which
// dependencies hold and which are unmet, and what selects it. Each line stands alone.
func (r *Rules) Why(sym, want string, final *Config) []string {
	s := r.Symbols[sym]
	if s == nil || len(s.Defs) == 0 {
		msg := fmt.Sprintf("no Kconfig file of this tree defines %s: it was removed or renamed, or belongs to another arch", sym)
		if near := r.near(sym); len(near) > 0 {
			msg += "; did you mean " + strings.Join(near, ", ") + "?"
		}
		return []string{msg}
	}
	var out []string
	have := final.Value(sym)
	if want == "m" && s.Type == "bool" {
		out = append(out, fmt.Sprintf("%s is bool: it can be y or n, never m", sym))
	}
	if want != "" && want != "n" && !s.Visible() {
		out = append(out, fmt.Sprintf("%s has no prompt: a fragment cannot set it, only a select or its default can", sym))
	}
	for _, d := range s.Defs {
		line := fmt.Sprintf("defined at %s:%d", d.File, d.Line)
		if s.Type != "" {
			line += " as " + s.Type
		}
		if d.Prompt != "" {
			line += fmt.Sprintf(" %q", d.Prompt)
		}
		out = append(out, line)
		if d.Depends != nil {
			v := d.Depends.Eval(final)
			line := fmt.Sprintf("  depends on: %s  => %s", d.Depends.Explain(final), TriName(v))
			if unmet := unmetTerms(d.Depends, want, final); len(unmet) > 0 {
				line += "; unmet: " + strings.Join(unmet, ", ")
			}
			out = append(out, line)
		}
		if d.PromptIf != nil {
			out = append(out, fmt.Sprintf("  prompt only if: %s  => %s", d.PromptIf.Explain(final), TriName(d.PromptIf.Eval(final))))
		}
	}
	if s.Choice > 0 && want == "y" && have != "y" {
		var chosen []string
		for _, m := range r.Choices[s.Choice-1] {
			if m != sym && final.Value(m) == "y" {
				chosen = append(chosen, m)
			}
		}
		msg := fmt.Sprintf("%s is one choice of a group (%s): only one can be y", sym, strings.Join(r.Choices[s.Choice-1], ", "))
		if len(chosen) > 0 {
			msg += fmt.Sprintf(", and %s is; request \"# CONFIG_%s is not set\" too", strings.Join(chosen, ", "), chosen[0])
		}
		out = append(out, msg)
	}
	for _, rv := range s.SelectedBy {
		if v := r.reverseValue(rv, final); v > 0 {
			out = append(out, fmt.Sprintf("selected by %s (%s:%d)  => %s", r.reverseExplain(rv, final), rv.File, rv.Line, TriName(v)))
		}
	}
	for _, rv := range s.ImpliedBy {
		if v := r.reverseValue(rv, final); v > 0 {
			out = append(out, fmt.Sprintf("implied by %s (%s:%d)  => %s", r.reverseExplain(rv, final), rv.File, rv.Line, TriName(v)))
		}
	}
	return out
}

func (r *Rules) reverseValue(rv Reverse, final *Config) int {
	v := tri(final.Value(rv.By))
	if rv.If != nil {
		v = min(v, rv.If.Eval(final))
	}
	return v
}

func (r *Rules) reverseExplain(rv Reverse, final *Config) string {
	s := fmt.Sprintf("%s [=%s]", rv.By, final.Value(rv.By))
	if rv.If != nil {
		s += " && " + rv.If.Explain(final)
	}
	return s
}

// unmetTerms names the top-level terms of a dependency that keep sym below want.
func unmetTerms(dep Expr, want string, final *Config) []string {
	need := tri(want)
	if want == "" || need == 0 {
		return nil
	}
	terms := Terms(dep)
	if len(terms) < 2 {
		return nil // the dependency itself is the unmet term
	}
	var out []string
	for _, t := range terms {
		if t.Eval(final) < need {
			out = append(out, t.Explain(final))
		}
	}
	return out
}

// near lists defined symbols within two edits of sym, for a misspelt name.
func (r *Rules) near(sym string) []string {
	var out []string
	for name, s := range r.Symbols {
		if len(s.Defs) > 0 && abs(len(name)-len(sym)) <= 2 && typo.Distance(name, sym) <= 2 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Defines reports whether a Kconfig file of the tree defines sym.
func (r *Rules) Defines(sym string) bool {
	s := r.Symbols[sym]
	return s != nil && len(s.Defs) > 0
}
