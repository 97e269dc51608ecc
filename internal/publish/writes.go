package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-github/v60/github"
)

// ReleaseWrites are the writes publishing makes to GitHub. GitHub.Publish decides what to write,
// for a real run and a dry run alike, so the two cannot drift: only these differ, as GitHub's API
// (apiWrites) or the dry-run twin that prints each write and makes none (DryRunWrites).
type ReleaseWrites interface {
	CreateRelease(ctx context.Context, want *github.RepositoryRelease) (*github.RepositoryRelease, error)
	EditRelease(ctx context.Context, old, want *github.RepositoryRelease) (*github.RepositoryRelease, error)
	DeleteAsset(ctx context.Context, old *github.ReleaseAsset, why string) error
	// UploadAsset uploads a and checks what GitHub then serves.
	UploadAsset(ctx context.Context, release *github.RepositoryRelease, a Asset) error
}

func (g *GitHub) writes() ReleaseWrites {
	if g.Writes != nil {
		return g.Writes
	}
	return apiWrites{g}
}

// apiWrites are GitHub's API calls, each retried as GitHub.call does.
type apiWrites struct{ g *GitHub }

func (w apiWrites) CreateRelease(ctx context.Context, want *github.RepositoryRelease) (*github.RepositoryRelease, error) {
	g := w.g
	var got *github.RepositoryRelease
	err := g.call(ctx, "create release "+want.GetTagName(), func() (*github.Response, error) {
		r, resp, err := g.Client.Repositories.CreateRelease(ctx, g.Owner, g.Repo, want)
		got = r
		if isAlreadyExists(err) {
			// An earlier attempt created it and its answer was lost: take that one.
			r, resp, err = g.Client.Repositories.GetReleaseByTag(ctx, g.Owner, g.Repo, want.GetTagName())
			got = r
		}
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(g.Out, "created  release %s (id %d)\n", want.GetTagName(), got.GetID())
	return got, nil
}

func (w apiWrites) EditRelease(ctx context.Context, old, want *github.RepositoryRelease) (*github.RepositoryRelease, error) {
	g := w.g
	var got *github.RepositoryRelease
	err := g.call(ctx, "update release "+want.GetTagName(), func() (*github.Response, error) {
		r, resp, err := g.Client.Repositories.EditRelease(ctx, g.Owner, g.Repo, old.GetID(), want)
		got = r
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(g.Out, "updated  release %s (id %d): name and notes\n", want.GetTagName(), got.GetID())
	return got, nil
}

func (w apiWrites) DeleteAsset(ctx context.Context, old *github.ReleaseAsset, why string) error {
	g := w.g
	err := g.call(ctx, "delete "+old.GetName(), func() (*github.Response, error) {
		resp, err := g.Client.Repositories.DeleteReleaseAsset(ctx, g.Owner, g.Repo, old.GetID())
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return resp, nil // already gone
		}
		return resp, err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "deleted  %-40s %s\n", old.GetName(), why)
	return nil
}

func (w apiWrites) UploadAsset(ctx context.Context, release *github.RepositoryRelease, a Asset) error {
	return w.g.upload(ctx, release.GetID(), a)
}

// DryRunWrites is the dry-run twin of g's writes: each write is printed as the request GitHub
// would get ("would    POST   /repos/o/r/releases  …", the path under g's API or upload URL),
// and none is made. A release not created yet has no id: its uploads show {release_id}.
func DryRunWrites(g *GitHub) ReleaseWrites { return dryRunWrites{g} }

type dryRunWrites struct{ g *GitHub }

func (d dryRunWrites) say(method, path, what string) {
	fmt.Fprintf(d.g.Out, "would    %-6s %s  %s\n", method, path, what)
}

func (d dryRunWrites) api(format string, args ...any) string {
	return d.g.Client.BaseURL.Path + fmt.Sprintf("repos/%s/%s/", d.g.Owner, d.g.Repo) + fmt.Sprintf(format, args...)
}

func (d dryRunWrites) CreateRelease(_ context.Context, want *github.RepositoryRelease) (*github.RepositoryRelease, error) {
	d.say("POST", d.api("releases"), fmt.Sprintf("tag %s, %q", want.GetTagName(), want.GetName()))
	return want, nil
}

func (d dryRunWrites) EditRelease(_ context.Context, old, want *github.RepositoryRelease) (*github.RepositoryRelease, error) {
	d.say("PATCH", d.api("releases/%d", old.GetID()), "name and notes of "+want.GetTagName())
	return old, nil
}

func (d dryRunWrites) DeleteAsset(_ context.Context, old *github.ReleaseAsset, why string) error {
	d.say("DELETE", d.api("releases/assets/%d", old.GetID()), old.GetName()+": "+why)
	return nil
}

func (d dryRunWrites) UploadAsset(_ context.Context, release *github.RepositoryRelease, a Asset) error {
	id := "{release_id}"
	if release.GetID() != 0 {
		id = fmt.Sprint(release.GetID())
	}
	path := d.g.Client.UploadURL.Path + fmt.Sprintf("repos/%s/%s/releases/%s/assets", d.g.Owner, d.g.Repo, id)
	d.say("POST", path, fmt.Sprintf("upload %s, %d bytes, sha256 %s", a.Name, a.Size, a.SHA256))
	return nil
}

// RefWrites are the writes a push makes: the release tag stored in the upstream mirror, and the
// branch and tag sent to the remote. Push.Run decides what to write; these make it (gitWrites)
// or, as the dry-run twin, print it (DryRunRefWrites).
type RefWrites interface {
	StoreTag(repo *git.Repository, tag plumbing.EncodedObject, ref plumbing.ReferenceName) error
	Push(ctx context.Context, remote *git.Remote, opts *git.PushOptions) error
}

// gitWrites are go-git's.
type gitWrites struct{ out io.Writer }

func (gitWrites) StoreTag(repo *git.Repository, tag plumbing.EncodedObject, ref plumbing.ReferenceName) error {
	h, err := repo.Storer.SetEncodedObject(tag)
	if err != nil {
		return err
	}
	return repo.Storer.SetReference(plumbing.NewHashReference(ref, h))
}

func (w gitWrites) Push(ctx context.Context, remote *git.Remote, opts *git.PushOptions) error {
	if err := remote.PushContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return err
	}
	for _, s := range opts.RefSpecs {
		fmt.Fprintf(w.out, "pushed   %s\n", s.Dst(""))
	}
	return nil
}

// DryRunRefWrites is the dry-run twin of a push's writes: it prints the tag it would store in
// the mirror and each ref it would push, and writes nothing.
func DryRunRefWrites(out io.Writer) RefWrites { return dryRunRefWrites{out} }

type dryRunRefWrites struct{ out io.Writer }

func (d dryRunRefWrites) StoreTag(_ *git.Repository, tag plumbing.EncodedObject, ref plumbing.ReferenceName) error {
	fmt.Fprintf(d.out, "would    store tag object %s as %s in the mirror\n", tag.Hash(), ref)
	return nil
}

func (d dryRunRefWrites) Push(_ context.Context, remote *git.Remote, opts *git.PushOptions) error {
	for _, s := range opts.RefSpecs {
		fmt.Fprintf(d.out, "would    push %s to %s\n", s, remote.Config().URLs[0])
	}
	return nil
}
