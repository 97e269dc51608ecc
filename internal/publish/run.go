package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-github/v60/github"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/cve"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/published"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// SetupError is a problem with what publishing was given (pipeline.yaml's publish section, the
// manifest, the token), as opposed to a failure of publishing itself: kpublish exits 2 for it.
type SetupError struct{ Err error }

func (e SetupError) Error() string { return e.Err.Error() }
func (e SetupError) Unwrap() error { return e.Err }

// Run is the publishing of one kbuild run.
type Run struct {
	ManifestPath string
	Manifest     *manifest.Manifest
	Release      *Release       // what is published, every file checked against the manifest
	Target       config.Publish // where to
	CacheDir     string         // kbuild's, holding the upstream mirror the branch is pushed from
	CVERecords   string         // the kernel CNA's records for the notes; "": no CVE section
}

// Load reads the manifest at path and plans its release; any problem is a SetupError.
func Load(path string, target config.Publish, cacheDir, cveRecords string) (*Run, error) {
	rel, err := FromManifest(path, target)
	if err != nil {
		return nil, SetupError{err}
	}
	m, err := manifest.Read(path)
	if err != nil {
		return nil, SetupError{err}
	}
	return &Run{ManifestPath: path, Manifest: m, Release: rel, Target: target, CacheDir: cacheDir, CVERecords: cveRecords}, nil
}

// Options are how a run publishes.
type Options struct {
	Token         string // GitHub's; also the password for an https publish.remote
	ReplaceAssets bool
	// DryRun makes the read calls only: the same code decides what to write, and the dry-run
	// twins (DryRunRefWrites, DryRunWrites) print each write instead of making it.
	DryRun bool
	Out    io.Writer
}

// Publish pushes the branch and tag, then makes the GitHub release. Everything that can fail
// without writing comes first: the client and the notes.
func (r *Run) Publish(ctx context.Context, o Options) (*github.RepositoryRelease, error) {
	owner, repo, ok := strings.Cut(r.Target.Repo, "/")
	if !ok {
		return nil, SetupError{fmt.Errorf("publish.repo %q in pipeline.yaml must be owner/name", r.Target.Repo)}
	}
	client, err := NewClient(o.Token, r.Target.APIURL, r.Target.UploadURL)
	if err != nil {
		return nil, SetupError{err}
	}
	notes, err := r.Notes()
	if err != nil {
		return nil, err
	}
	g := &GitHub{Client: client, Owner: owner, Repo: repo, ReplaceAssets: o.ReplaceAssets, Out: o.Out}
	push, err := r.push(o.Token, o.Out)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		fmt.Fprintf(o.Out, "dry run: only reads are made; every write is printed instead\n")
		g.Writes, push.Writes = DryRunWrites(g), DryRunRefWrites(o.Out)
	}
	mirror, unlock, err := upstream.OpenMirror(ctx, r.CacheDir, r.Manifest.Upstream.GitURL)
	if err != nil {
		return nil, err
	}
	err = push.Run(ctx, mirror.Repo())
	unlock()
	if err != nil {
		return nil, err
	}
	return g.Publish(ctx, r.Release, notes)
}

// push is the branch and tag to send, from the manifest.
func (r *Run) push(token string, out io.Writer) (*Push, error) {
	m := r.Manifest
	if r.Target.Remote == "" {
		return nil, SetupError{errors.New("publish.remote is not set in pipeline.yaml: nowhere to push the branch and tag")}
	}
	if m.BranchHead == "" {
		return nil, SetupError{fmt.Errorf("%s has no branch head (a tarball source builds no branch): nothing to push", r.ManifestPath)}
	}
	var auth transport.AuthMethod
	if strings.HasPrefix(r.Target.Remote, "http") {
		auth = &githttp.BasicAuth{Username: "x-access-token", Password: token}
	}
	return &Push{Remote: r.Target.Remote, Branch: m.Branch, BranchRef: m.BranchRef, Head: m.BranchHead, Tag: m.Tag,
		TagMessage: TagMessage(m), When: m.Upstream.CommitTime, Auth: auth, Out: out}, nil
}

// TagMessage is the release tag's message; its last line records the inputs digest, which the
// next kbuild run reads to choose its revision.
func TagMessage(m *manifest.Manifest) string {
	msg := fmt.Sprintf("WSL kernel %s\n\nUpstream %s (%s), uname -r %s.\n", m.Version, m.Upstream.Tag, m.Upstream.Commit, m.KernelRelease)
	if m.InputsDigest != "" {
		msg += "\n" + published.Trailer(m.InputsDigest) + "\n"
	}
	return msg
}

// Notes are the release notes: compared with the previous release beside this one, with
// upstream's shortlog between the two tags from the mirror, and the CVE records.
func (r *Run) Notes() (string, error) {
	m := r.Manifest
	dir := filepath.Dir(r.ManifestPath)
	in := NotesInput{Manifest: m, Dir: dir}
	current, err := version.ParseVersion(m.Version)
	if err != nil {
		return "", SetupError{fmt.Errorf("%s: %w", r.ManifestPath, err)}
	}
	in.Previous, in.PrevDir = manifest.Previous(filepath.Dir(dir), current)
	if in.Previous != nil && in.Previous.Upstream.Commit != m.Upstream.Commit && m.Upstream.GitURL != "" {
		mirror, unlock, err := upstream.OpenMirror(context.Background(), r.CacheDir, m.Upstream.GitURL)
		if err != nil {
			return "", err
		}
		in.Shortlog, err = Shortlog(mirror.Repo(), in.Previous.Upstream.Commit, m.Upstream.Commit)
		unlock()
		if err != nil {
			return "", err
		}
	}
	if r.CVERecords != "" {
		if in.CVEs, err = cve.Load(r.CVERecords); err != nil {
			return "", err
		}
	}
	return Notes(in, r.Release), nil
}
