package kconfig

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/version"
)

func series(t testing.TB, s string) version.Series {
	t.Helper()
	v, err := version.ParseSeries(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseSeriesRange(t *testing.T) {
	for _, tc := range []struct {
		text, want string   // want: String(), or the error's text
		in, out    []string // series inside and outside the range
	}{
		{"all", "all", []string{"2.6", "6.1", "99.0"}, nil},
		{"ALL", "all", []string{"6.1"}, nil},
		{"7.2-", "7.2-", []string{"7.2", "7.10", "8.0"}, []string{"7.1", "6.19"}},
		{"-7.1", "-7.1", []string{"6.1", "7.0", "7.1"}, []string{"7.2", "8.0"}},
		{"6.6-7.1", "6.6-7.1", []string{"6.6", "6.12", "7.1"}, []string{"6.5", "6.1", "7.2"}},
		{" 6.6 - 7.1 ", "6.6-7.1", []string{"6.12"}, []string{"7.2"}},
		{"7.2", "7.2", []string{"7.2"}, []string{"7.1", "7.3"}},
		{"7.2-7.2", "7.2", []string{"7.2"}, []string{"7.3"}},
		{"7.2-6.1", `"7.2-6.1" is an empty range: 7.2 comes after 6.1`, nil, nil},
		{"", `"" is not a series range: want 7.2- (from 7.2 on)`, nil, nil},
		{"-", `"-" is not a series range`, nil, nil},
		{"7.x-", `"7.x-" is not a series range: series "7.x"`, nil, nil},
		{"7-", `"7-" is not a series range: series "7"`, nil, nil},
		{"7.2.1-", `"7.2.1-" is not a series range`, nil, nil},
		{"6.1--7.1", `"6.1--7.1" is not a series range`, nil, nil},
		{"7.2 7.3", `"7.2 7.3" is not a series range`, nil, nil},
		{"-0.0", `"-0.0" is not a series range: 0.0 is no kernel series`, nil, nil},
		{"from 7.2", `"from 7.2" is not a series range`, nil, nil},
	} {
		r, err := ParseSeriesRange(tc.text)
		if tc.in == nil && tc.out == nil {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseSeriesRange(%q) = %v, %v; want an error with %q", tc.text, r, err, tc.want)
			}
			continue
		}
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseSeriesRange(%q) = %v, %v; want %s", tc.text, r, err, tc.want)
			continue
		}
		for _, s := range tc.in {
			if !r.Contains(series(t, s)) {
				t.Errorf("%s does not contain %s", r, s)
			}
		}
		for _, s := range tc.out {
			if r.Contains(series(t, s)) {
				t.Errorf("%s contains %s", r, s)
			}
		}
	}
}

func TestSeriesRangeOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"all", "7.2-", true},
		{"-7.1", "7.2-", false},
		{"-7.1", "7.1-", true},
		{"6.6-7.1", "7.0", true},
		{"6.6-6.12", "7.0-7.1", false},
		{"6.6-", "-6.5", false},
		{"6.6-", "-6.6", true},
		{"7.2", "7.2", true},
	} {
		a, _ := ParseSeriesRange(tc.a)
		b, _ := ParseSeriesRange(tc.b)
		if a.Overlaps(b) != tc.want || b.Overlaps(a) != tc.want {
			t.Errorf("%s overlaps %s: %v, want %v", tc.a, tc.b, a.Overlaps(b), tc.want)
		}
	}
}

// The fragment of the issue: lines before any directive are for every series, a directive
// ranges the lines after it up to the next, "all" goes back to every series.
const rangedFragment = `# SPDX-License-Identifier: GPL-2.0-only
CONFIG_NFS_FS=m
# series: -7.1
CONFIG_NFS_V4_1=y
# series: 7.2-
# legacy tables are a switch from 7.2 on
CONFIG_NETFILTER_XTABLES_LEGACY=y
CONFIG_IP_NF_IPTABLES_LEGACY=m
# series: 6.6-7.1
CONFIG_MODE=m
# series: 7.2-
CONFIG_MODE=y
# series: all
CONFIG_NFS_V4=m
`

func TestFragmentForSeries(t *testing.T) {
	f, err := ParseFragment(strings.NewReader(rangedFragment), "nfs.config")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Ranged() || len(f.Settings()) != 7 {
		t.Errorf("Ranged() = %v, %d settings; want true, 7", f.Ranged(), len(f.Settings()))
	}
	for _, tc := range []struct{ series, want string }{
		{"6.1", "CONFIG_NFS_FS=m\nCONFIG_NFS_V4_1=y\nCONFIG_NFS_V4=m\n"},
		{"6.12", "CONFIG_NFS_FS=m\nCONFIG_NFS_V4_1=y\nCONFIG_MODE=m\nCONFIG_NFS_V4=m\n"},
		{"7.1", "CONFIG_NFS_FS=m\nCONFIG_NFS_V4_1=y\nCONFIG_MODE=m\nCONFIG_NFS_V4=m\n"},
		{"7.2", "CONFIG_NFS_FS=m\nCONFIG_NETFILTER_XTABLES_LEGACY=y\nCONFIG_IP_NF_IPTABLES_LEGACY=m\nCONFIG_MODE=y\nCONFIG_NFS_V4=m\n"},
		{"8.0", "CONFIG_NFS_FS=m\nCONFIG_NETFILTER_XTABLES_LEGACY=y\nCONFIG_IP_NF_IPTABLES_LEGACY=m\nCONFIG_MODE=y\nCONFIG_NFS_V4=m\n"},
	} {
		var b bytes.Buffer
		f.ForSeries(series(t, tc.series)).WriteTo(&b)
		if b.String() != tc.want {
			t.Errorf("ForSeries(%s) =\n%s\nwant\n%s", tc.series, b.String(), tc.want)
		}
	}
	c := f.ForSeries(series(t, "7.2"))
	if s, _ := c.Get("MODE"); s.File != "nfs.config" || s.Line != 12 || s.Series.String() != "7.2-" {
		t.Errorf("7.2's MODE = %+v, want nfs.config:12 for 7.2-", s)
	}
	if s, _ := c.Get("NFS_V4"); !s.Series.IsAll() || s.Line != 14 {
		t.Errorf("NFS_V4 after # series: all = %+v, want every series", s)
	}
}

func TestFragmentErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"CONFIG_A=y\n# series: 7.x-\nCONFIG_B=y\n", `f.config:2: # series: "7.x-" is not a series range`},
		{"# series: 7.2-6.1\nCONFIG_B=y\n", `f.config:1: # series: "7.2-6.1" is an empty range: 7.2 comes after 6.1`},
		{"#series:\nCONFIG_B=y\n", `f.config:1: # series: "" is not a series range`},
		{"# Series: 7.2 on\nCONFIG_B=y\n", `f.config:1: # series: "7.2 on" is not a series range`},
		{"CONFIG_A=y\nCONFIG_A=m\n", "f.config:2: CONFIG_A is set again (first at line 1)"},
		{"CONFIG_A=y\n# series: 7.2-\nCONFIG_A=m\n", "f.config:3: CONFIG_A is set again for series 7.2-: line 1 sets it for every series, this line for series 7.2-; give each line a series range of its own"},
		{"# series: -7.1\nCONFIG_A=y\n# series: 7.0-\n# CONFIG_A is not set\n", "f.config:4: CONFIG_A is set again for series 7.0-7.1: line 2 sets it for series -7.1, this line for series 7.0-"},
		{"# series: 6.6-7.1\nCONFIG_A=y\n# series: 7.1\nCONFIG_A=y\n", "f.config:4: CONFIG_A is set again for series 7.1: line 2 sets it for series 6.6-7.1, this line for series 7.1"},
		{"# series: 7.2-\nCONFIG_A\n", `f.config:2: not a config line: "CONFIG_A"`},
	} {
		if _, err := ParseFragment(strings.NewReader(tc.text), "f.config"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFragment(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
	// Ranges that do not overlap may each set the symbol.
	if _, err := ParseFragment(strings.NewReader("# series: -7.1\nCONFIG_A=y\n# series: 7.2-\nCONFIG_A=m\n# series: 6.1\nCONFIG_B=y\n# series: 6.2-\nCONFIG_B=m\n"), "f.config"); err != nil {
		t.Errorf("disjoint ranges: %v", err)
	}
}

// A .config has no series: Parse refuses a directive rather than take every line as unranged,
// so a fragment read without asking for a series fails loudly.
func TestParseRefusesASeriesDirective(t *testing.T) {
	_, err := Parse(strings.NewReader("CONFIG_A=y\n# series: 7.2-\nCONFIG_B=y\n"), "frag.config")
	if want := `frag.config:2: "# series: 7.2-": a series directive belongs in a fragment`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse = %v, want %q", err, want)
	}
	// Other comments stay comments.
	if _, err := Parse(strings.NewReader("# the series of 7.2\n# seriesless: x\nCONFIG_A=y\n"), ".config"); err != nil {
		t.Errorf("Parse of plain comments = %v", err)
	}
}

func FuzzParseFragment(f *testing.F) {
	f.Add(rangedFragment)
	f.Add("# series: 7.2-6.1\nCONFIG_A=y\n")
	f.Add("# series: -7.1\nCONFIG_A=y\n# series: 7.1-\nCONFIG_A=m\n")
	f.Add("CONFIG_A=y\n# series: all\n# CONFIG_B is not set\n")
	points := []version.Series{{Major: 6, Minor: 1}, {Major: 6, Minor: 12}, {Major: 7, Minor: 1}, {Major: 7, Minor: 2}, {Major: 99, Minor: 9}}
	f.Fuzz(func(t *testing.T, text string) {
		frag, err := ParseFragment(strings.NewReader(text), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, s := range points {
			c := frag.ForSeries(s)
			for _, set := range c.Settings() {
				if !set.Series.Contains(s) {
					t.Fatalf("ForSeries(%s) holds line %d, for %s", s, set.Line, set.Series)
				}
			}
			// At most one line per symbol applies to a series: ForSeries loses none.
			n := 0
			for _, set := range frag.Settings() {
				if set.Series.Contains(s) {
					n++
				}
			}
			if n != len(c.Settings()) {
				t.Fatalf("ForSeries(%s): %d settings of %d lines that apply", s, len(c.Settings()), n)
			}
			// The series' view is a plain .config that reads back the same.
			var b bytes.Buffer
			c.WriteTo(&b)
			again, err := Parse(&b, "again")
			if err != nil {
				t.Fatalf("ForSeries(%s) does not parse back: %v\n%s", s, err, b.String())
			}
			for _, set := range c.Settings() {
				if again.Value(set.Symbol) != set.Value {
					t.Fatalf("CONFIG_%s: %q became %q", set.Symbol, set.Value, again.Value(set.Symbol))
				}
			}
		}
	})
}
