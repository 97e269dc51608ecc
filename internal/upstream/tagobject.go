package upstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// RemoteTag is what upstream holds for a tag, read without fetching its tree.
type RemoteTag struct {
	Name      string
	Hash      plumbing.Hash // the object the tag ref names
	Annotated bool          // advertised with a peeled ^{} line
	Tag       *object.Tag   // the tag object; nil for a lightweight tag
	// Received is how many bytes of pack were read to find the tag object, and Filtered says
	// whether the server honoured a tree:0 filter (then the pack is the tag and its commit).
	Received int64
	Filtered bool
}

// ReadRemoteTag reads upstream's tag object alone, so that who signed a release is known before
// its tree (235 MB for the kernel) is fetched: the signature is in the tag object only. It asks
// for the tag as a depth-1 fetch would, with a tree:0 filter when the server offers filters (the
// pack is then the tag and its commit); otherwise it reads the pack only until the tag object
// has arrived (git sends a fetched tag before its trees and blobs) and stops the server there.
// A lightweight tag is returned without fetching anything. A tag upstream lacks is ErrNoTag.
func ReadRemoteTag(ctx context.Context, url, tag string) (_ *RemoteTag, err error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, err
	}
	cli, err := client.NewClient(ep)
	if err != nil {
		return nil, err
	}
	sess, err := cli.NewUploadPackSession(ep, nil)
	if err != nil {
		return nil, err
	}
	// The server goes on sending the rest of the pack after the tag object, and closing the
	// session waits for it to end: stopping the pack's context instead makes the transport kill
	// git-upload-pack (or drop the HTTP request) at the next read.
	pctx, stop := context.WithCancel(ctx)
	var resp *packp.UploadPackResponse
	defer func() {
		stop()
		if resp != nil {
			io.Copy(io.Discard, resp) // returns at once: the context is done
		}
		sess.Close()
	}()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return nil, err
	}
	refName := plumbing.NewTagReferenceName(tag)
	ref, err := refs.Reference(refName)
	if err != nil {
		return nil, fmt.Errorf("%s has no %s: %w", url, tag, ErrNoTag)
	}
	rt := &RemoteTag{Name: tag, Hash: ref.Hash()}
	_, rt.Annotated = adv.Peeled[refName.String()]
	if !rt.Annotated {
		return rt, nil
	}

	req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	req.Wants = []plumbing.Hash{ref.Hash()}
	req.Depth = packp.DepthCommits(1)
	req.Capabilities.Delete(capability.ThinPack)
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return nil, err
	}
	if adv.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return nil, err
		}
	}
	if adv.Capabilities.Supports(capability.Filter) {
		if err := req.Capabilities.Set(capability.Filter); err != nil {
			return nil, err
		}
		req.Filter, rt.Filtered = packp.FilterTreeDepth(0), true
	}
	resp, err = sess.UploadPack(pctx, req)
	if err != nil {
		return nil, err
	}
	var stream io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		stream = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		stream = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	counted := &countingReader{r: stream}
	t, err := tagFromPack(counted, ref.Hash())
	rt.Received = counted.n.Load()
	if err != nil {
		return nil, fmt.Errorf("reading the tag object of %s from %s: %w", tag, url, err)
	}
	rt.Tag = t
	return rt, nil
}

// tagFromPack reads a pack until the tag object want, and decodes it. Other objects before it
// are skipped; a pack that ends without it is an error.
func tagFromPack(r io.Reader, want plumbing.Hash) (*object.Tag, error) {
	sc := packfile.NewScanner(r)
	_, count, err := sc.Header()
	if err != nil {
		return nil, err
	}
	for i := uint32(0); i < count; i++ {
		h, err := sc.NextObjectHeader()
		if err != nil {
			return nil, err
		}
		if h.Type != plumbing.TagObject {
			if _, _, err := sc.NextObject(io.Discard); err != nil {
				return nil, err
			}
			continue
		}
		var buf bytes.Buffer
		if _, _, err := sc.NextObject(&buf); err != nil {
			return nil, err
		}
		o := &plumbing.MemoryObject{}
		o.SetType(plumbing.TagObject)
		o.Write(buf.Bytes())
		if o.Hash() != want {
			continue
		}
		var t object.Tag
		if err := t.Decode(o); err != nil {
			return nil, fmt.Errorf("tag object %s: %w", want, err)
		}
		return &t, nil
	}
	return nil, fmt.Errorf("the pack has no tag object %s", want)
}

// countingReader counts what was read through it; the count may be read while another
// goroutine reads.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
