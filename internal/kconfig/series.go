package kconfig

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/wslkernel/wslkernel/internal/version"
)

// SeriesRange is the kernel series a fragment or policy line applies to, both ends included; an
// end left out is open. The zero SeriesRange is every series: a line under no directive, or
// under "# series: all".
//
// Symbols come and go between series (NFS_V4_1 is gone from 7.2, IP_NF_IPTABLES_LEGACY became a
// switch), so one file can say "from 7.2 on" or "up to 7.1". When nobody knows the exact series
// a change happened in, a range should err toward a loud failure, never a silent omission: a
// removed symbol's range ends at the last series before the one verified without it (if it went
// earlier, olddefconfig drops it there and configure fails naming it), and a new symbol's range
// starts at the series verified to need it.
type SeriesRange struct {
	From version.Series // the first series; the zero Series: from the first there is
	To   version.Series // the last series; the zero Series: no end
}

// seriesDirective is the comment line that gives the settings after it a range: "# series: 7.2-".
// Kconfig and merge_config.sh see a comment, so they take every line whatever its range: only
// this package's readers honour it.
var seriesDirective = regexp.MustCompile(`(?i)^#\s*series\s*:(.*)$`)

// rangeSyntax is what a directive's range may be, for error messages.
const rangeSyntax = "want 7.2- (from 7.2 on), -7.1 (up to 7.1), 6.6-7.1, 7.2 (that series alone) or all"

// ParseSeriesRange parses "7.2-" (from 7.2 on), "-7.1" (up to 7.1), "6.6-7.1", "7.2" (that series
// alone) or "all". Blanks around the dash are ignored; an empty range such as "7.2-6.1" is an error.
func ParseSeriesRange(text string) (SeriesRange, error) {
	text = strings.TrimSpace(text)
	if strings.EqualFold(text, "all") {
		return SeriesRange{}, nil
	}
	from, to, isRange := strings.Cut(text, "-")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if !isRange {
		to = from
	}
	if from == "" && to == "" {
		return SeriesRange{}, fmt.Errorf("%q is not a series range: %s", text, rangeSyntax)
	}
	var r SeriesRange
	for _, end := range []struct {
		text string
		to   *version.Series
	}{{from, &r.From}, {to, &r.To}} {
		if end.text == "" {
			continue
		}
		s, err := version.ParseSeries(end.text)
		if err != nil {
			return SeriesRange{}, fmt.Errorf("%q is not a series range: %v; %s", text, err, rangeSyntax)
		}
		if s.Major == 0 {
			return SeriesRange{}, fmt.Errorf("%q is not a series range: %s is no kernel series", text, s)
		}
		*end.to = s
	}
	if !r.openFrom() && !r.openTo() && r.From.Compare(r.To) > 0 {
		return SeriesRange{}, fmt.Errorf("%q is an empty range: %s comes after %s", text, r.From, r.To)
	}
	return r, nil
}

func (r SeriesRange) openFrom() bool { return r.From == version.Series{} }
func (r SeriesRange) openTo() bool   { return r.To == version.Series{} }

// IsAll reports whether the range is every series.
func (r SeriesRange) IsAll() bool { return r.openFrom() && r.openTo() }

// Contains reports whether s is in the range.
func (r SeriesRange) Contains(s version.Series) bool {
	return (r.openFrom() || r.From.Compare(s) <= 0) && (r.openTo() || s.Compare(r.To) <= 0)
}

// Overlaps reports whether some series is in both ranges.
func (r SeriesRange) Overlaps(o SeriesRange) bool {
	_, ok := r.intersect(o)
	return ok
}

// intersect is the series in both ranges, and whether there is any.
func (r SeriesRange) intersect(o SeriesRange) (SeriesRange, bool) {
	out := r
	if out.openFrom() || !o.openFrom() && o.From.Compare(out.From) > 0 {
		out.From = o.From
	}
	if out.openTo() || !o.openTo() && o.To.Compare(out.To) < 0 {
		out.To = o.To
	}
	return out, out.openFrom() || out.openTo() || out.From.Compare(out.To) <= 0
}

// String is the range as a directive writes it: "all", "7.2-", "-7.1", "6.6-7.1" or "7.2".
func (r SeriesRange) String() string {
	switch {
	case r.IsAll():
		return "all"
	case r.openTo():
		return r.From.String() + "-"
	case r.openFrom():
		return "-" + r.To.String()
	case r.From == r.To:
		return r.From.String()
	}
	return r.From.String() + "-" + r.To.String()
}

// describe is the range in a sentence: "every series", "series 7.2-".
func (r SeriesRange) describe() string {
	if r.IsAll() {
		return "every series"
	}
	return "series " + r.String()
}

// Fragment is a fragment file as written: every setting line, each with the series it applies
// to. A directive comment line "# series: <range>" gives its range to the settings after it, up
// to the next directive; settings before any directive, or after "# series: all", apply to
// every series. One symbol may be set on several lines only when their ranges do not overlap.
//
// A fragment is merged, checked or explained as it applies to one series (ForSeries): there is
// no series-blind view of it. Parse, the reader of .config files, refuses a directive, so a
// fragment read without a series fails loudly instead of handing every line over as if
// unranged.
type Fragment struct {
	File     string
	settings []Setting
}

// ParseFragment reads a fragment; name is the file name used in errors. Every error names the
// file and line: a malformed or empty range, or one symbol set on two lines whose ranges overlap.
func ParseFragment(r io.Reader, name string) (*Fragment, error) {
	settings, err := parseLines(r, name, true)
	if err != nil {
		return nil, err
	}
	f := &Fragment{File: name}
	bySymbol := map[string][]Setting{}
	for _, s := range settings {
		for _, prev := range bySymbol[s.Symbol] {
			both, ok := prev.Series.intersect(s.Series)
			switch {
			case !ok:
				continue
			case prev.Series.IsAll() && s.Series.IsAll():
				return nil, fmt.Errorf("%s:%d: CONFIG_%s is set again (first at line %d)", name, s.Line, s.Symbol, prev.Line)
			}
			return nil, fmt.Errorf("%s:%d: CONFIG_%s is set again for %s: line %d sets it for %s, this line for %s; give each line a series range of its own (# series: ...)",
				name, s.Line, s.Symbol, both.describe(), prev.Line, prev.Series.describe(), s.Series.describe())
		}
		bySymbol[s.Symbol] = append(bySymbol[s.Symbol], s)
		f.settings = append(f.settings, s)
	}
	return f, nil
}

// ParseFragmentFile reads a fragment from disk.
func ParseFragmentFile(path string) (*Fragment, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return ParseFragment(fh, path)
}

// Settings lists every setting line in file order, each with its range: a symbol may appear more
// than once, for series that do not overlap.
func (f *Fragment) Settings() []Setting { return append([]Setting(nil), f.settings...) }

// Ranged reports whether some line applies to only some series.
func (f *Fragment) Ranged() bool {
	for _, s := range f.settings {
		if !s.Series.IsAll() {
			return true
		}
	}
	return false
}

// ForSeries is the fragment as it applies to series s: the lines whose range holds s, in file
// order, each keeping its file, line and range.
func (f *Fragment) ForSeries(s version.Series) *Config {
	c := &Config{settings: map[string]Setting{}}
	for _, set := range f.settings {
		if set.Series.Contains(s) {
			c.Set(set)
		}
	}
	return c
}
