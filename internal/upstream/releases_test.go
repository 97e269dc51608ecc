package upstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/version"
)

const releasesJSON = `{
  "latest_stable": {"version": "6.18.9"},
  "releases": [
    {"iseol": false, "version": "6.19-rc6", "moniker": "mainline", "source": null, "pgp": null, "released": {"timestamp": 1, "isodate": "2026-11-20"}},
    {"iseol": false, "version": "6.18.9", "moniker": "stable", "source": "x", "pgp": "y", "released": {"timestamp": 1, "isodate": "2026-11-20"}},
    {"iseol": false, "version": "6.12.99", "moniker": "longterm", "source": "x", "pgp": "y", "released": {"timestamp": 1, "isodate": "2026-11-20"}},
    {"iseol": false, "version": "6.12.118", "moniker": "longterm", "source": "x", "pgp": "y", "released": {"timestamp": 1, "isodate": "2026-11-20"}},
    {"iseol": true, "version": "6.11.11", "moniker": "stable", "source": "x", "pgp": "y", "released": {"timestamp": 1, "isodate": "2025-01-01"}},
    {"iseol": false, "version": "next-20261120", "moniker": "linux-next", "source": null, "pgp": null, "released": {"timestamp": 1, "isodate": "2026-11-20"}}
  ]
}`

func TestLatestOfSeries(t *testing.T) {
	f, err := ParseReleases([]byte(releasesJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		series string
		want   string
		err    string
	}{
		{series: "6.12", want: "6.12.118"}, // numeric, not lexical: 118 > 99
		{series: "6.18", want: "6.18.9"},
		{series: "longterm", want: "6.12.118"},
		{series: "stable", want: "6.18.9"}, // 6.11.11 is stable too, but EOL
		{series: "6.11", err: "no release of the series 6.11 (it lists 6.19-rc6, 6.18.9, 6.12.99, 6.12.118, 6.11.11 (EOL), next-20261120)"},
		{series: "6.19", err: "no release of the series 6.19"}, // only an -rc: not a stable release
	} {
		s, _ := version.ParseTrack(tc.series)
		got, _, err := f.Latest(s)
		if tc.err != "" {
			if !errors.Is(err, ErrNoRelease) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Latest(%s) = %v, %v; want error %q", tc.series, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("Latest(%s) = %v, %v; want %s", tc.series, got, err, tc.want)
		}
	}
}

// TestResolveRejectsMalformed: a releases.json that is not what kernel.org serves is refused
// naming the URL and what was expected, in the document's terms, not Go's.
func TestResolveRejectsMalformed(t *testing.T) {
	s, _ := version.ParseTrack("6.12")
	for _, tc := range []struct{ doc, want string }{
		{``, "releases.json: not JSON: unexpected end of JSON input"},
		{`{`, "releases.json: not JSON: unexpected end of JSON input"},
		{`{"releases": [}`, "releases.json: not JSON: invalid character '}' looking for beginning of value at byte 15"},
		{`[{"version": "6.12.1"}]`, "releases.json: is a list, expected an object with latest_stable and releases (kernel.org's format)"},
		{`"6.12.1"`, "releases.json: is a string, expected an object with latest_stable and releases"},
		{`{"releases": 3}`, "releases.json: releases is a number, expected a list"},
		{`{"releases": [{"version": 6.12}]}`, "releases.json: releases.version is a number, expected a string"},
		{`{"releases": [{"iseol": "no"}]}`, "releases.json: releases.iseol is a string, expected true or false"},
		{`{"latest_stable": []}`, "releases.json: latest_stable is a list, expected an object"},
		{`{"latest_stable": {}}`, `releases.json: no "releases" list`},
	} {
		path := filepath.Join(t.TempDir(), "releases.json")
		if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Resolve(context.Background(), Source{ReleasesURL: path}, s, "")
		if err == nil || !strings.Contains(err.Error(), path+": "+tc.want) || strings.Contains(err.Error(), "Go ") {
			t.Errorf("Resolve(releases.json %s) = %v; want an error containing %q", tc.doc, err, path+": "+tc.want)
		}
	}
}

func TestResolveReadsFileURLsAndPins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "releases.json")
	if err := os.WriteFile(path, []byte(releasesJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := version.ParseTrack("6.12")
	for _, url := range []string{"file://" + path, path} {
		r, err := Resolve(context.Background(), Source{ReleasesURL: url}, s, "")
		if err != nil || r.Release.String() != "6.12.118" {
			t.Errorf("Resolve(%s) = %v, %v", url, r, err)
		}
	}
	if r, err := Resolve(context.Background(), Source{ReleasesURL: "file:///nonexistent/releases.json"}, s, "6.12.100"); err != nil || r.Release.String() != "6.12.100" {
		t.Errorf("a pin must win without reading releases.json: %v, %v", r, err)
	}
	_, err := Resolve(context.Background(), Source{ReleasesURL: "file://" + filepath.Join(dir, "missing.json")}, s, "")
	if err == nil || !strings.Contains(err.Error(), "missing.json: 404") {
		t.Errorf("Resolve(missing) = %v", err)
	}
}

func FuzzParseReleases(f *testing.F) {
	f.Add([]byte(releasesJSON))
	f.Add([]byte(`{"releases":[{"version":"6.12.1","iseol":false}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf, err := ParseReleases(data)
		if err != nil {
			return
		}
		s := version.Series{Major: 6, Minor: 12}
		r, e, err := rf.Latest(version.Track{Series: s})
		if err != nil {
			return
		}
		if !s.Contains(r) || e.IsEOL {
			t.Fatalf("Latest(6.12) = %v (eol %v)", r, e.IsEOL)
		}
		for _, other := range rf.Releases {
			o, err := version.ParseRelease(other.Version)
			if err == nil && !other.IsEOL && other.Moniker != "linux-next" && s.Contains(o) && o.Compare(r) > 0 {
				t.Fatalf("Latest(6.12) = %v, but %v is newer", r, o)
			}
		}
	})
}
