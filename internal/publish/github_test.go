package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/githubfake"
)

const token = "ghp_secretTOKEN0123456789abcdefABCDEF"

// fixture is a release with a few assets on disk, and a publisher pointed at a fake GitHub.
func fixture(t *testing.T) (*githubfake.Server, *GitHub, *Release, *bytes.Buffer, *testClock) {
	t.Helper()
	srv := githubfake.New(token)
	t.Cleanup(srv.Close)
	client, err := NewClient(token, srv.URL+"/api/v3/", srv.URL+"/api/uploads/")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	clock := &testClock{now: time.Unix(time.Now().Unix(), 0)}
	g := &GitHub{Client: client, Owner: "wslkernel", Repo: "WSL2-Linux-Kernel", Out: &out, Clock: clock}
	dir := t.TempDir()
	rel := &Release{Tag: "linux-msft-wsl-6.12.118.1", Title: "WSL2-Linux-Kernel 6.12.118.1"}
	for i, name := range []string{"config-wsl", "config-wsl-arm64", "wsl-kernel-6.12.118.1-x64.cab", "SHA256SUMS", "manifest.json"} {
		addAsset(t, rel, filepath.Join(dir, name), bytes.Repeat([]byte(fmt.Sprintf("%s %d\n", name, i)), 300*(i+1)))
	}
	return srv, g, rel, &out, clock
}

// testClock is the retries' clock in tests: Sleep records the wait asked for and moves the time
// on at once, so no test waits real seconds.
type testClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *testClock) Now() time.Time { return c.now }

func (c *testClock) Sleep(_ context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return nil
}

// addAsset writes data to path and adds it to the release.
func addAsset(t *testing.T, rel *Release, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rel.Assets = append(rel.Assets, Asset{Name: filepath.Base(path), Path: path, Size: int64(len(data)), SHA256: fmt.Sprintf("%x", sha256.Sum256(data))})
}

// checkFinal: exactly one release for the tag, each asset once, uploaded, with our bytes.
func checkFinal(t *testing.T, srv *githubfake.Server, rel *Release) {
	t.Helper()
	rels := srv.Releases("wslkernel/WSL2-Linux-Kernel")
	if len(rels) != 1 || rels[0].TagName != rel.Tag {
		t.Fatalf("releases: %+v", rels)
	}
	if len(rels[0].Assets) != len(rel.Assets) {
		t.Errorf("assets %v, want %d", rels[0].Names(), len(rel.Assets))
	}
	for _, want := range rel.Assets {
		n := 0
		for _, a := range rels[0].Assets {
			if a.Name == want.Name {
				n++
				if a.State != "uploaded" || fmt.Sprintf("%x", sha256.Sum256(a.Data)) != want.SHA256 {
					t.Errorf("%s: state %s, sha256 %x", a.Name, a.State, sha256.Sum256(a.Data))
				}
			}
		}
		if n != 1 {
			t.Errorf("%s is there %d times", want.Name, n)
		}
	}
}

func writes(srv *githubfake.Server) []string {
	var w []string
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r, "GET ") {
			w = append(w, r)
		}
	}
	return w
}

func TestPublishThenAgainChangesNothing(t *testing.T) {
	srv, g, rel, out, _ := fixture(t)
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil {
		t.Fatalf("Publish: %v\n%s", err, out)
	}
	checkFinal(t, srv, rel)
	before := len(writes(srv))
	out.Reset()
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil {
		t.Fatal(err)
	}
	if w := writes(srv); len(w) != before {
		t.Errorf("the second run wrote: %v", w[before:])
	}
	if !strings.Contains(out.String(), "kept     release linux-msft-wsl-6.12.118.1") || strings.Count(out.String(), "sha256 matches") != len(rel.Assets) {
		t.Errorf("second run:\n%s", out)
	}
	// New notes update the release in place.
	if _, err := g.Publish(context.Background(), rel, "better notes"); err != nil || srv.Releases("wslkernel/WSL2-Linux-Kernel")[0].Body != "better notes" {
		t.Errorf("notes not updated: %v", err)
	}
	checkFinal(t, srv, rel)
}

func TestChangedAssetNeedsReplaceAssets(t *testing.T) {
	srv, g, rel, out, _ := fixture(t)
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rel.Assets[0].Path, []byte("CONFIG_NEW=y\n"), 0o644)
	rel.Assets[0].Size, rel.Assets[0].SHA256 = 13, fmt.Sprintf("%x", sha256.Sum256([]byte("CONFIG_NEW=y\n")))
	_, err := g.Publish(context.Background(), rel, "notes")
	if err == nil || !strings.Contains(err.Error(), "rerun with --replace-assets") || !strings.Contains(err.Error(), "config-wsl (there: sha256") {
		t.Fatalf("Publish with a changed asset = %v", err)
	}
	g.ReplaceAssets = true
	out.Reset()
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "deleted  config-wsl") || !strings.Contains(out.String(), "uploaded config-wsl ") {
		t.Errorf("replace:\n%s", out)
	}
	checkFinal(t, srv, rel)
}

