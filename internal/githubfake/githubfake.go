// Package githubfake is a stateful stand-in for the parts of GitHub's REST API that kpublish uses,
// answering as GitHub does (status codes, error bodies, the upload_url template, Link
// pagination, rate-limit headers, assets left in the "starter" state by a broken upload), with
// faults to inject. It is served by httptest for tests and the demo; nothing else is faked.
package githubfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the fake GitHub. Its API base is URL+"/api/v3/" and its uploads URL+"/api/uploads/"
// (GitHub Enterprise's layout, which go-github's WithEnterpriseURLs expects).
type Server struct {
	*httptest.Server
	Token string // the only token accepted

	mu       sync.Mutex
	releases map[string][]*Release // by "owner/repo"
	nextID   int64
	faults   []*Fault
	requests []string // "METHOD path", in order
	remain   int
}

// Release is a release as the fake stores it.
type Release struct {
	ID              int64
	TagName, Name   string
	Body            string
	TargetCommitish string
	Draft           bool
	Prerelease      bool
	Assets          []*Asset
}

// Asset is an uploaded file; State is "uploaded", or "starter" for an upload that broke off.
type Asset struct {
	ID          int64
	Name, Label string
	ContentType string
	State       string
	Data        []byte
}

// Fault makes matching requests fail: Times times (0: always), with Status, extra headers and a
// body, or (Reset) by closing the connection after reading part of the request.
type Fault struct {
	Method       string // "" matches any
	PathContains string
	Times        int
	Status       int
	Header       map[string]string
	Body         string
	Reset        bool
	hits         int
}

