package upstream

import (
	"context"
	"errors"
	"fmt"
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
		{series: "stable", want: "6.18.9"},                     // 6.11.11 is stable too, but EOL
		{series: "6.11", want: "6.11.11"},                      // the final release of an ended series is still its newest
		{series: "6.19", err: "no release of the series 6.19"}, // only an -rc: not a stable release
		{series: "6.6", err: "no release of the series 6.6 (it lists 6.19-rc6, 6.18.9, 6.12.99, 6.12.118, 6.11.11 (EOL), next-20261120)"},
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
	f.Add([]byte(`{"releases":[{"version":"6.12.9","iseol":true,"moniker":"longterm"},{"version":"6.18.2","moniker":"longterm"}]}`))
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
		if !s.Contains(r) || e.Moniker == "linux-next" {
			t.Fatalf("Latest(6.12) = %v (moniker %q)", r, e.Moniker)
		}
		for _, other := range rf.Releases {
			o, err := version.ParseRelease(other.Version)
			if err == nil && other.Moniker != "linux-next" && s.Contains(o) && o.Compare(r) > 0 {
				t.Fatalf("Latest(6.12) = %v, but %v is newer", r, o)
			}
		}
		lc := rf.Lifecycle(s)
		if lc.Longterm != nil && !newerSeries(lc.Longterm.Series(), s) {
			t.Fatalf("Lifecycle(6.12).Longterm = %v, not of a newer series", lc.Longterm)
		}
		if e.IsEOL && !lc.EOL {
			t.Fatalf("Latest(6.12) = %v marked EOL, but Lifecycle(6.12) says the series goes on", r)
		}
	})
}

// rel is a releases.json entry for the lifecycle tests.
func rel(version, moniker string, eol bool) string {
	return fmt.Sprintf(`{"iseol": %t, "version": %q, "moniker": %q}`, eol, version, moniker)
}

