package publish

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// GitHub publishes a Release to a repository: it creates the release for the tag or updates the
// one there (never a second), and brings its assets to exactly ours: an asset already there with
// our bytes is kept, one with other bytes is replaced only when ReplaceAssets is set, a broken
// upload (an asset not in the "uploaded" state) is deleted, and every upload is downloaded back
// and its SHA-256 checked. Each call is retried on 5xx, on connection failures and on rate
// limits (waiting as Retry-After or X-RateLimit-Reset says), so running it again after a failure
// at any point ends in the state one clean run gives.
type GitHub struct {
	Client        *github.Client
	Owner, Repo   string
	ReplaceAssets bool
	Out           io.Writer // one line per write made or, with the dry-run twin, that would be made
	// Writes makes the writes; nil: GitHub's API. DryRunWrites(g) prints them instead.
	Writes      ReleaseWrites
	MaxAttempts int // per call; default 6
	PageSize    int // assets listed per page; default 100, GitHub's most
	MaxWait     time.Duration
	// Clock is what the retries read and wait on; nil is the real one. Tests give one they
	// control, which records the waits asked for and returns at once.
	Clock Clock
}

// Clock is the time the retries wait on.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the machine's clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d, or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewClient is a go-github client for token, against github.com or, with apiURL (and uploadURL,
// by default beside it), a GitHub Enterprise server.
func NewClient(token, apiURL, uploadURL string) (*github.Client, error) {
	c := github.NewClient(&http.Client{Timeout: 10 * time.Minute}).WithAuthToken(token)
	if apiURL == "" {
		return c, nil
	}
	if uploadURL == "" {
		// GitHub Enterprise serves uploads beside the API: <host>/api/uploads/ for <host>/api/v3/.
		uploadURL = strings.TrimSuffix(strings.TrimSuffix(apiURL, "/"), "/api/v3") + "/"
	}
	return c.WithEnterpriseURLs(apiURL, uploadURL)
}

// Publish makes the release match rel, with body as its notes. What to write is decided here for
// a real run and a dry run alike; g.Writes makes (or, as the dry-run twin, prints) the writes.
func (g *GitHub) Publish(ctx context.Context, rel *Release, body string) (*github.RepositoryRelease, error) {
	if g.Out == nil {
		g.Out = io.Discard
	}
	w := g.writes()
	existing, err := g.releaseByTag(ctx, rel.Tag)
	if err != nil {
		return nil, err
	}
	want := &github.RepositoryRelease{TagName: github.String(rel.Tag), Name: github.String(rel.Title), Body: github.String(body)}
	var got *github.RepositoryRelease
	switch {
	case existing == nil:
		if got, err = w.CreateRelease(ctx, want); err != nil {
			return nil, err
		}
		// A release made just now has no assets yet: there is nothing to list.
		return got, g.syncAssets(ctx, got, nil, rel.Assets)
	case existing.GetName() != rel.Title || existing.GetBody() != body:
		if got, err = w.EditRelease(ctx, existing, want); err != nil {
			return nil, err
		}
	default:
		got = existing
		fmt.Fprintf(g.Out, "kept     release %s (id %d): up to date\n", rel.Tag, got.GetID())
	}
	there, err := g.listAssets(ctx, existing.GetID())
	if err != nil {
		return got, err
	}
	return got, g.syncAssets(ctx, got, there, rel.Assets)
}

// releaseByTag is the release for tag, or nil when there is none.
func (g *GitHub) releaseByTag(ctx context.Context, tag string) (*github.RepositoryRelease, error) {
	var existing *github.RepositoryRelease
	err := g.call(ctx, "GET release "+tag, func() (*github.Response, error) {
		r, resp, err := g.Client.Repositories.GetReleaseByTag(ctx, g.Owner, g.Repo, tag)
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return resp, nil
		}
		existing = r
		return resp, err
	})
	return existing, err
}

