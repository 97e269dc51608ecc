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
	"reflect"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/storage/memory"

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

// ErrNoRelease means the source lists nothing usable for the track.
var ErrNoRelease = errors.New("no release")

// ParseReleases decodes releases.json, refusing a document without a releases list.
func ParseReleases(data []byte) (*ReleasesFile, error) {
	var f ReleasesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("releases.json: %s", jsonProblem(err))
	}
	if f.Releases == nil {
		return nil, errors.New(`releases.json: no "releases" list`)
	}
	return &f, nil
}

// jsonProblem says what is wrong with a releases.json in the document's own terms: where the
// syntax breaks, or which key holds what kind of value where kernel.org's format has another.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not JSON: %v at byte %d", err, syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf("is %s, expected an object with latest_stable and releases (kernel.org's format)", jsonKind(typ.Value))
	case errors.As(err, &typ):
		return fmt.Sprintf("%s is %s, expected %s (at byte %d)", typ.Field, jsonKind(typ.Value), goKinds[typ.Type.Kind()], typ.Offset)
	}
	return err.Error()
}

// goKinds names what a field of each Go kind takes in the document.
var goKinds = map[reflect.Kind]string{reflect.Struct: "an object", reflect.Slice: "a list", reflect.String: "a string", reflect.Bool: "true or false", reflect.Int64: "a number", reflect.Pointer: "a string or null"}

var jsonKinds = map[string]string{"array": "a list", "object": "an object", "string": "a string", "number": "a number", "bool": "a boolean"}

// jsonKind names a value as encoding/json's UnmarshalTypeError.Value describes it ("array",
// "number", "number 1e999").
func jsonKind(value string) string {
	if k, ok := jsonKinds[value]; ok {
		return k
	}
	return value
}

// Latest is the newest release of the series the track names, or the newest that is not
// end-of-life with the moniker it names. A series' release marked end-of-life is still its
// newest (kernel.org marks a series' final release so): the line builds it, and check says the
// series has ended (see Lifecycle); a moniker moves on to a live series instead. Versions that are
// not X.Y.Z (linux-next's "next-YYYYMMDD", mainline's "-rcN") are never stable releases.
func (f *ReleasesFile) Latest(track version.Track) (version.Release, ReleaseEntry, error) {
	var best version.Release
	var bestEntry ReleaseEntry
	found := false
	for _, e := range f.Releases {
		r, err := version.ParseRelease(e.Version)
		if err != nil || e.IsEOL && track.Moniker != "" || e.Moniker == "linux-next" {
			continue
		}
		if track.Moniker != "" && e.Moniker != track.Moniker || track.Moniker == "" && !track.Series.Contains(r) {
			continue
		}
		if !found || r.Compare(best) > 0 {
			best, bestEntry, found = r, e, true
		}
	}
	if !found {
		what := "of the series " + track.String()
		if track.Moniker != "" {
			what = "marked " + track.Moniker
		}
		return version.Release{}, ReleaseEntry{}, fmt.Errorf("releases.json: %w %s (it lists %s)", ErrNoRelease, what, f.versions())
	}
	return best, bestEntry, nil
}

// Lifecycle is what releases.json says of a series' future: whether kernel.org has ended it,
// and which newer longterm series a line following it could move to.
type Lifecycle struct {
	Series version.Series
	// EOL: the series' newest release in releases.json is marked end-of-life (iseol). A series
	// kernel.org no longer lists at all is not EOL here: Latest finds no release of it instead.
	EOL bool
	// Longterm is the newest release of the newest longterm series newer than Series that is not
	// end-of-life; nil when there is none.
	Longterm *version.Release
}

// Rotting says the line following the series should move: the series has ended, or a newer
// longterm series exists.
func (l Lifecycle) Rotting() bool { return l.EOL || l.Longterm != nil }