// Faults GitHub really produces, each followed by a rerun where needed: the end state is always
// the one a clean run gives.
func TestFaultsEndInTheCleanState(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults []*githubfake.Fault
		waits  string // the waits the publisher chose, as a substring
		rerun  bool   // the first run fails (a crash); a second one finishes
		limit  int    // MaxAttempts for the first run
	}{
		{name: "500 on create", faults: []*githubfake.Fault{{Method: "POST", PathContains: "/releases", Times: 1, Status: 500}}, waits: "[1s]"},
		{name: "502 on an asset listing", faults: []*githubfake.Fault{{Method: "GET", PathContains: "/assets", Times: 2, Status: 502}}, waits: "[1s 2s]"},
		{name: "reset mid-upload", faults: []*githubfake.Fault{{Method: "POST", PathContains: "/api/uploads/", Times: 1, Reset: true}}, waits: "[1s"},
		{name: "secondary rate limit", faults: []*githubfake.Fault{githubfake.SecondaryRateLimit("POST", "/api/uploads/", 1)}, waits: "[1s]"},
		{name: "429 with Retry-After", faults: []*githubfake.Fault{{Method: "POST", PathContains: "/releases", Times: 1, Status: 429, Header: map[string]string{"Retry-After": "3"}}}, waits: "[3s]"},
		{name: "crash between creation and upload", faults: []*githubfake.Fault{{Method: "POST", PathContains: "/api/uploads/", Times: 1, Status: 503}}, rerun: true, limit: 1},
		{name: "crash mid-upload", faults: []*githubfake.Fault{{Method: "POST", PathContains: "/api/uploads/", Times: 1, Reset: true}}, rerun: true, limit: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, g, rel, out, clock := fixture(t)
			for _, f := range c.faults {
				srv.Inject(f)
			}
			g.MaxAttempts = c.limit
			_, err := g.Publish(context.Background(), rel, "notes")
			if c.rerun {
				if err == nil {
					t.Fatalf("the first run should have failed:\n%s", out)
				}
				g.MaxAttempts = 0
				_, err = g.Publish(context.Background(), rel, "notes")
			}
			if err != nil {
				t.Fatalf("Publish: %v\n%s", err, out)
			}
			if got := fmt.Sprint(clock.waits); !strings.Contains(got, c.waits) {
				t.Errorf("waits %s, want %s\n%s", got, c.waits, out)
			}
			checkFinal(t, srv, rel)
		})
	}
}

// The dry run writes nothing and prints every write; the real run that follows, on the same
// fake, makes exactly the writes printed: on a new release, and on one with changed notes, a
// changed asset (--replace-assets) and a broken upload.
func TestDryRunPrintsTheWritesARealRunMakes(t *testing.T) {
	srv, g, rel, out, _ := fixture(t)
	dryRunThenReal(t, srv, g, rel, out, "notes")
	srv.Inject(&githubfake.Fault{Method: "POST", PathContains: "/api/uploads/", Times: 1, Reset: true})
	addAsset(t, rel, filepath.Join(t.TempDir(), "broken-then-fixed"), []byte("late\n"))
	g.MaxAttempts = 1
	if _, err := g.Publish(context.Background(), rel, "notes"); err == nil {
		t.Fatalf("the upload should have broken off:\n%s", out)
	}
	g.MaxAttempts = 0
	g.ReplaceAssets = true
	os.WriteFile(rel.Assets[1].Path, []byte("changed\n"), 0o644)
	rel.Assets[1].Size, rel.Assets[1].SHA256 = 8, fmt.Sprintf("%x", sha256.Sum256([]byte("changed\n")))
	printed := dryRunThenReal(t, srv, g, rel, out, "new notes")
	for _, want := range []string{"PATCH /api/v3/repos/wslkernel/WSL2-Linux-Kernel/releases/", "DELETE /api/v3/repos/wslkernel/WSL2-Linux-Kernel/releases/assets/"} {
		if !strings.Contains(strings.Join(printed, "\n"), want) {
			t.Errorf("the dry run against an existing release lacks %q: %q", want, printed)
		}
	}
	if strings.Count(strings.Join(printed, "\n"), "DELETE") != 2 {
		t.Errorf("want two deletions (the changed asset, the broken upload): %q", printed)
	}
}

// dryRunThenReal publishes as a dry run, checks it wrote nothing, publishes for real and checks
// the writes made are the ones printed. It returns them.
func dryRunThenReal(t *testing.T, srv *githubfake.Server, g *GitHub, rel *Release, out *bytes.Buffer, notes string) []string {
	t.Helper()
	before := len(writes(srv))
	out.Reset()
	g.Writes = DryRunWrites(g)
	if _, err := g.Publish(context.Background(), rel, notes); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if w := writes(srv)[before:]; len(w) != 0 {
		t.Errorf("a dry run wrote: %v", w)
	}
	var printed []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "would" {
			printed = append(printed, f[1]+" "+f[2])
		}
	}
	g.Writes = nil
	if _, err := g.Publish(context.Background(), rel, notes); err != nil {
		t.Fatalf("real run: %v\n%s", err, out)
	}
	checkFinal(t, srv, rel)
	made := writes(srv)[before:]
	if len(made) == 0 || fmt.Sprint(normalize(made)) != fmt.Sprint(normalize(printed)) {
		t.Errorf("the dry run printed the writes\n  %s\nthe real run made\n  %s\n%s", strings.Join(printed, "\n  "), strings.Join(made, "\n  "), out)
	}
	return printed
}