// TestLifecycle: releases.json says a followed series has ended (its newest release is marked
// iseol), or a newer longterm series exists (the newest one is named), or both, or neither; and
// what is not a release, or not a live longterm, says nothing.
func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		series   string
		releases []string
		eol      bool
		longterm string // "" for none
	}{
		{name: "neither", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.18.9", "stable", false), rel("6.11.11", "stable", true)}},
		{name: "the followed series ended", series: "6.11", releases: []string{rel("6.12.9", "stable", false), rel("6.11.11", "stable", true), rel("6.6.70", "longterm", false)}, eol: true},
		{name: "a newer longterm", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.18.35", "longterm", false), rel("6.19.2", "stable", false)}, longterm: "6.18.35"},
		{name: "both", series: "6.12", releases: []string{rel("6.12.130", "longterm", true), rel("6.18.35", "longterm", false)}, eol: true, longterm: "6.18.35"},
		{name: "the newest of several newer longterms", series: "6.1", releases: []string{rel("6.6.9", "longterm", false), rel("6.18.35", "longterm", false), rel("6.12.118", "longterm", false), rel("6.1.150", "longterm", false)}, longterm: "6.18.35"},
		{name: "a new major", series: "6.18", releases: []string{rel("6.18.35", "longterm", false), rel("7.4.1", "longterm", false)}, longterm: "7.4.1"},
		{name: "older longterms are no move", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.6.70", "longterm", false), rel("5.15.180", "longterm", false)}},
		{name: "an ended newer longterm is no move", series: "6.1", releases: []string{rel("6.1.150", "longterm", false), rel("6.6.99", "longterm", true)}},
		{name: "a newer stable is not longterm", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.18.9", "stable", false)}},
		{name: "the newest release decides", series: "6.12", releases: []string{rel("6.12.99", "longterm", true), rel("6.12.118", "longterm", false)}},
		{name: "the newest release decides, ended", series: "6.12", releases: []string{rel("6.12.118", "longterm", true), rel("6.12.99", "longterm", false)}, eol: true},
		{name: "listed twice, once ended", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.12.118", "longterm", true)}, eol: true},
		{name: "not listed at all", series: "6.12", releases: []string{rel("6.18.35", "stable", false)}},
		{name: "empty", series: "6.12"},
		// Hostile or malformed entries: a version that is not a release says nothing of any series.
		{name: "non-release versions", series: "6.12", releases: []string{rel("6.12.118", "longterm", false),
			rel("6.99-rc1", "longterm", false), rel("next-20261120", "longterm", false), rel("", "longterm", false),
			rel("v6.18.1", "mainline", true), rel("6.18.01", "longterm", false), rel("6.1000000.1", "longterm", false),
			rel("-6.18.1", "longterm", false), rel("6.18.1.1", "longterm", false), rel("6.18.x", "longterm", false)}},
		{name: "linux-next is no series' release", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.12.119", "linux-next", true)}},
		{name: "a moniker is matched exactly", series: "6.12", releases: []string{rel("6.12.118", "longterm", false), rel("6.18.1", "Longterm", false), rel("6.19.1", "longterm ", false), rel("6.20.1", "", false)}},
		{name: "no moniker, no iseol", series: "6.12", releases: []string{`{"version": "6.12.118"}`, `{"version": "6.18.3", "moniker": "longterm"}`}, longterm: "6.18.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"releases": [` + strings.Join(tc.releases, ", ") + `]}`
			f, err := ParseReleases([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			s, err := version.ParseSeries(tc.series)
			if err != nil {
				t.Fatal(err)
			}
			lc := f.Lifecycle(s)
			longterm := ""
			if lc.Longterm != nil {
				longterm = lc.Longterm.String()
			}
			if lc.Series != s || lc.EOL != tc.eol || longterm != tc.longterm || lc.Rotting() != (tc.eol || tc.longterm != "") {
				t.Errorf("Lifecycle(%s) of %s = %+v (longterm %q, rotting %v); want EOL %v, longterm %q", tc.series, doc, lc, longterm, lc.Rotting(), tc.eol, tc.longterm)
			}
		})
	}
}

// TestResolveLifecycle: Resolve hands on releases.json's word on a followed series, and the
// final release of an ended series is resolved, not refused; a moniker (which moves on by itself)
// and a pin (which reads no releases.json) get none.
func TestResolveLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "releases.json")
	doc := `{"releases": [` + strings.Join([]string{rel("6.12.130", "longterm", true), rel("6.18.35", "longterm", false), rel("6.19.2", "stable", false)}, ", ") + `]}`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		track, pin, release string
		lifecycle           string // "" for none
	}{
		{track: "6.12", release: "6.12.130", lifecycle: "{Series:6.12 EOL:true Longterm:6.18.35}"},
		{track: "6.18", release: "6.18.35", lifecycle: "{Series:6.18 EOL:false Longterm:<nil>}"},
		{track: "longterm", release: "6.18.35"},
		{track: "stable", release: "6.19.2"},
		{track: "6.12", pin: "6.12.7", release: "6.12.7"},
	} {
		track, _ := version.ParseTrack(tc.track)
		r, err := Resolve(context.Background(), Source{ReleasesURL: path}, track, tc.pin)
		got := ""
		if r.Lifecycle != nil {
			lt := "<nil>"
			if r.Lifecycle.Longterm != nil {
				lt = r.Lifecycle.Longterm.String()
			}
			got = fmt.Sprintf("{Series:%s EOL:%t Longterm:%s}", r.Lifecycle.Series, r.Lifecycle.EOL, lt)
		}
		if err != nil || r.Release.String() != tc.release || got != tc.lifecycle {
			t.Errorf("Resolve(%s, pin %q) = %v, lifecycle %s, %v; want %s, lifecycle %q", tc.track, tc.pin, r.Release, got, err, tc.release, tc.lifecycle)
		}
	}
}