// Lifecycle reads the series' lifecycle from the list. Entries whose version is not a release
// (X.Y or X.Y.Z) say nothing about any series and are passed over, as Latest does; linux-next is
// never a series' release.
func (f *ReleasesFile) Lifecycle(series version.Series) Lifecycle {
	lc := Lifecycle{Series: series}
	var newest version.Release
	found := false
	for _, e := range f.Releases {
		r, err := version.ParseRelease(e.Version)
		if err != nil || e.Moniker == "linux-next" {
			continue
		}
		switch {
		case !series.Contains(r):
		case !found || r.Compare(newest) > 0:
			newest, lc.EOL, found = r, e.IsEOL, true
		case r.Compare(newest) == 0:
			lc.EOL = lc.EOL || e.IsEOL // listed twice: one entry saying it ended is enough to warn
		}
		if e.Moniker == "longterm" && !e.IsEOL && newerSeries(r.Series(), series) && (lc.Longterm == nil || r.Compare(*lc.Longterm) > 0) {
			lc.Longterm = &r
		}
	}
	return lc
}

// newerSeries reports whether a comes after b (6.18 after 6.12, 7.0 after 6.18).
func newerSeries(a, b version.Series) bool {
	return a.Major > b.Major || a.Major == b.Major && a.Minor > b.Minor
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

// Open streams a URL: http(s):// or file://, or a plain local path.
func Open(ctx context.Context, url string) (io.ReadCloser, error) {
	if !strings.Contains(url, "://") {
		url = "file://" + url
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 60 * time.Second}
	tr.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// Get reads a small document (releases.json, a signature) whole.
func Get(ctx context.Context, url string) ([]byte, error) {
	body, err := Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(io.LimitReader(body, 64<<20))
}

// Source says where releases are listed.
type Source struct {
	Kind        string // "releases" (kernel.org's releases.json, the default) or "tags" (the repository's)
	ReleasesURL string
	GitURL      string
	// Trust, with Kind "tags", is whom the chosen tag must be signed by: the newest tag of the
	// series whose tag object verifies is chosen, as fetch would decide. nil: allow_unsigned.
	Trust *Trust
}

// Resolved is the release Resolve picked, and the newer tags it refused on the way.
type Resolved struct {
	Release version.Release
	Refused []error // each wraps ErrUntrusted and names its tag
	// Lifecycle is releases.json's word on the followed series; nil when none was read (a pin,
	// resolve: tags) or the line follows a moniker, which moves on by itself.
	Lifecycle *Lifecycle
}

// maxCandidates bounds the tags read when the newest do not verify: each costs a session with
// upstream, and a keyring that trusts none of a series' tags is better said soon.
const maxCandidates = 8

// Resolve picks the release to build: pin if set, else the newest the source lists for the
// track. With tags, the newest tag is taken only once its tag object verifies (see Source.Trust):
// check and plan must not promise a release that fetch will refuse, and one bad tag on top must
// not stop every run when a good one is under it.
func Resolve(ctx context.Context, src Source, track version.Track, pin string) (Resolved, error) {
	if pin != "" {
		r, err := version.ParseRelease(pin)
		return Resolved{Release: r}, err
	}
	if src.Kind == "tags" {
		if track.Moniker != "" {
			return Resolved{}, fmt.Errorf("following %q needs releases.json: tags do not say which release is %s", track.Moniker, track.Moniker)
		}
		return newestTrustedTag(ctx, src, track.Series)
	}
	data, err := Get(ctx, src.ReleasesURL)
	if err != nil {
		return Resolved{}, err
	}
	f, err := ParseReleases(data)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s: %w", src.ReleasesURL, err)
	}
	r, _, err := f.Latest(track)
	if err != nil {
		return Resolved{}, fmt.Errorf("%s: %w", src.ReleasesURL, err)
	}
	res := Resolved{Release: r}
	if track.Moniker == "" {
		lc := f.Lifecycle(track.Series)
		res.Lifecycle = &lc
	}
	return res, nil
}

// newestTrustedTag is the newest release tag of the series whose tag object verifies: a
// lightweight tag is refused from the ls-remote (no peeled line), an annotated one from its tag
// object alone (ReadRemoteTag), newest first.
func newestTrustedTag(ctx context.Context, src Source, series version.Series) (Resolved, error) {
	tags, err := listTags(ctx, src.GitURL)
	if err != nil {
		return Resolved{}, err
	}
	releases := make([]version.Release, len(tags))
	for i, t := range tags {
		releases[i] = t.release
	}
	var candidates []remoteRelease
	for _, t := range tags {
		if series.Contains(t.release) && t.release.Patch > 0 {
			candidates = append(candidates, t)
		}
	}
	if len(candidates) == 0 {
		_, err := LatestTag(releases, series, src.GitURL)
		return Resolved{}, err
	}
	slices.SortFunc(candidates, func(a, b remoteRelease) int { return b.release.Compare(a.release) })
	if src.Trust == nil {
		return Resolved{Release: candidates[0].release}, nil
	}
	var res Resolved
	for _, c := range candidates[:min(len(candidates), maxCandidates)] {
		tag := c.release.Tag()
		if !c.annotated {
			res.Refused = append(res.Refused, fmt.Errorf("%w: %s is a lightweight tag (no peeled %s^{} line in the ls-remote)", ErrUntrusted, tag, tag))
			continue
		}
		rt, err := ReadRemoteTag(ctx, src.GitURL, tag)
		if err != nil {
			return Resolved{}, err
		}
		if _, err := VerifyTagObject(rt.Tag, tag, *src.Trust); err != nil {
			res.Refused = append(res.Refused, err)
			continue
		}
		res.Release = c.release
		return res, nil
	}
	why := make([]string, len(res.Refused))
	for i, e := range res.Refused {
		why[i] = e.Error()
	}
	return Resolved{}, fmt.Errorf("%w: none of the newest %d tags of %s in %s verifies against %s: %s; add the signer's key to the keyring if it is trusted, or pin a release",
		ErrUntrusted, len(res.Refused), series, src.GitURL, src.Trust.Keyring, strings.Join(why, "; "))
}

// ListTags lists the release tags (vX.Y and vX.Y.Z) of a remote repository, as git ls-remote
// would, without fetching anything.
func ListTags(ctx context.Context, url string) ([]version.Release, error) {
	tags, err := listTags(ctx, url)
	if err != nil {
		return nil, err
	}
	out := make([]version.Release, len(tags))
	for i, t := range tags {
		out[i] = t.release
	}
	return out, nil
}

// remoteRelease is a release tag as upstream's ls-remote advertises it.
type remoteRelease struct {
	release   version.Release
	annotated bool // advertised with a peeled ^{} line
}

func listTags(ctx context.Context, url string) ([]remoteRelease, error) {
	remote := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{PeelingOption: git.AppendPeeled})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", url, err)
	}
	peeled := map[string]bool{}
	for _, ref := range refs {
		if name, ok := strings.CutSuffix(ref.Name().String(), peeledSuffix); ok {
			peeled[name] = true
		}
	}
	var out []remoteRelease
	for _, ref := range refs {
		name, ok := strings.CutPrefix(ref.Name().String(), "refs/tags/")
		if !ok || strings.HasSuffix(name, peeledSuffix) {
			continue
		}
		if r, err := version.ParseRelease(name); err == nil && strings.HasPrefix(name, "v") {
			out = append(out, remoteRelease{release: r, annotated: peeled[ref.Name().String()]})
		}
	}
	return out, nil
}

// LatestTag is the highest release of the series among tags, compared numerically.
func LatestTag(tags []version.Release, series version.Series, url string) (version.Release, error) {
	var best version.Release
	found := false
	for _, r := range tags {
		if series.Contains(r) && r.Patch > 0 && (!found || r.Compare(best) > 0) {
			best, found = r, true
		}
	}
	if !found {
		return version.Release{}, fmt.Errorf("%s: %w of the series %s among its %d release tags", url, ErrNoRelease, series, len(tags))
	}
	return best, nil
}
