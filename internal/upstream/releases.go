// Package upstream finds the release to build on kernel.org, fetches it into a persistent go-git
// mirror, verifies its signed tag, and exports its tree as a source tree.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/version"
)

// ReleasesFile is kernel.org's releases.json.
type ReleasesFile struct {
	LatestStable struct {
		Version string `json:"version"`
	} `json:"latest_stable"`
	Releases []ReleaseEntry `json:"releases"`
}

// ReleaseEntry is one release in releases.json.
type ReleaseEntry struct {
	IsEOL    bool    `json:"iseol"`
	Version  string  `json:"version"`
	Moniker  string  `json:"moniker"` // mainline, stable, longterm, linux-next
	Source   *string `json:"source"`
	PGP      *string `json:"pgp"`
	Released struct {
		Timestamp int64  `json:"timestamp"`
		ISODate   string `json:"isodate"`
	} `json:"released"`
}

// ErrNoRelease means releases.json lists nothing usable for the series.
var ErrNoRelease = errors.New("no release of the series")

// ParseReleases decodes releases.json, refusing a document without a releases list.
func ParseReleases(data []byte) (*ReleasesFile, error) {
	var f ReleasesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("releases.json: %w", err)
	}
	if f.Releases == nil {
		return nil, errors.New(`releases.json: no "releases" list`)
	}
	return &f, nil
}

// Latest is the newest release of the series that is not end-of-life. Versions that are not
// X.Y.Z (linux-next's "next-YYYYMMDD", mainline's "-rcN") are never part of a stable series.
func (f *ReleasesFile) Latest(series version.Series) (version.Release, ReleaseEntry, error) {
	var best version.Release
	var bestEntry ReleaseEntry
	found := false
	for _, e := range f.Releases {
		r, err := version.ParseRelease(e.Version)
		if err != nil || e.IsEOL || !series.Contains(r) || e.Moniker == "linux-next" {
			continue
		}
		if !found || r.Compare(best) > 0 {
			best, bestEntry, found = r, e, true
		}
	}
	if !found {
		return version.Release{}, ReleaseEntry{}, fmt.Errorf("releases.json: %w %s (it lists %s)", ErrNoRelease, series, f.versions())
	}
	return best, bestEntry, nil
}

func (f *ReleasesFile) versions() string {
	var vs []string
	for _, e := range f.Releases {
		v := e.Version
		if e.IsEOL {
			v += " (EOL)"
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return "nothing"
	}
	return strings.Join(vs, ", ")
}

// Get reads a URL: http(s):// or file://, or a plain local path.
func Get(ctx context.Context, url string) ([]byte, error) {
	if !strings.Contains(url, "://") {
		url = "file://" + url
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	tr.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// Resolve fetches releases.json and picks the release to build: pin if set, else the newest of
// the series.
func Resolve(ctx context.Context, releasesURL string, series version.Series, pin string) (version.Release, error) {
	if pin != "" {
		return version.ParseRelease(pin)
	}
	data, err := Get(ctx, releasesURL)
	if err != nil {
		return version.Release{}, err
	}
	f, err := ParseReleases(data)
	if err != nil {
		return version.Release{}, fmt.Errorf("%s: %w", releasesURL, err)
	}
	r, _, err := f.Latest(series)
	if err != nil {
		return version.Release{}, fmt.Errorf("%s: %w", releasesURL, err)
	}
	return r, nil
}
