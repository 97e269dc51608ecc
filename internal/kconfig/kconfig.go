// Package kconfig reads and writes kernel .config files and fragments, merges fragments over a
// base knowing which fragment set each symbol, and checks that what was asked for survived
// olddefconfig. A fragment's lines may apply to some kernel series only (Fragment, "# series:").
package kconfig

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/lines"
)

// Setting is one symbol's value and where it came from.
type Setting struct {
	Symbol string // without the CONFIG_ prefix
	Value  string // y, m, n (for "is not set"), a number, or a quoted string as written
	File   string
	Line   int
	Series SeriesRange // the series the line applies to (a fragment's "# series:"); zero: every series
}

// Config is an ordered set of settings, as a .config or a fragment holds them. The zero value is
// an empty config, ready to use.
type Config struct {
	order    []string
	settings map[string]Setting
}

var (
	setLine   = regexp.MustCompile(`^CONFIG_([A-Za-z0-9_]+)=(.*)$`)
	unsetLine = regexp.MustCompile(`^# CONFIG_([A-Za-z0-9_]+) is not set$`)
)

// Parse reads .config syntax. Comments other than "is not set" and blank lines are skipped; any
// other line is an error naming file and line. A "# series:" directive is an error too: a .config
// is for no series in particular, and a fragment that has one is read with ParseFragment, as it
// applies to a series (ForSeries), never as if every line applied to all.
func Parse(r io.Reader, name string) (*Config, error) {
	settings, err := parseLines(r, name, false)
	if err != nil {
		return nil, err
	}
	c := &Config{settings: map[string]Setting{}}
	for _, s := range settings {
		c.Set(s)
	}
	return c, nil
}