// syncAssets brings the release's assets (listed: those there now) to ours.
func (g *GitHub) syncAssets(ctx context.Context, release *github.RepositoryRelease, listed []*github.ReleaseAsset, assets []Asset) error {
	w := g.writes()
	there := map[string]*github.ReleaseAsset{}
	for _, a := range listed {
		there[a.GetName()] = a
	}
	var conflicts []string
	for _, a := range assets {
		old := there[a.Name]
		if old != nil && old.GetState() == "uploaded" {
			sum, err := g.downloadSum(ctx, old.GetID())
			if err != nil {
				return err
			}
			if sum == a.SHA256 {
				fmt.Fprintf(g.Out, "kept     %-40s sha256 matches\n", a.Name)
				continue
			}
			if !g.ReplaceAssets {
				conflicts = append(conflicts, fmt.Sprintf("%s (there: sha256 %s, ours: %s)", a.Name, sum, a.SHA256))
				continue
			}
		}
		if old != nil {
			why := "a broken upload (state " + old.GetState() + ")"
			if old.GetState() == "uploaded" {
				why = "other bytes, --replace-assets"
			}
			if err := w.DeleteAsset(ctx, old, why); err != nil {
				return err
			}
		}
		if err := w.UploadAsset(ctx, release, a); err != nil {
			return err
		}
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("the release already has assets with other contents; rerun with --replace-assets to replace them:\n  %s", strings.Join(conflicts, "\n  "))
	}
	return nil
}

