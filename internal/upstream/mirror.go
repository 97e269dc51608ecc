package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/wslkernel/wslkernel/internal/version"
)

// Mirror is a bare repository under the cache folder holding the upstream tags fetched so far,
// one per upstream URL, so that the next point release fetches only what is new.
type Mirror struct {
	Dir string
	URL string
	// Repaired says why OpenMirror had to start the mirror again, if it did.
	Repaired string
	// AllowLightweight lets a lightweight tag be fetched (allow_unsigned); otherwise one is
	// refused from upstream's advertisement, before anything is fetched.
	AllowLightweight bool
	// Trust, when set, is checked against upstream's tag object before the tag's tree is
	// fetched (ReadRemoteTag): a release signed by a key not trusted costs a few KB, not the
	// whole tree. nil (allow_unsigned) skips it. The caller still verifies what was fetched.
	Trust *Trust
	// Limits caps what a fetch may unpack (upstream.max_unpacked, max_entry): a pack past them is
	// refused before any of it is stored. Zero: the defaults.
	Limits Limits
	repo   *git.Repository
}

// OpenMirror opens (creating if needed) the mirror of url under cacheDir, holding an exclusive
// lock on it until Close, so concurrent runs do not interleave fetches. Waiting for another run's
// lock stops when ctx is done.
func OpenMirror(ctx context.Context, cacheDir, url string) (*Mirror, func(), error) {
	dir := MirrorDir(cacheDir, url)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, nil, err
	}
	release, err := lockFileContext(ctx, dir+".lock")
	if err != nil {
		return nil, nil, err
	}
	m := &Mirror{Dir: dir, URL: url}
	repo, err := git.PlainOpen(dir)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		err = m.init()
	case err != nil:
		// A mirror git cannot even open (a killed run, a bad disk): start it again.
		m.Repaired = fmt.Sprintf("mirror %s could not be opened (%v): starting it again", dir, err)
		err = m.Reset()
	default:
		m.repo = repo
	}
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("mirror %s: %w", dir, err)
	}
	return m, release, nil
}

// MirrorDir is the folder of the mirror of url under cacheDir: one per upstream URL.
func MirrorDir(cacheDir, url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(cacheDir, "mirrors", hex.EncodeToString(sum[:8])+".git")
}

func (m *Mirror) init() error {
	repo, err := git.PlainInit(m.Dir, true)
	if err != nil {
		return err
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{m.URL}}); err != nil {
		return err
	}
	m.repo = repo
	return nil
}

// Reset empties the mirror, so the next fetch starts from nothing. The caller holds the lock.
func (m *Mirror) Reset() error {
	if err := os.RemoveAll(m.Dir); err != nil {
		return err
	}
	return m.init()
}

// Repo is the mirror's repository.
func (m *Mirror) Repo() *git.Repository { return m.repo }

// commitRefs holds, for each release tag fetched, a plain reference to its commit. go-git offers
// only commits as "have"s when it negotiates a fetch, and a tag ref points at a tag object, so
// without these the mirror would look empty to the server and every point release would bring
// the whole tree again (282 MB here, against 24 KB with them).
const commitRefs = "refs/commits/"

// Fetched says what FetchTag did.
type Fetched struct {
	Ref         *plumbing.Reference
	Incremental bool   // only objects new since an earlier release in the mirror were fetched
	Cached      bool   // the mirror already held the tag, as upstream still has it
	Offline     string // upstream could not be asked, so the mirror's copy was used: why
	Retagged    string // upstream's tag object changed since the mirror fetched it: the old hash
	Tree        string // FetchTagTree wrote the tagged commit's files there (Files of them)
	Files       int64
}

// FetchTag makes the tag present in the mirror, as upstream has it now. The first fetch of a
// series is shallow (kernel history is gigabytes; a build needs one tree). When the mirror already
// holds an earlier release of the series, the fetch is unbounded instead: stable point releases
// descend from the previous one, so the server walks back only to a commit the mirror has and
// sends just the new objects. A tag already in the mirror is checked against upstream's (one
// ls-remote): kernel.org never moves a release tag, so a changed one is fetched again and
// reported, and its signature is then checked like any other. Either way the pack is held to
// m.Limits before anything of it is stored; a tag refused so is forgotten (Forget).
func (m *Mirror) FetchTag(ctx context.Context, rel version.Release, progress io.Writer) (*Fetched, error) {
	return m.fetchTag(ctx, rel, progress, nil)
}