// New starts a fake GitHub that accepts token.
func New(token string) *Server {
	s := &Server{Token: token, releases: map[string][]*Release{}, nextID: 1000, remain: 5000}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Inject adds a fault.
func (s *Server) Inject(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Requests lists the requests served so far, "METHOD path".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Releases returns a copy of the repository's releases.
func (s *Server) Releases(repo string) []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Release
	for _, r := range s.releases[repo] {
		c := *r
		c.Assets = nil
		for _, a := range r.Assets {
			ac := *a
			c.Assets = append(c.Assets, &ac)
		}
		out = append(out, c)
	}
	return out
}

var (
	reTag       = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/releases/tags/(.+)$`)
	reReleases  = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/releases$`)
	reRelease   = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/releases/(\d+)$`)
	reAssets    = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/releases/(\d+)/assets$`)
	reAsset     = regexp.MustCompile(`^/api/v3/repos/([^/]+/[^/]+)/releases/assets/(\d+)$`)
	reUpload    = regexp.MustCompile(`^/api/uploads/repos/([^/]+/[^/]+)/releases/(\d+)/assets$`)
	reDownload  = regexp.MustCompile(`^/download/(\d+)$`)
	docsURL     = "https://docs.github.com/rest"
	secondaryRL = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	fault := s.fault(r)
	s.remain--
	remain := s.remain
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remain, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if fault != nil {
		s.inject(w, r, fault)
		return
	}
	if m := reDownload.FindStringSubmatch(r.URL.Path); m != nil { // browser_download_url: no token needed (a public repo)
		s.download(w, m[1])
		return
	}
	if auth := r.Header.Get("Authorization"); auth != "Bearer "+s.Token && auth != "token "+s.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": docsURL})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == "GET" && reTag.MatchString(p):
		m := reTag.FindStringSubmatch(p)
		for _, rel := range s.releases[m[1]] {
			if rel.TagName == m[2] {
				writeJSON(w, 200, s.releaseJSON(r, m[1], rel))
				return
			}
		}
		notFound(w)
	case r.Method == "POST" && reReleases.MatchString(p):
		repo := reReleases.FindStringSubmatch(p)[1]
		var in struct {
			TagName         string `json:"tag_name"`
			Name            string `json:"name"`
			Body            string `json:"body"`
			TargetCommitish string `json:"target_commitish"`
			Draft           bool   `json:"draft"`
			Prerelease      bool   `json:"prerelease"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TagName == "" {
			writeJSON(w, 422, validation("Release", "missing_field", "tag_name"))
			return
		}
		for _, rel := range s.releases[repo] {
			if rel.TagName == in.TagName {
				writeJSON(w, 422, validation("Release", "already_exists", "tag_name"))
				return
			}
		}
		s.nextID++
		rel := &Release{ID: s.nextID, TagName: in.TagName, Name: in.Name, Body: in.Body, TargetCommitish: in.TargetCommitish, Draft: in.Draft, Prerelease: in.Prerelease}
		s.releases[repo] = append(s.releases[repo], rel)
		writeJSON(w, 201, s.releaseJSON(r, repo, rel))
	case r.Method == "PATCH" && reRelease.MatchString(p):
		m := reRelease.FindStringSubmatch(p)
		rel := s.release(m[1], m[2])
		if rel == nil {
			notFound(w)
			return
		}
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, 400, map[string]string{"message": "Problems parsing JSON", "documentation_url": docsURL})
			return
		}
		if v, ok := in["name"].(string); ok {
			rel.Name = v
		}
		if v, ok := in["body"].(string); ok {
			rel.Body = v
		}
		if v, ok := in["draft"].(bool); ok {
			rel.Draft = v
		}
		writeJSON(w, 200, s.releaseJSON(r, m[1], rel))
	case r.Method == "GET" && reAssets.MatchString(p):
		m := reAssets.FindStringSubmatch(p)
		rel := s.release(m[1], m[2])
		if rel == nil {
			notFound(w)
			return
		}
		perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		if perPage <= 0 || perPage > 100 {
			perPage = 30
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		all := rel.Assets
		start, end := min((page-1)*perPage, len(all)), min(page*perPage, len(all))
		var out []map[string]any
		for _, a := range all[start:end] {
			out = append(out, s.assetJSON(r, m[1], a))
		}
		if out == nil {
			out = []map[string]any{}
		}
		if end < len(all) {
			next := *r.URL
			q := next.Query()
			q.Set("page", strconv.Itoa(page+1))
			q.Set("per_page", strconv.Itoa(perPage))
			next.RawQuery = q.Encode()
			last := (len(all) + perPage - 1) / perPage
			q.Set("page", strconv.Itoa(last))
			lastURL := next
			lastURL.RawQuery = q.Encode()
			w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next", <%s%s>; rel="last"`, base(r), next.RequestURI(), base(r), lastURL.RequestURI()))
		}
		writeJSON(w, 200, out)
	case r.Method == "POST" && reUpload.MatchString(p):
		m := reUpload.FindStringSubmatch(p)
		rel := s.release(m[1], m[2])
		if rel == nil {
			notFound(w)
			return
		}
		name := r.URL.Query().Get("name")
		for _, a := range rel.Assets {
			if a.Name == name {
				writeJSON(w, 422, validation("ReleaseAsset", "already_exists", "name"))
				return
			}
		}
		data, err := io.ReadAll(r.Body)
		if err != nil || int64(len(data)) != r.ContentLength {
			return // the client went away mid-upload
		}
		s.nextID++
		a := &Asset{ID: s.nextID, Name: name, Label: r.URL.Query().Get("label"), ContentType: r.Header.Get("Content-Type"), State: "uploaded", Data: data}
		rel.Assets = append(rel.Assets, a)
		writeJSON(w, 201, s.assetJSON(r, m[1], a))
	case r.Method == "GET" && reAsset.MatchString(p):
		m := reAsset.FindStringSubmatch(p)
		a := s.asset(m[1], m[2])
		if a == nil {
			notFound(w)
			return
		}
		if r.Header.Get("Accept") == "application/octet-stream" {
			http.Redirect(w, r, base(r)+"/download/"+m[2], http.StatusFound)
			return
		}
		writeJSON(w, 200, s.assetJSON(r, m[1], a))
	case r.Method == "DELETE" && reAsset.MatchString(p):
		m := reAsset.FindStringSubmatch(p)
		for _, rel := range s.releases[m[1]] {
			for i, a := range rel.Assets {
				if strconv.FormatInt(a.ID, 10) == m[2] {
					rel.Assets = append(rel.Assets[:i], rel.Assets[i+1:]...)
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}
		notFound(w)
	default:
		notFound(w)
	}
}

// fault finds the first live fault for r, counting the hit; the caller holds mu.
func (s *Server) fault(r *http.Request) *Fault {
	for _, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.PathContains) && (f.Times == 0 || f.hits < f.Times) {
			f.hits++
			return f
		}
	}
	return nil
}