// listAssets lists every asset of the release, page after page (Link: rel="next").
func (g *GitHub) listAssets(ctx context.Context, id int64) ([]*github.ReleaseAsset, error) {
	var all []*github.ReleaseAsset
	opts := &github.ListOptions{PerPage: 100}
	if g.PageSize > 0 {
		opts.PerPage = g.PageSize
	}
	for {
		var page []*github.ReleaseAsset
		var next int
		err := g.call(ctx, "list assets", func() (*github.Response, error) {
			p, resp, err := g.Client.Repositories.ListReleaseAssets(ctx, g.Owner, g.Repo, id, opts)
			page = p
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == 0 {
			return all, nil
		}
		opts.Page = next
	}
}

// upload uploads one asset, then downloads it back and checks its hash.
func (g *GitHub) upload(ctx context.Context, id int64, a Asset) error {
	var up *github.ReleaseAsset
	err := g.call(ctx, "upload "+a.Name, func() (*github.Response, error) {
		f, err := os.Open(a.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, resp, err := g.Client.Repositories.UploadReleaseAsset(ctx, g.Owner, g.Repo, id, &github.UploadOptions{Name: a.Name}, f)
		if isAlreadyExists(err) {
			// An attempt whose answer was lost, or one that broke off: find it and judge it.
			if fixed, ferr := g.resolveConflict(ctx, id, a); ferr != nil || fixed != nil {
				up = fixed
				return resp, ferr
			}
		}
		up = r
		return resp, err
	})
	if err != nil {
		return err
	}
	sum, err := g.downloadSum(ctx, up.GetID())
	if err != nil {
		return err
	}
	if sum != a.SHA256 {
		return fmt.Errorf("%s: uploaded, but GitHub serves sha256 %s, not %s", a.Name, sum, a.SHA256)
	}
	fmt.Fprintf(g.Out, "uploaded %-40s %10d bytes, read back, sha256 matches\n", a.Name, a.Size)
	return nil
}

// resolveConflict handles "already exists" on upload: our own bytes there already (a lost
// answer) is success; a broken upload is deleted so the next attempt can upload.
func (g *GitHub) resolveConflict(ctx context.Context, id int64, a Asset) (*github.ReleaseAsset, error) {
	// Every page: the asset refused may be anywhere in a release with more assets than a page.
	assets, err := g.listAssets(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, old := range assets {
		if old.GetName() != a.Name {
			continue
		}
		if old.GetState() == "uploaded" {
			if sum, err := g.downloadSum(ctx, old.GetID()); err == nil && sum == a.SHA256 {
				return old, nil
			}
		}
		if _, err := g.Client.Repositories.DeleteReleaseAsset(ctx, g.Owner, g.Repo, old.GetID()); err != nil {
			return nil, err
		}
	}
	return nil, errRetry
}

var errRetry = errors.New("retry")

// downloadSum downloads an asset and returns its SHA-256.
func (g *GitHub) downloadSum(ctx context.Context, id int64) (string, error) {
	var sum string
	err := g.call(ctx, fmt.Sprintf("download asset %d", id), func() (*github.Response, error) {
		rc, _, err := g.Client.Repositories.DownloadReleaseAsset(ctx, g.Owner, g.Repo, id, http.DefaultClient)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			return nil, err
		}
		sum = fmt.Sprintf("%x", h.Sum(nil))
		return nil, nil
	})
	return sum, err
}

func isAlreadyExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	for _, e := range er.Errors {
		if e.Code == "already_exists" {
			return true
		}
	}
	return false
}

// call runs fn until it succeeds, it fails in a way a retry cannot fix, or attempts run out.
func (g *GitHub) call(ctx context.Context, what string, fn func() (*github.Response, error)) error {
	attempts := g.MaxAttempts
	if attempts <= 0 {
		attempts = 6
	}
	maxWait := g.MaxWait
	if maxWait <= 0 {
		maxWait = 10 * time.Minute
	}
	clock := g.Clock
	if clock == nil {
		clock = RealClock{}
	}
	for attempt := 1; ; attempt++ {
		resp, err := fn()
		if err == nil {
			return nil
		}
		wait, why, ok := retryable(resp, err, attempt, clock.Now())
		if !ok || attempt >= attempts || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait = min(wait, maxWait)
		fmt.Fprintf(g.Out, "retry    %s in %s: %s\n", what, wait.Round(time.Millisecond), why)
		if err := clock.Sleep(ctx, wait); err != nil {
			return err
		}
		g.Client = forgetRateLimits(g.Client)
	}
}

// forgetRateLimits is the client without go-github's memory of rate limits, which refuses calls
// until a reset on the machine's clock: the retry loop has just waited as GitHub asked, on
// g.Clock, and is the one place that decides when to call again.
func forgetRateLimits(c *github.Client) *github.Client {
	fresh := github.NewClient(c.Client())
	fresh.BaseURL, fresh.UploadURL, fresh.UserAgent = c.BaseURL, c.UploadURL, c.UserAgent
	return fresh
}

// retryable says whether a failed call is worth repeating, and after how long.
func retryable(resp *github.Response, err error, attempt int, now time.Time) (time.Duration, string, bool) {
	backoff := time.Duration(math.Pow(2, float64(attempt-1))) * time.Second
	var abuse *github.AbuseRateLimitError
	var rate *github.RateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.Is(err, errRetry):
		return 0, "removed a broken upload", true
	case errors.As(err, &abuse):
		if abuse.RetryAfter != nil {
			return *abuse.RetryAfter, "secondary rate limit (Retry-After)", true
		}
		return time.Minute, "secondary rate limit", true
	case errors.As(err, &rate):
		return rate.Rate.Reset.Time.Sub(now) + time.Second, "rate limit exhausted until X-RateLimit-Reset", true
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		if code == http.StatusTooManyRequests {
			if ra := er.Response.Header.Get("Retry-After"); ra != "" {
				if s, perr := time.ParseDuration(ra + "s"); perr == nil {
					return s, "429 (Retry-After)", true
				}
			}
			return backoff, "429", true
		}
		if code >= 500 {
			return backoff, fmt.Sprintf("GitHub answered %d", code), true
		}
		return 0, "", false
	case resp != nil && resp.StatusCode >= 500:
		return backoff, fmt.Sprintf("GitHub answered %d", resp.StatusCode), true
	}
	// No HTTP answer at all: a reset connection, a timeout, a broken body.
	var he interface{ Timeout() bool }
	if errors.As(err, &he) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "EOF") {
		return backoff, "connection failed: " + err.Error(), true
	}
	return 0, "", false
}