// TreeRequest asks FetchTagTree for the tagged commit's files.
type TreeRequest struct {
	Dest    string   // the folder to write; replaced whole, written beside and renamed
	Workers int      // hashing and writing files
	Files   Progress // may be nil
}

// FetchTagTree is FetchTag that, when the mirror holds nothing yet, also writes the tagged
// commit's tree to tr.Dest while the pack streams in (see cloneTag), and says so in
// Fetched.Tree. The tree is written before the caller has checked the tag's signature: it must
// check it before using tr.Dest, and remove the folder if the check fails.
func (m *Mirror) FetchTagTree(ctx context.Context, rel version.Release, progress io.Writer, tr TreeRequest) (*Fetched, error) {
	return m.fetchTag(ctx, rel, progress, &tr)
}

func (m *Mirror) fetchTag(ctx context.Context, rel version.Release, progress io.Writer, tr *TreeRequest) (*Fetched, error) {
	tag := rel.Tag()
	refName := plumbing.NewTagReferenceName(tag)
	res := &Fetched{}
	var up *advertised // upstream's tag, once asked
	if ref, err := m.repo.Reference(refName, false); err == nil {
		if _, err := m.Resolve(ref); err != nil {
			return nil, err // damage or a refusal, as Resolve says
		}
		remote, err := m.remoteTag(ctx, refName)
		switch {
		case err != nil:
			res.Ref, res.Cached, res.Offline = ref, true, err.Error()
			return res, nil
		case remote.hash == ref.Hash():
			res.Ref, res.Cached = ref, true
			return res, nil
		}
		res.Retagged, up = ref.Hash().String(), &remote
	}
	if m.Trust != nil {
		if err := m.trustBeforeFetch(ctx, tag); err != nil {
			return nil, err
		}
	}
	base := m.earlierRelease(rel)
	depth := 1
	if base != "" {
		depth = 0
	}
	if tr != nil && m.empty() { // cloneTag reads the advertisement itself
		ref, files, err := m.cloneTag(ctx, refName, tr.Dest, tr.Workers, progress, tr.Files, m.Limits)
		if err != nil {
			return nil, fmt.Errorf("fetch %s from %s: %w", tag, m.URL, err)
		}
		res.Tree, res.Files = tr.Dest, files
		res, err = m.fetched(res, ref, false)
		if err != nil {
			os.RemoveAll(tr.Dest)
		}
		return res, err
	}
	if up == nil {
		remote, err := m.remoteTag(ctx, refName)
		if err != nil {
			return nil, fmt.Errorf("fetch %s from %s: %w", tag, m.URL, err)
		}
		up = &remote
	}
	if err := m.checkAnnotated(tag, up.annotated); err != nil {
		return nil, err
	}
	if err := clearTempPacks(m.Dir); err != nil {
		return nil, fmt.Errorf("mirror %s: %w", m.Dir, err)
	}
	err := m.fetchCapped(ctx, refName, depth, progress)
	if errors.Is(err, ErrTooLarge) {
		// Nothing of the pack was stored; a copy the mirror held of a tag upstream changed into
		// this goes too, as for any refusal.
		if ferr := m.Forget(tag); ferr != nil {
			return nil, fmt.Errorf("fetch %s from %s: %w (and %v)", tag, m.URL, err, ferr)
		}
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if strings.Contains(err.Error(), "couldn't find remote ref") {
			return nil, fmt.Errorf("fetch %s from %s: %w", tag, m.URL, ErrNoTag)
		}
		return nil, fmt.Errorf("fetch %s from %s: %w", tag, m.URL, err)
	}
	ref, err := m.repo.Reference(refName, false)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: tag missing after fetch: %w", tag, m.URL, err)
	}
	return m.fetched(res, ref, base != "")
}

