package kconfig

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Candidate is a symbol of a newer tree that may be what an older tree's symbol became, with the
// evidence: the same prompt, or help text that says nearly the same.
type Candidate struct {
	Symbol   string
	File     string // where the newer tree defines it
	Line     int
	Evidence string  // `same prompt "Hyper-V x2APIC IRQ Handling"`, `help text 83% alike`
	Score    float64 // 1 for the same prompt; else how alike the help texts are, 0 to 1
}

func (c Candidate) String() string {
	return fmt.Sprintf("CONFIG_%s (%s:%d: %s)", c.Symbol, c.File, c.Line, c.Evidence)
}

// minHelpLikeness is how alike two help texts must be (shared words over all words, each text's
// words counted once) for one symbol to be taken for the other renamed: measured on the kernel's
// renames, a renamed entry's help text keeps most of its words, and unrelated drivers of one
// family (two "If unsure, say N" network drivers) stay under a half.
const minHelpLikeness = 0.6

// maxCandidates bounds the candidates named for one symbol: more is noise, not evidence.
const maxCandidates = 3

// RenameCandidates lists the symbols of newer that may be what sym of older became: first those
// whose prompt is sym's prompt in older, word for word (case and blanks aside), then those whose
// help text is most alike sym's. Symbols older defines too are passed over: a symbol both trees
// have was not renamed to. Nothing is found for a symbol older does not define, or that has
// neither prompt nor help.
func RenameCandidates(older, newer *Rules, sym string) []Candidate {
	if older == nil || newer == nil {
		return nil
	}
	s := older.Symbols[sym]
	if s == nil || len(s.Defs) == 0 {
		return nil
	}
	prompts := map[string]bool{}
	var help []string
	for _, d := range s.Defs {
		if p := normalText(d.Prompt); p != "" {
			prompts[p] = true
		}
		help = append(help, d.Help)
	}
	want := wordSet(strings.Join(help, " "))
	wantNumbers := numbersOf(s.Defs)
	var out []Candidate
	for name, ns := range newer.Symbols {
		if name == sym || len(ns.Defs) == 0 {
			continue
		}
		if prev := older.Symbols[name]; prev != nil && len(prev.Defs) > 0 {
			continue
		}
		best := Candidate{Symbol: name}
		for _, d := range ns.Defs {
			if prompts[normalText(d.Prompt)] {
				best = Candidate{Symbol: name, File: d.File, Line: d.Line, Evidence: fmt.Sprintf("same prompt %q", d.Prompt), Score: 1}
				break
			}
			if len(want) == 0 || !maps.Equal(wantNumbers, numbersOf([]*Def{d})) {
				continue // help alike but other numbers: a sibling (NFSv4.0 beside 4.1), not a rename
			}
			if like := likeness(want, wordSet(d.Help)); like >= minHelpLikeness && like > best.Score {
				best = Candidate{Symbol: name, File: d.File, Line: d.Line, Evidence: fmt.Sprintf("help text %.0f%% alike", like*100), Score: like}
			}
		}
		if best.Score > 0 {
			out = append(out, best)
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Symbol, b.Symbol))
	})
	return out[:min(len(out), maxCandidates)]
}

// normalText is a prompt as compared: lower case, blanks collapsed.
func normalText(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// wordSet is the set of words (letters and digits, lower case) of a text; words of one or two
// characters ("a", "to", "if") say nothing of which driver a text is about and are left out.
func wordSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' }) {
		if len(w) > 2 {
			set[w] = true
		}
	}
	return set
}

// numbersOf is the set of numbers the definitions' prompts and help texts name: versions, RFCs.
// Two texts alike in words but not in numbers are about siblings (NFS_V4_0, "NFSv4.0 (RFC
// 3530)", beside NFS_V4_1, "NFSv4.1 (RFC 5661)"), which a rename does not make.
func numbersOf(defs []*Def) map[string]bool {
	set := map[string]bool{}
	for _, d := range defs {
		for _, w := range strings.FieldsFunc(d.Prompt+" "+d.Help, func(r rune) bool { return !unicode.IsDigit(r) }) {
			set[w] = true
		}
	}
	return set
}

// likeness is the Jaccard index of two word sets: the words both have over the words either has.
func likeness(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	both := 0
	for w := range a {
		if b[w] {
			both++
		}
	}
	return float64(both) / float64(len(a)+len(b)-both)
}
