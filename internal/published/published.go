// Package published reads what a release line has already published, from the publish remote
// itself rather than from any one machine's work dir (a CI runner starts empty): the release
// tags there (one ls-remote), and for the newest the digest of the inputs it was built from,
// which kpublish writes into the tag's message. A run compares that digest with its own to
// decide the revision: the same upstream with the same patches and configs is the same release;
// with changed ones, the next revision.
package published

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/wslkernel/wslkernel/internal/version"
)

// Release is one release tag on the publish remote.
type Release struct {
	Version   version.Version
	Tag       string
	TagObject plumbing.Hash // the annotated tag; equal to Commit for a lightweight tag
	Commit    plumbing.Hash // what the tag names
}

// InputsField starts the tag message's line that carries the inputs digest.
const InputsField = "Inputs: "

// Trailer is the tag message line that records the inputs digest.
func Trailer(digest string) string { return InputsField + digest }

// List reads the remote's tags that the line's tag template makes ("linux-msft-wsl-{version}"),
// newest version first. Tags the template does not make are ignored.
func List(ctx context.Context, remote, tagTemplate string) ([]Release, error) {
	match, err := tagPattern(tagTemplate)
	if err != nil {
		return nil, err
	}
	r := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "publish", URLs: []string{remote}})
	refs, err := r.ListContext(ctx, &git.ListOptions{PeelingOption: git.AppendPeeled})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, &ReadError{Remote: remote, Err: err}
	}
	byTag := map[string]*Release{}
	for _, ref := range refs {
		name := ref.Name()
		if !name.IsTag() {
			continue
		}
		short, peeled := strings.CutSuffix(name.Short(), "^{}")
		m := match.FindStringSubmatch(short)
		if m == nil {
			continue
		}
		v, err := version.ParseVersion(m[1])
		if err != nil {
			continue
		}
		if again, err := version.Expand(tagTemplate, v); err != nil || again != short {
			continue // e.g. {series} that does not match the version's own series
		}
		rel := byTag[short]
		if rel == nil {
			rel = &Release{Version: v, Tag: short}
			byTag[short] = rel
		}
		if peeled {
			rel.Commit = ref.Hash()
		} else {
			rel.TagObject = ref.Hash()
			if rel.Commit.IsZero() {
				rel.Commit = ref.Hash() // until the peeled line says otherwise
			}
		}
	}
	var rels []Release
	for _, rel := range byTag {
		rels = append(rels, *rel)
	}
	slices.SortFunc(rels, func(a, b Release) int { return b.Version.Compare(a.Version) })
	return rels, nil
}

// ReadError is a remote whose tags could not be listed. Its message is a few words for one line
// of kbuild's plan, status and check ("github.com unreachable"), not the transport's error, which
// Err keeps.
type ReadError struct {
	Remote string
	Err    error
}

func (e *ReadError) Unwrap() error { return e.Err }

func (e *ReadError) Error() string {
	where := e.Remote
	if u, err := url.Parse(e.Remote); err == nil && u.Host != "" {
		where = u.Hostname()
	}
	var dns *net.DNSError
	var op *net.OpError
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(e.Err, &dns), errors.As(e.Err, &op), errors.As(e.Err, &timeout) && timeout.Timeout():
		return where + " unreachable"
	case errors.Is(e.Err, transport.ErrAuthenticationRequired), errors.Is(e.Err, transport.ErrAuthorizationFailed):
		return where + " refused access"
	case errors.Is(e.Err, transport.ErrRepositoryNotFound):
		return "no repository at " + e.Remote
	}
	line, _, _ := strings.Cut(e.Err.Error(), "\n")
	return e.Remote + ": " + line
}

// tagPattern makes a regexp of a tag template whose first group is the version.
func tagPattern(template string) (*regexp.Regexp, error) {
	if !strings.Contains(template, "{version}") {
		return nil, fmt.Errorf("tag template %q has no {version}: releases of one upstream release could not be told apart", template)
	}
	var b strings.Builder
	b.WriteString("^")
	rest := template
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("tag template %q: unmatched '{'", template)
		}
		switch name := rest[i+1 : i+j]; name {
		case "version":
			b.WriteString(`(\d+\.\d+\.\d+\.\d+)`)
		case "upstream":
			b.WriteString(`\d+\.\d+\.\d+`)
		case "series":
			b.WriteString(`\d+\.\d+`)
		default:
			return nil, fmt.Errorf("tag template %q: unknown placeholder {%s}", template, name)
		}
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// LatestOf is the newest published release of an upstream release, or nil.
func LatestOf(rels []Release, up version.Release) *Release {
	for i := range rels {
		if rels[i].Version.Upstream == up {
			return &rels[i] // rels is newest first
		}
	}
	return nil
}

// ErrNoInputs means the release's tag carries no inputs digest (made by hand, or by an older
// kpublish): nothing says what it was built from.
var ErrNoInputs = errors.New("its tag message records no inputs digest")

// InputsOf reads the inputs digest from the release's tag message. The tag object is read from
// repo (the upstream mirror, where kpublish made it) or, when it is not there, fetched from the
// remote into repo under refs/wslkernel/published/: only what the mirror lacks comes over.
func InputsOf(ctx context.Context, repo *git.Repository, remote string, rel Release) (string, error) {
	if rel.TagObject == rel.Commit {
		return "", fmt.Errorf("%s is a lightweight tag: %w", rel.Tag, ErrNoInputs)
	}
	tag, err := repo.TagObject(rel.TagObject)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		ref := "refs/wslkernel/published/" + rel.Tag
		r := git.NewRemote(repo.Storer, &gitconfig.RemoteConfig{Name: "publish", URLs: []string{remote}})
		err = r.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec("+refs/tags/" + rel.Tag + ":" + ref)},
			Depth:    1,
			Tags:     git.NoTags,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return "", fmt.Errorf("fetching %s from %s: %w", rel.Tag, remote, err)
		}
		tag, err = repo.TagObject(rel.TagObject)
	}
	if err != nil {
		return "", fmt.Errorf("reading the tag %s: %w", rel.Tag, err)
	}
	sc := bufio.NewScanner(strings.NewReader(tag.Message))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), InputsField); ok {
			return strings.TrimSpace(d), nil
		}
	}
	return "", fmt.Errorf("%s: %w", rel.Tag, ErrNoInputs)
}