// fetchCapped is go-git's fetch of one tag into the mirror, its pack held to m.Limits before
// go-git stores any of it (cappedStorage). A fetch that fails leaves the mirror as it was: no
// pack, no ref, and the shallow commits go-git records before it reads the pack are put back.
func (m *Mirror) fetchCapped(ctx context.Context, refName plumbing.ReferenceName, depth int, progress io.Writer) error {
	shallow, err := m.repo.Storer.Shallow()
	if err != nil {
		return err
	}
	fetchCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	st := &cappedStorage{Storer: m.repo.Storer, packDir: filepath.Join(m.Dir, "objects", "pack"), limit: newBudget(m.Limits, gitHint), stop: stop}
	remote := git.NewRemote(st, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{m.URL}})
	err = remote.FetchContext(fetchCtx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  m.URL,
		RefSpecs:   []gitconfig.RefSpec{gitconfig.RefSpec(fmt.Sprintf("+%s:%s", refName, refName))},
		Depth:      depth,
		Tags:       git.NoTags,
		Force:      true,
		Progress:   progress,
	})
	if cause := context.Cause(fetchCtx); err != nil && ctx.Err() == nil && cause != nil {
		err = cause // the pack was refused: go-git saw only its fetch stopped
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if serr := m.repo.Storer.SetShallow(shallow); serr != nil {
			return fmt.Errorf("%w (and putting back the shallow commits: %v)", err, serr)
		}
	}
	return err
}

// trustBeforeFetch reads upstream's tag object alone and refuses the tag, forgetting any copy the
// mirror holds, when the object does not verify: who signed a release is in its tag object, so
// there is no need to fetch the tree to refuse it. Upstream could still change the tag between
// this and the fetch; what is fetched is verified again by the caller.
func (m *Mirror) trustBeforeFetch(ctx context.Context, tag string) error {
	rt, err := ReadRemoteTag(ctx, m.URL, tag)
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", tag, m.URL, err)
	}
	if !rt.Annotated {
		err = m.checkAnnotated(tag, false)
	} else {
		_, err = VerifyTagObject(rt.Tag, tag, *m.Trust)
	}
	if err == nil {
		return nil
	}
	if ferr := m.Forget(tag); ferr != nil {
		return fmt.Errorf("%w (and %v)", err, ferr)
	}
	if rt.Annotated {
		return fmt.Errorf("%w (decided from the tag object alone: %d bytes of pack read, its tree not fetched)", err, rt.Received)
	}
	return err
}

// fetched records the commit of a tag just fetched (see commitRefs).
func (m *Mirror) fetched(res *Fetched, ref *plumbing.Reference, incremental bool) (*Fetched, error) {
	tagged, err := m.Resolve(ref)
	if err != nil {
		return nil, err // damage or a refusal, as Resolve says
	}
	commitRef := plumbing.NewHashReference(plumbing.ReferenceName(commitRefs+ref.Name().Short()), tagged.Commit.Hash)
	if err := m.repo.Storer.SetReference(commitRef); err != nil {
		return nil, err
	}
	res.Ref, res.Incremental = ref, incremental
	return res, nil
}

// empty says whether the mirror holds no objects at all.
func (m *Mirror) empty() bool {
	packs, _ := filepath.Glob(filepath.Join(m.Dir, "objects", "pack", "*.pack"))
	loose, _ := filepath.Glob(filepath.Join(m.Dir, "objects", "[0-9a-f][0-9a-f]"))
	return len(packs) == 0 && len(loose) == 0
}

// advertised is what upstream's ref advertisement (an ls-remote) says of a tag.
type advertised struct {
	hash plumbing.Hash // the object the tag names
	// annotated: git advertises an annotated tag with a second, peeled line (refs/tags/X^{},
	// the commit it tags); a lightweight tag names the commit itself and has none.
	annotated bool
}

// remoteTag asks upstream which object its tag names now, and whether the tag is annotated.
func (m *Mirror) remoteTag(ctx context.Context, name plumbing.ReferenceName) (advertised, error) {
	remote := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{m.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{PeelingOption: git.AppendPeeled})
	if err != nil {
		return advertised{}, err
	}
	var adv advertised
	for _, r := range refs {
		switch r.Name() {
		case name:
			adv.hash = r.Hash()
		case name + peeledSuffix:
			adv.annotated = true
		}
	}
	if adv.hash.IsZero() {
		return advertised{}, fmt.Errorf("%s no longer has %s: %w", m.URL, name.Short(), ErrNoTag)
	}
	return adv, nil
}

