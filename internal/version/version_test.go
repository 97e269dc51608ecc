package version

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRelease(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Release
		bad  bool
	}{
		{in: "6.12.118", want: Release{6, 12, 118}},
		{in: "v6.12.117", want: Release{6, 12, 117}},
		{in: "6.13", want: Release{6, 13, 0}},
		{in: "6", bad: true},
		{in: "6.12.1.2", bad: true},
		{in: "6.012.1", bad: true},
		{in: "6.-1.1", bad: true},
		{in: "6..1", bad: true},
		{in: "6.12.x", bad: true},
		{in: "next-20260101", bad: true},
		{in: "6.13-rc3", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseRelease(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseRelease(%q) = %v, %v; want ErrSyntax", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRelease(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCompareIsNumeric(t *testing.T) {
	a, _ := ParseRelease("6.12.118")
	b, _ := ParseRelease("6.12.99")
	if a.Compare(b) != 1 || b.Compare(a) != -1 || a.Compare(a) != 0 {
		t.Fatalf("Compare(6.12.118, 6.12.99) = %d, want 1", a.Compare(b))
	}
}

func TestSeriesCompareIsNumeric(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"6.12", "6.6", 1}, {"6.6", "6.12", -1}, {"7.0", "6.19", 1}, {"7.2", "7.2", 0}} {
		a, _ := ParseSeries(tc.a)
		b, _ := ParseSeries(tc.b)
		if got := a.Compare(b); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestVersionAndTemplates(t *testing.T) {
	v := Version{Upstream: Release{6, 12, 118}, Rev: 1}
	if got := v.KernelRelease("-microsoft-standard-WSL2"); got != "6.12.118.1-microsoft-standard-WSL2" {
		t.Errorf("KernelRelease = %q", got)
	}
	for _, tc := range []struct{ tmpl, want, err string }{
		{"linux-msft-wsl-{series}.y", "linux-msft-wsl-6.12.y", ""},
		{"linux-msft-wsl-{version}", "linux-msft-wsl-6.12.118.1", ""},
		{"v{upstream}-wsl", "v6.12.118-wsl", ""},
		{"wsl-{verison}", "", `template "wsl-{verison}": unknown placeholder {verison} (known: {series}, {version}, {upstream})`},
		{"wsl-{version", "", `template "wsl-{version": unmatched '{'`},
		{"wsl-version}", "", `template "wsl-version}": unmatched '}'`},
	} {
		got, err := Expand(tc.tmpl, v)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Expand(%q) error = %v, want %q", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func FuzzParseRelease(f *testing.F) {
	for _, s := range []string{"6.12.118", "v6.1", "6.13-rc1", "0.0.0", "99999.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRelease(s)
		if err != nil {
			return
		}
		back, err := ParseRelease(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRelease(%q) = %v, but its String %q parses to %v, %v", s, r, r.String(), back, err)
		}
	})
}

func TestParseTrack(t *testing.T) {
	for in, want := range map[string]Track{"6.12": {Series: Series{6, 12}}, "longterm": {Moniker: "longterm"}, "stable": {Moniker: "stable"}} {
		if got, err := ParseTrack(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseTrack(%q) = %+v, %v", in, got, err)
		}
	}
	if _, err := ParseTrack("mainline"); err == nil || !strings.Contains(err.Error(), "or one of: longterm, stable") {
		t.Errorf("ParseTrack(mainline) = %v", err)
	}
}

func TestParseAndCompareVersions(t *testing.T) {
	less := func(a, b string) bool {
		va, err1 := ParseVersion(a)
		vb, err2 := ParseVersion(b)
		return err1 == nil && err2 == nil && va.Compare(vb) < 0
	}
	for _, c := range []struct {
		a, b string
		less bool
	}{{"6.12.117.1", "6.12.118.1", true}, {"6.12.99.1", "6.12.118.1", true}, {"6.12.118.2", "6.12.118.1", false}, {"6.12.118.1", "6.12.118.1", false}, {"x", "6.12.1.1", false}} {
		if got := less(c.a, c.b); got != c.less {
			t.Errorf("%s < %s = %v", c.a, c.b, got)
		}
	}
	if v, err := ParseVersion("6.12.118.1"); err != nil || v.String() != "6.12.118.1" {
		t.Errorf("ParseVersion round trip = %v, %v", v, err)
	}
	if _, err := ParseVersion("6.12.118"); err == nil || !strings.Contains(err.Error(), "want x.y.z.rev") {
		t.Errorf("ParseVersion(6.12.118) = %v", err)
	}
}
