package kconfig

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/lines"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Policy is a list of values a final config must hold, per arch, each with the reason why, in
// the spirit of Ubuntu's annotations file. Its text form:
//
//	arches: x86_64 arm64
//	# symbol             x86_64  arm64  why
//	CONFIG_VSOCKETS      y       y      the WSL service talks to the VM over vsock
//	CONFIG_HYPERV_IOMMU  y       -      interrupt remapping for more than 255 vCPUs (x86 only)
//	CONFIG_EXT4_FS       y|m     y|m    distro root file systems are ext4
//
// A value is y, m, n, a number or a quoted string; "a|b" allows either; "-" sets no rule for
// that arch. The reason is required. A "# series: <range>" line, as in a fragment, limits the
// rules after it to those series (up to the next such line; "# series: all" goes back to every
// series), so a symbol that a series removed or renamed is ruled on where it exists:
//
//	# series: -7.1
//	CONFIG_HYPERV_IOMMU  y       -      interrupt remapping for more than 255 vCPUs (x86 only)
//
// One symbol may be ruled on twice only for series that do not overlap. Check takes the series
// of the tree the config is for.
type Policy struct {
	File   string
	Arches []string
	Rules  []PolicyRule
}

// PolicyRule is one line of a policy.
type PolicyRule struct {
	Symbol string
	Allow  map[string][]string // by arch; no entry: no rule
	Why    string
	Line   int
	Series SeriesRange // the series the rule holds on; zero: every series
}

// Violation is a policy rule the final config breaks.
type Violation struct {
	Rule   PolicyRule
	File   string
	Arch   string
	Actual string
}

func (v Violation) String() string {
	on := v.Arch
	if !v.Rule.Series.IsAll() {
		on += " for " + v.Rule.Series.describe()
	}
	return fmt.Sprintf("%s:%d: CONFIG_%s must be %s on %s (%s), but the final .config has %s",
		v.File, v.Rule.Line, v.Rule.Symbol, strings.Join(v.Rule.Allow[v.Arch], " or "), on, v.Rule.Why, v.Actual)
}

var (
	policyArches = regexp.MustCompile(`^arches:\s*(.+)$`)
	policyValue  = regexp.MustCompile(`^(y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|"[^"]*")$`)
)

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(bytes.NewReader(data), path)
}

// ParsePolicy reads a policy; name is the file name used in errors.
func ParsePolicy(r io.Reader, name string) (*Policy, error) {
	p := &Policy{File: name}
	seen := map[string][]PolicyRule{}
	var series SeriesRange
	err := lines.Each(r, name, lines.Kept, func(n int, line string) error {
		if m := seriesDirective.FindStringSubmatch(line); m != nil {
			rng, err := ParseSeriesRange(m[1])
			if err != nil {
				return fmt.Errorf("%s:%d: # series: %w", name, n, err)
			}
			series = rng
			return nil
		}
		if line == "" || strings.HasPrefix(line, "#") {
			return nil
		}
		if m := policyArches.FindStringSubmatch(line); m != nil {
			if p.Arches != nil {
				return fmt.Errorf("%s:%d: a second arches: line", name, n)
			}
			p.Arches = strings.Fields(m[1])
			return nil
		}
		if p.Arches == nil {
			return fmt.Errorf("%s:%d: the policy must start with an arches: line naming its columns, e.g. \"arches: x86_64 arm64\"", name, n)
		}
		f := strings.Fields(line)
		if len(f) < 2+len(p.Arches) {
			return fmt.Errorf("%s:%d: want CONFIG_SYMBOL, a value for each of %s, and why; got %q", name, n, strings.Join(p.Arches, ", "), line)
		}
		sym, ok := strings.CutPrefix(f[0], "CONFIG_")
		if !ok || sym == "" {
			return fmt.Errorf("%s:%d: %q is not a CONFIG_ symbol", name, n, f[0])
		}
		for _, prev := range seen[sym] {
			if both, ok := prev.Series.intersect(series); ok {
				if prev.Series.IsAll() && series.IsAll() {
					return fmt.Errorf("%s:%d: CONFIG_%s is already ruled on at line %d", name, n, sym, prev.Line)
				}
				return fmt.Errorf("%s:%d: CONFIG_%s is already ruled on at line %d for %s (that line is for %s, this one for %s); give each rule a series range of its own",
					name, n, sym, prev.Line, both.describe(), prev.Series.describe(), series.describe())
			}
		}
		rule := PolicyRule{Symbol: sym, Allow: map[string][]string{}, Why: strings.Join(f[1+len(p.Arches):], " "), Line: n, Series: series}
		seen[sym] = append(seen[sym], rule)
		for i, arch := range p.Arches {
			v := f[1+i]
			if v == "-" {
				continue
			}
			for _, alt := range strings.Split(v, "|") {
				if !policyValue.MatchString(alt) {
					return fmt.Errorf("%s:%d: CONFIG_%s: %q for %s is not a value (y, m, n, a number, a quoted string, a|b, or - for no rule)", name, n, sym, v, arch)
				}
				rule.Allow[arch] = append(rule.Allow[arch], alt)
			}
		}
		p.Rules = append(p.Rules, rule)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.Arches == nil {
		return nil, fmt.Errorf("%s: empty policy: no arches: line", name)
	}
	return p, nil
}

// Check lists the rules final, a config of a tree of the given series, breaks on arch. A policy
// with no column for the arch rules nothing; a rule whose range does not hold the series is not
// checked.
func (p *Policy) Check(arch string, series version.Series, final *Config) []Violation {
	var out []Violation
	for _, r := range p.Rules {
		allow, ok := r.Allow[arch]
		if !ok || !r.Series.Contains(series) {
			continue
		}
		if got := final.Value(r.Symbol); !slices.Contains(allow, got) {
			out = append(out, Violation{Rule: r, File: p.File, Arch: arch, Actual: got})
		}
	}
	return out
}