const peeledSuffix = "^{}"

// checkAnnotated refuses a lightweight tag, unless allowed, from what upstream advertised:
// fetching one only to refuse it would bring the whole tree (235 MB for the kernel) for nothing.
func (m *Mirror) checkAnnotated(tag string, annotated bool) error {
	if annotated || m.AllowLightweight {
		return nil
	}
	return fmt.Errorf("%w: %s is a lightweight tag in %s (its ls-remote has no peeled %s^{} line): kernel.org releases are signed annotated tags, so nothing was fetched; set upstream.allow_unsigned: true only to build it unverified",
		ErrUntrusted, tag, m.URL, tag)
}

// ErrNoTag means the upstream repository has no such tag.
var ErrNoTag = errors.New("the tag does not exist there")

// earlierRelease names a release of the same series, older than rel or rel itself, whose commit
// the mirror holds, if any.
func (m *Mirror) earlierRelease(rel version.Release) string {
	refs, err := m.repo.References()
	if err != nil {
		return ""
	}
	defer refs.Close()
	found := ""
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		name, ok := strings.CutPrefix(r.Name().String(), commitRefs)
		if !ok {
			return nil
		}
		if have, err := version.ParseRelease(name); err == nil && have.Series() == rel.Series() && have.Compare(rel) <= 0 {
			found = name
		}
		return nil
	})
	return found
}

// Tagged is a release tag resolved in the mirror.
type Tagged struct {
	Tag    *object.Tag // nil for a lightweight tag
	Commit *object.Commit
}

// Resolve follows a tag reference to its tag object (if annotated) and commit. An object the
// mirror cannot read is ErrDamaged; a tag that does not name a commit directly (a tag of a tag,
// of a tree) is ErrUntrusted: that is what upstream sent, and fetching it again would bring the
// same thing, so it must never be taken for damage.
func (m *Mirror) Resolve(ref *plumbing.Reference) (*Tagged, error) {
	name := ref.Name().Short()
	tag, err := m.repo.TagObject(ref.Hash())
	switch {
	case err == nil:
		inner := ""
		if t, err := m.repo.TagObject(tag.Target); err == nil {
			inner = t.Name
		}
		if err := tagsACommit(name, tag, inner); err != nil {
			return nil, err
		}
		c, err := m.repo.CommitObject(tag.Target)
		if err != nil {
			return nil, fmt.Errorf("%w: tag %s: its commit %s: %v", ErrDamaged, name, tag.Target, err)
		}
		return &Tagged{Tag: tag, Commit: c}, nil
	case errors.Is(err, plumbing.ErrObjectNotFound):
		c, err := m.repo.CommitObject(ref.Hash())
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			if o, oerr := m.repo.Storer.EncodedObject(plumbing.AnyObject, ref.Hash()); oerr == nil {
				return nil, fmt.Errorf("%w: %s names a %s (%s), not a commit or a tag of one", ErrUntrusted, name, o.Type(), ref.Hash())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tag %s: %v", ErrDamaged, name, err)
		}
		return &Tagged{Commit: c}, nil
	default:
		return nil, fmt.Errorf("%w: tag %s: %v", ErrDamaged, name, err)
	}
}

// Forget removes a refused tag from the mirror: its tag ref and the commit ref kept for it (see
// commitRefs), so nothing later takes it for a release fetched and found fine, nor offers its
// commit as a base. The objects stay (unreferenced); the next fetch of the tag starts over.
func (m *Mirror) Forget(tag string) error {
	for _, name := range []plumbing.ReferenceName{plumbing.NewTagReferenceName(tag), plumbing.ReferenceName(commitRefs + tag)} {
		if err := m.repo.Storer.RemoveReference(name); err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return fmt.Errorf("mirror %s: removing the refused %s: %w", m.Dir, name, err)
		}
	}
	return nil
}