// parseLines reads the setting lines of .config syntax in order; with directives, "# series:"
// lines give a range to the settings after them, else they are an error.
func parseLines(r io.Reader, name string, directives bool) ([]Setting, error) {
	var out []Setting
	var series SeriesRange
	err := lines.Each(r, name, lines.Kept, func(n int, line string) error {
		var s Setting
		if m := setLine.FindStringSubmatch(line); m != nil {
			s = Setting{Symbol: m[1], Value: m[2]}
		} else if m := unsetLine.FindStringSubmatch(line); m != nil {
			s = Setting{Symbol: m[1], Value: "n"}
		} else if m := seriesDirective.FindStringSubmatch(line); m != nil {
			if !directives {
				return fmt.Errorf("%s:%d: %q: a series directive belongs in a fragment, and this file is read as a .config, for no series in particular", name, n, line)
			}
			rng, err := ParseSeriesRange(m[1])
			if err != nil {
				return fmt.Errorf("%s:%d: # series: %w", name, n, err)
			}
			series = rng
			return nil
		} else if line == "" || strings.HasPrefix(line, "#") {
			return nil
		} else {
			return fmt.Errorf("%s:%d: not a config line: %q (want CONFIG_FOO=value or # CONFIG_FOO is not set)", name, n, line)
		}
		if err := checkValue(s.Value); err != nil {
			return fmt.Errorf("%s:%d: CONFIG_%s: %w", name, n, s.Symbol, err)
		}
		s.File, s.Line, s.Series = name, n, series
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func checkValue(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty value (use n, or # CONFIG_FOO is not set)")
	case strings.HasPrefix(v, `"`):
		if len(v) < 2 || !strings.HasSuffix(v, `"`) || strings.HasSuffix(v, `\"`) && !strings.HasSuffix(v, `\\"`) {
			return fmt.Errorf("unterminated string %s", v)
		}
	case strings.ContainsAny(v, " \t\""):
		return fmt.Errorf("value %q must be quoted", v)
	}
	return nil
}

// ParseFile reads a .config or fragment from disk.
func ParseFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// Set adds or replaces a setting, keeping the original position of a replaced symbol.
func (c *Config) Set(s Setting) {
	if c.settings == nil {
		c.settings = map[string]Setting{}
	}
	if _, ok := c.settings[s.Symbol]; !ok {
		c.order = append(c.order, s.Symbol)
	}
	c.settings[s.Symbol] = s
}

// Get returns a symbol's setting. A symbol the file does not mention reads as n, as Kconfig
// treats it.
func (c *Config) Get(sym string) (Setting, bool) {
	s, ok := c.settings[sym]
	return s, ok
}

// Value is the symbol's value, "n" when absent.
func (c *Config) Value(sym string) string {
	if s, ok := c.settings[sym]; ok {
		return s.Value
	}
	return "n"
}

// Settings lists the settings in file order.
func (c *Config) Settings() []Setting {
	out := make([]Setting, 0, len(c.order))
	for _, sym := range c.order {
		out = append(out, c.settings[sym])
	}
	return out
}

// WriteTo writes .config syntax.
func (c *Config) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, s := range c.Settings() {
		if s.Value == "n" {
			fmt.Fprintf(&b, "# CONFIG_%s is not set\n", s.Symbol)
		} else {
			fmt.Fprintf(&b, "CONFIG_%s=%s\n", s.Symbol, s.Value)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Override is a later fragment changing what an earlier one set.
type Override struct {
	Earlier, Later Setting
}

func (o Override) String() string {
	return fmt.Sprintf("%s:%d: CONFIG_%s=%s overrides %s:%d (%s)", o.Later.File, o.Later.Line, o.Later.Symbol, o.Later.Value, o.Earlier.File, o.Earlier.Line, o.Earlier.Value)
}

// Merge lays fragments over base in order, as merge_config.sh does, and returns the merged config,
// every requested setting (the last fragment's word on each symbol), and the overrides between
// fragments.
func Merge(base *Config, fragments ...*Config) (merged, requested *Config, overrides []Override) {
	merged = &Config{settings: map[string]Setting{}}
	requested = &Config{settings: map[string]Setting{}}
	for _, s := range base.Settings() {
		merged.Set(s)
	}
	for _, f := range fragments {
		for _, s := range f.Settings() {
			if prev, ok := requested.Get(s.Symbol); ok && prev.Value != s.Value {
				overrides = append(overrides, Override{Earlier: prev, Later: s})
			}
			requested.Set(s)
			merged.Set(s)
		}
	}
	return merged, requested, overrides
}

// Mismatch is a requested value the final config does not hold.
type Mismatch struct {
	Requested Setting
	Actual    string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s:%d: CONFIG_%s=%s was requested, but the final .config has %s", m.Requested.File, m.Requested.Line, m.Requested.Symbol, m.Requested.Value, m.Actual)
}

// Verify lists every requested setting that final does not hold.
func Verify(requested, final *Config) []Mismatch {
	var out []Mismatch
	for _, s := range requested.Settings() {
		if got := final.Value(s.Symbol); got != s.Value {
			out = append(out, Mismatch{Requested: s, Actual: got})
		}
	}
	return out
}

// Diff lists what changed from a to b the way the kernel's scripts/diffconfig prints it: symbols
// only in a ("-SYM old"), then symbols whose value changed (" SYM old -> new"), then symbols
// only in b ("+SYM new"), each group sorted by name. A symbol absent from a file differs from
// one "is not set" there, as in diffconfig.
func Diff(a, b *Config) []string {
	var removed, changed, added []string
	for _, s := range a.Settings() {
		nb, ok := b.Get(s.Symbol)
		switch {
		case !ok:
			removed = append(removed, fmt.Sprintf("-%s %s", s.Symbol, s.Value))
		case nb.Value != s.Value:
			changed = append(changed, fmt.Sprintf(" %s %s -> %s", s.Symbol, s.Value, nb.Value))
		}
	}
	for _, s := range b.Settings() {
		if _, ok := a.Get(s.Symbol); !ok {
			added = append(added, fmt.Sprintf("+%s %s", s.Symbol, s.Value))
		}
	}
	bySymbol := func(x, y string) int { return strings.Compare(symbolOf(x), symbolOf(y)) }
	slices.SortFunc(removed, bySymbol)
	slices.SortFunc(changed, bySymbol)
	slices.SortFunc(added, bySymbol)
	return slices.Concat(removed, changed, added)
}

func symbolOf(line string) string {
	sym, _, _ := strings.Cut(line[1:], " ")
	return sym
}