func (s *Server) inject(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.Reset {
		// Read a little, record what GitHub would (an upload leaves a "starter" asset), hang up.
		buf := make([]byte, 512)
		io.ReadFull(r.Body, buf)
		if m := reUpload.FindStringSubmatch(r.URL.Path); m != nil {
			s.mu.Lock()
			if rel := s.release(m[1], m[2]); rel != nil {
				s.nextID++
				rel.Assets = append(rel.Assets, &Asset{ID: s.nextID, Name: r.URL.Query().Get("name"), State: "starter"})
			}
			s.mu.Unlock()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	body := f.Body
	if body == "" {
		body = fmt.Sprintf(`{"message":%q,"documentation_url":%q}`, http.StatusText(f.Status), docsURL)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(f.Status)
	io.WriteString(w, body)
}

// SecondaryRateLimit is the fault GitHub answers when a client is too fast: 403 and Retry-After.
func SecondaryRateLimit(method, path string, retryAfter int) *Fault {
	return &Fault{Method: method, PathContains: path, Times: 1, Status: http.StatusForbidden,
		Header: map[string]string{"Retry-After": strconv.Itoa(retryAfter)},
		Body:   fmt.Sprintf(`{"message":%q,"documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`, secondaryRL)}
}

func (s *Server) download(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rels := range s.releases {
		for _, rel := range rels {
			for _, a := range rel.Assets {
				if strconv.FormatInt(a.ID, 10) == id && a.State == "uploaded" {
					w.Header().Set("Content-Type", "application/octet-stream")
					w.Write(a.Data)
					return
				}
			}
		}
	}
	http.NotFound(w, nil)
}

func (s *Server) release(repo, id string) *Release {
	for _, rel := range s.releases[repo] {
		if strconv.FormatInt(rel.ID, 10) == id {
			return rel
		}
	}
	return nil
}

func (s *Server) asset(repo, id string) *Asset {
	for _, rel := range s.releases[repo] {
		for _, a := range rel.Assets {
			if strconv.FormatInt(a.ID, 10) == id {
				return a
			}
		}
	}
	return nil
}

func base(r *http.Request) string { return "http://" + r.Host }

func (s *Server) releaseJSON(r *http.Request, repo string, rel *Release) map[string]any {
	assets := []map[string]any{}
	for _, a := range rel.Assets {
		assets = append(assets, s.assetJSON(r, repo, a))
	}
	api := fmt.Sprintf("%s/api/v3/repos/%s/releases/%d", base(r), repo, rel.ID)
	return map[string]any{
		"id": rel.ID, "url": api, "assets_url": api + "/assets", "node_id": fmt.Sprintf("RE_%d", rel.ID),
		"upload_url": fmt.Sprintf("%s/api/uploads/repos/%s/releases/%d/assets{?name,label}", base(r), repo, rel.ID),
		"html_url":   fmt.Sprintf("%s/%s/releases/tag/%s", base(r), repo, rel.TagName),
		"tag_name":   rel.TagName, "name": rel.Name, "body": rel.Body, "target_commitish": rel.TargetCommitish,
		"draft": rel.Draft, "prerelease": rel.Prerelease, "assets": assets,
	}
}

func (s *Server) assetJSON(r *http.Request, repo string, a *Asset) map[string]any {
	return map[string]any{
		"id": a.ID, "name": a.Name, "label": a.Label, "state": a.State, "content_type": a.ContentType, "size": len(a.Data),
		"url":                  fmt.Sprintf("%s/api/v3/repos/%s/releases/assets/%d", base(r), repo, a.ID),
		"browser_download_url": fmt.Sprintf("%s/download/%d", base(r), a.ID),
	}
}

func validation(resource, code, field string) map[string]any {
	return map[string]any{"message": "Validation Failed", "documentation_url": docsURL,
		"errors": []map[string]string{{"resource": resource, "code": code, "field": field}}}
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": docsURL})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Names lists a release's asset names, sorted, with the state of any not "uploaded".
func (r Release) Names() []string {
	var names []string
	for _, a := range r.Assets {
		n := a.Name
		if a.State != "uploaded" {
			n += " (" + a.State + ")"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
