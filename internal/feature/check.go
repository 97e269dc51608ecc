package feature

import (
	"fmt"
	"slices"

	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Missing is an essential symbol that a .config does not provide.
type Missing struct {
	Essential
	Have string // the value in the .config, n when absent
}

func (m Missing) String() string {
	needs := allowedText(m.Want)
	if !m.Series.IsAll() {
		needs += " (for " + describe(m.Series) + ")"
	}
	return fmt.Sprintf("%s:%d: CONFIG_%s is %s, the feature needs %s", m.File, m.Line, m.Symbol, m.Have, needs)
}

// describe is a range in a sentence: "series 7.2-".
func describe(r kconfig.SeriesRange) string { return "series " + r.String() }

// allowed lists the values that meet a request: a module request is met by a built-in too.
func allowed(want string) []string {
	if want == "m" {
		return []string{"m", "y"}
	}
	return []string{want}
}

func allowedText(want string) string {
	if want == "m" {
		return "m (or y)"
	}
	return want
}

func satisfies(want, have string) bool {
	return have == want || want == "m" && have == "y"
}

// Check lists the essential symbols of the feature that final, a config of a tree of series s,
// does not provide on arch; none means the config provides the feature. A feature not for arch is
// never missing anything there, nor is a symbol its fragments do not set on s.
func (f *Feature) Check(arch string, s version.Series, final *kconfig.Config) []Missing {
	var out []Missing
	for _, e := range f.Essentials(arch, s) {
		if have := final.Value(e.Symbol); !satisfies(e.Want, have) {
			out = append(out, Missing{Essential: e, Have: have})
		}
	}
	return out
}

// Explain says, line by line, why final (of a tree of series s) does not provide the feature on
// arch: each missing symbol and, when rules (the tree's Kconfig) are at hand, what Kconfig says
// about it, such as the unmet dependency. No lines: the feature is provided.
func (f *Feature) Explain(arch string, s version.Series, final *kconfig.Config, rules *kconfig.Rules) []string {
	var out []string
	for _, m := range f.Check(arch, s, final) {
		out = append(out, m.String())
		if rules != nil {
			for _, line := range rules.Why(m.Symbol, m.Want, final) {
				out = append(out, "  "+line)
			}
		}
	}
	return out
}

// Policies turns the features' essential symbols on series s into policy rules, one policy per
// fragment that names them, so a violation points at the header line that made the symbol
// essential. Each rule's reason is the feature's summary, and its range the fragment line's that
// asks for the symbol on s. Check them on the final .config of a tree of series s with
// Policy.Check(arch, s, final), as the profile's own policy is.
func Policies(features []*Feature, s version.Series) []*kconfig.Policy {
	var out []*kconfig.Policy
	for _, f := range features {
		byFile := map[string]*kconfig.Policy{}
		rules := map[string]int{} // file + symbol + range -> index in its policy's Rules
		for _, arch := range f.Arches {
			for _, e := range f.Essentials(arch, s) {
				pol := byFile[e.File]
				if pol == nil {
					pol = &kconfig.Policy{File: e.File}
					byFile[e.File] = pol
					out = append(out, pol)
				}
				key := e.File + "\x00" + e.Symbol + "\x00" + e.Series.String()
				i, ok := rules[key]
				if !ok {
					i = len(pol.Rules)
					rules[key] = i
					pol.Rules = append(pol.Rules, kconfig.PolicyRule{Symbol: e.Symbol, Allow: map[string][]string{},
						Why: fmt.Sprintf("feature %s: %s", f.Name, f.Summary), Line: e.Line, Series: e.Series})
				}
				pol.Rules[i].Allow[arch] = allowed(e.Want)
				if !slices.Contains(pol.Arches, arch) {
					pol.Arches = append(pol.Arches, arch)
				}
			}
		}
	}
	return out
}
