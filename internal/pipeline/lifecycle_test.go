package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// builtIn records a successful build of release in the work dir, as a run leaves it: what check
// compares upstream with when no publish remote is readable.
func builtIn(t *testing.T, work, release string) {
	t.Helper()
	v := release + ".1"
	m := &manifest.Manifest{Schema: manifest.Schema, Status: "ok", Version: v, Upstream: manifest.Upstream{Release: release}}
	if err := m.Write(filepath.Join(work, "out", "smoke", v, "manifest.json")); err != nil {
		t.Fatal(err)
	}
}

// TestCheckWarnsWhenTheLineRots: the followed series (6.12) ended at kernel.org, or a newer
// longterm series is out, and check says so in one line naming the series to move to, whether
// there is something to build (Newer: cron still builds it) or not; nothing is said of a live
// series, of newer stable or older longterm series, or of what is not a release.
func TestCheckWarnsWhenTheLineRots(t *testing.T) {
	const (
		eol      = `warning  6.12 is end-of-life at kernel.org, and releases.json lists no newer longterm series: move the line to a newer series in pipeline.yaml`
		both     = `warning  6.12 is end-of-life at kernel.org; the newest longterm is 6.18 (6.18.35): move the line with series: "6.18" in pipeline.yaml`
		longterm = `warning  a longterm series newer than 6.12 is out at kernel.org: the newest is 6.18 (6.18.35): move the line with series: "6.18" in pipeline.yaml`
	)
	for _, tc := range []struct {
		name     string
		releases string
		built    string // the release built in the work dir; "" for none
		newer    bool
		rotting  bool
		warning  string
	}{
		{name: "live; up to date", built: "6.12.118",
			releases: `[{"iseol":false,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.18.9","moniker":"stable"},{"iseol":false,"version":"6.6.70","moniker":"longterm"}]`},
		{name: "live; newer", built: "6.12.117", newer: true,
			releases: `[{"iseol":false,"version":"6.12.118","moniker":"longterm"}]`},
		{name: "ended; final release built", built: "6.12.118", rotting: true, warning: eol,
			releases: `[{"iseol":true,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.6.70","moniker":"longterm"}]`},
		{name: "ended; final release not built yet", built: "6.12.117", newer: true, rotting: true, warning: eol,
			releases: `[{"iseol":true,"version":"6.12.118","moniker":"longterm"}]`},
		{name: "ended; nothing built", newer: true, rotting: true, warning: eol,
			releases: `[{"iseol":true,"version":"6.12.118","moniker":"longterm"}]`},
		{name: "newer longterm; up to date", built: "6.12.118", rotting: true, warning: longterm,
			releases: `[{"iseol":false,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.18.35","moniker":"longterm"},{"iseol":false,"version":"6.19.1","moniker":"stable"}]`},
		{name: "newer longterm; newer", built: "6.12.117", newer: true, rotting: true, warning: longterm,
			releases: `[{"iseol":false,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.18.35","moniker":"longterm"}]`},
		{name: "both", built: "6.12.118", rotting: true, warning: both,
			releases: `[{"iseol":true,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.18.35","moniker":"longterm"},{"iseol":false,"version":"6.13.2","moniker":"longterm"}]`},
		{name: "malformed entries say nothing", built: "6.12.118",
			releases: `[{"iseol":false,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.18-rc1","moniker":"longterm"},{"iseol":true,"version":"next-20261120","moniker":"linux-next"},{"iseol":true,"version":"6.12.0119","moniker":"longterm"},{"iseol":false,"version":"6.18.9\n","moniker":"longterm"},{"iseol":false,"version":"6.18.35","moniker":"longterm\u0000"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			korg := t.TempDir()
			if err := os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":`+tc.releases+`}`), 0o644); err != nil {
				t.Fatal(err)
			}
			l := line(t, korg, map[string]string{"frag.config": "", "series": ""})
			work := t.TempDir()
			if tc.built != "" {
				builtIn(t, work, tc.built)
			}
			res, err := Check(context.Background(), l, Options{WorkDir: work})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res.Print(&out)
			warnings := 0
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "warning") || strings.HasPrefix(line, "end of life") {
					warnings++
				}
			}
			if res.Upstream.String() != "6.12.118" || res.Newer != tc.newer || res.Rotting() != tc.rotting || res.LifecycleUnknown != "" ||
				tc.warning == "" && warnings != 0 || tc.warning != "" && (warnings != 1 || !strings.Contains(out.String(), tc.warning+"\n")) {
				t.Errorf("check = upstream %s, newer %v, rotting %v, unknown %q, printing:\n%s\nwant 6.12.118, newer %v, rotting %v, and the warning %q", res.Upstream, res.Newer, res.Rotting(), res.LifecycleUnknown, out.String(), tc.newer, tc.rotting, tc.warning)
			}
		})
	}
}

// TestCheckSaysOnceWhenEndOfLifeCannotBeKnown: with resolve: tags (tags say nothing of a
// series' end or of longterm) or a pinned release (no releases.json read), check says once that
// it cannot tell, and does not call the line rotting.
func TestCheckSaysOnceWhenEndOfLifeCannotBeKnown(t *testing.T) {
	korg := upstreamFixture(t)
	// A releases.json that would warn, were it read.
	if err := os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":true,"version":"6.12.118","moniker":"longterm"},{"iseol":false,"version":"6.18.35","moniker":"longterm"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, extra, say string }{
		{"tags", ", resolve: tags", "end of life: unknown (resolve: tags, and tags do not say when kernel.org ends a series or which is longterm)\n"},
		{"pinned", `, pin: "6.12.118"`, "end of life: unknown (the release is pinned (upstream.pin or --release), so releases.json was not read)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lineWith(t, korg, tc.extra, map[string]string{"frag.config": "", "series": ""})
			work := t.TempDir()
			res, err := Check(context.Background(), l, Options{WorkDir: work, CacheDir: filepath.Join(work, "cache")})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res.Print(&out)
			if res.Rotting() || strings.Count(out.String(), "end of life") != 1 || !strings.Contains(out.String(), tc.say) || strings.Contains(out.String(), "warning") {
				t.Errorf("check (rotting %v) printed:\n%s\nwant, once: %q", res.Rotting(), out.String(), tc.say)
			}
		})
	}
}
