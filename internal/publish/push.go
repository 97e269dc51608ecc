package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Tagger signs nothing and is the same for every tag, so the tag object for a release is the
// same every time it is made: pushing again is a no-op, not a moved tag.
var Tagger = object.Signature{Name: "wslkernel kbuild", Email: "kbuild@wslkernel.invalid"}

// Push is what goes to the source remote: the release branch, rebuilt for each release on top
// of the upstream tag, and the release's annotated tag on its head.
type Push struct {
	Remote            string
	Branch, BranchRef string // the branch's name on the remote, and where the mirror keeps it
	Head              string // the branch head the run built
	Tag, TagMessage   string
	When              time.Time // the tag's date: the upstream commit time, so the tag is reproducible
	Auth              transport.AuthMethod
	Out               io.Writer
	// Writes stores the tag and pushes; nil: go-git. DryRunRefWrites prints them instead.
	Writes RefWrites
}

// Run pushes from repo (the upstream mirror, which holds the branch). It sends only the objects
// the remote lacks, force-updates the branch (each release rebuilds it on a new upstream tag) and
// refuses to move a tag that already names something else.
func (p *Push) Run(ctx context.Context, repo *git.Repository) error {
	if p.Out == nil {
		p.Out = io.Discard
	}
	w := p.Writes
	if w == nil {
		w = gitWrites{p.Out}
	}
	head := plumbing.NewHash(p.Head)
	ref, err := repo.Reference(plumbing.ReferenceName(p.BranchRef), true)
	if err != nil {
		return fmt.Errorf("push: the mirror has no %s: %w (run kbuild run again)", p.BranchRef, err)
	}
	if ref.Hash() != head {
		return fmt.Errorf("push: the mirror's %s is at %s, the manifest says %s: a later run moved it; publish that run's manifest", p.BranchRef, ref.Hash(), head)
	}
	tag, err := p.tagObject(repo, head)
	if err != nil {
		return err
	}
	tagObj := tag.Hash()
	localTag := plumbing.ReferenceName("refs/wslkernel/tags/" + p.Tag)
	if err := w.StoreTag(repo, tag, localTag); err != nil {
		return err
	}

	remote := git.NewRemote(repo.Storer, &gitconfig.RemoteConfig{Name: "publish", URLs: []string{p.Remote}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: p.Auth})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return fmt.Errorf("push: listing %s: %w", p.Remote, err)
	}
	specs, err := p.refSpecs(refs, tagObj, localTag)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return nil
	}
	err = w.Push(ctx, remote, &git.PushOptions{RemoteName: "publish", RefSpecs: specs, Auth: p.Auth})
	if err != nil {
		if strings.Contains(err.Error(), "missing necessary objects") {
			return fmt.Errorf("push to %s: %w\nthe mirror holds upstream's history only from the release tag down (it is shallow), so the remote must already have upstream's history, as a fork of the stable tree does: fetch the stable tags into it once", p.Remote, err)
		}
		return fmt.Errorf("push to %s: %w", p.Remote, err)
	}
	return nil
}

// refSpecs are what the remote lacks of the branch and tag, given its refs; a tag there naming
// anything but tagObj is refused.
func (p *Push) refSpecs(refs []*plumbing.Reference, tagObj plumbing.Hash, localTag plumbing.ReferenceName) ([]gitconfig.RefSpec, error) {
	remoteBranch, remoteTag := plumbing.NewBranchReferenceName(p.Branch), plumbing.NewTagReferenceName(p.Tag)
	var specs []gitconfig.RefSpec
	branchThere, tagThere := false, false
	for _, r := range refs {
		switch r.Name() {
		case remoteTag:
			if r.Hash() != tagObj {
				return nil, fmt.Errorf("push: %s already has tag %s at %s, not our %s: refusing to move a published tag", p.Remote, p.Tag, r.Hash(), tagObj)
			}
			tagThere = true
		case remoteBranch:
			branchThere = r.Hash() == plumbing.NewHash(p.Head)
		}
	}
	if branchThere {
		fmt.Fprintf(p.Out, "kept     branch %s at %s on %s\n", p.Branch, short(p.Head), p.Remote)
	} else {
		specs = append(specs, gitconfig.RefSpec("+"+p.BranchRef+":"+remoteBranch.String()))
	}
	if tagThere {
		fmt.Fprintf(p.Out, "kept     tag %s on %s\n", p.Tag, p.Remote)
	} else {
		specs = append(specs, gitconfig.RefSpec(localTag.String()+":"+remoteTag.String()))
	}
	return specs, nil
}

// tagObject is the annotated tag for head, encoded; the same every time for the same release.
func (p *Push) tagObject(repo *git.Repository, head plumbing.Hash) (plumbing.EncodedObject, error) {
	tagger := Tagger
	tagger.When = p.When.UTC()
	tag := &object.Tag{Name: p.Tag, Tagger: tagger, Message: p.TagMessage, TargetType: plumbing.CommitObject, Target: head}
	obj := repo.Storer.NewEncodedObject()
	if err := tag.Encode(obj); err != nil {
		return nil, err
	}
	return obj, nil
}