var releaseID = regexp.MustCompile(`/releases/(\d+|\{release_id\})/assets$`)

// normalize stands {release_id} for the id of a release the dry run could not know.
func normalize(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, releaseID.ReplaceAllString(r, "/releases/{release_id}/assets"))
	}
	return out
}

// The token never shows: not in the output, not in errors, not with a bad token either.
func TestTheTokenNeverShows(t *testing.T) {
	srv, g, rel, out, _ := fixture(t)
	srv.Inject(&githubfake.Fault{Method: "POST", PathContains: "/api/uploads/", Times: 1, Status: 500, Body: `{"message":"boom"}`})
	_, err := g.Publish(context.Background(), rel, "notes")
	bad, _ := NewClient("ghp_wrongTOKENwrongTOKENwrongTOKEN00", srv.URL+"/api/v3/", srv.URL+"/api/uploads/")
	g2 := &GitHub{Client: bad, Owner: "wslkernel", Repo: "WSL2-Linux-Kernel", Out: out}
	_, err2 := g2.Publish(context.Background(), rel, "notes")
	if err2 == nil || !strings.Contains(err2.Error(), "401 Bad credentials") {
		t.Errorf("bad token: %v", err2)
	}
	all := out.String() + fmt.Sprint(err) + fmt.Sprint(err2)
	for _, secret := range []string{token, "ghp_wrongTOKEN"} {
		if strings.Contains(all, secret) {
			t.Errorf("the token shows:\n%s", all)
		}
	}
}

// The asset list is paged (Link: rel="next"); every page is read, so a rerun finds them all.
func TestAssetListingFollowsPages(t *testing.T) {
	srv, g, rel, out, _ := fixture(t)
	g.PageSize = 2
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil {
		t.Fatal(err)
	}
	before, first := len(writes(srv)), len(srv.Requests())
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil || len(writes(srv)) != before {
		t.Errorf("second run with 2 assets a page: %v, wrote %v\n%s", err, writes(srv)[before:], out)
	}
	pages := 0
	for _, r := range srv.Requests()[first:] {
		if strings.HasSuffix(r, "/assets") && strings.HasPrefix(r, "GET ") {
			pages++
		}
	}
	if pages != 3 { // 5 assets, 2 a page
		t.Errorf("the second run listed %d pages of assets, want 3", pages)
	}
}

// The primary rate limit: 403 with X-RateLimit-Remaining 0 waits until X-RateLimit-Reset.
func TestPrimaryRateLimitWaitsForTheReset(t *testing.T) {
	srv, g, rel, out, clock := fixture(t)
	reset := clock.Now().Add(5 * time.Second).Unix()
	srv.Inject(&githubfake.Fault{Method: "POST", PathContains: "/releases", Times: 1, Status: 403,
		Header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(reset)},
		Body:   `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`})
	if _, err := g.Publish(context.Background(), rel, "notes"); err != nil {
		t.Fatalf("Publish: %v\n%s", err, out)
	}
	// Until the reset, and a second more for clocks that differ.
	if got := fmt.Sprint(clock.waits); got != "[6s]" || !strings.Contains(out.String(), "rate limit exhausted until X-RateLimit-Reset") {
		t.Errorf("waits %s, want [6s]\n%s", got, out)
	}
	checkFinal(t, srv, rel)
}

// An Enterprise API URL alone, with or without its api/v3/, finds the uploads beside it.
func TestNewClientURLs(t *testing.T) {
	for _, c := range []struct{ api, upload, wantAPI, wantUpload string }{
		{"", "", "https://api.github.com/", "https://uploads.github.com/"},
		{"http://ghe.example/", "", "http://ghe.example/api/v3/", "http://ghe.example/api/uploads/"},
		{"http://ghe.example/api/v3/", "", "http://ghe.example/api/v3/", "http://ghe.example/api/uploads/"},
		{"http://ghe.example/api/v3", "", "http://ghe.example/api/v3/", "http://ghe.example/api/uploads/"},
		{"http://ghe.example/api/v3/", "http://up.example/", "http://ghe.example/api/v3/", "http://up.example/api/uploads/"},
	} {
		c2, err := NewClient(token, c.api, c.upload)
		if err != nil || c2.BaseURL.String() != c.wantAPI || c2.UploadURL.String() != c.wantUpload {
			t.Errorf("NewClient(%q, %q) = %v, %v, %v; want %s, %s", c.api, c.upload, c2.BaseURL, c2.UploadURL, err, c.wantAPI, c.wantUpload)
		}
	}
}
