package upstream

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/treepath"
)

// cloneTag is the first fetch of a tag into an empty mirror, with the tagged commit's tree
// written to dest on the way. It asks for the tag at depth 1 as go-git's fetch would, but
// receives the pack itself: go-git indexes a pack by inflating and hashing every object on one
// core, and the export would then inflate every blob a second time. Here each object is inflated
// once, as it streams in; blobs are hashed and written to their paths by workers while the next
// objects arrive. The pack and its index go into the mirror as git would leave them.
//
// dest is written beside and renamed into place at the end, so it is the whole tree or absent.
// Errors are the caller's to say which tag and URL they concern. A cancelled ctx stops the
// download, the reading of the pack and the writers at once: nothing is put in place (no pack,
// no ref, no dest), and what was written so far is cleared by the next first fetch.
// Entry names are checked before anything is written (no "..", "/", duplicates), because the
// tree is written before the tag's signature is checked: the caller must not use dest until it
// has verified the tag, and removes it otherwise.
//
// lim bounds each object's inflated size and all of them together, and the files written: each
// object is held whole in memory while it is hashed and written, so an object past the cap is
// refused by the size its pack header (or, for a delta, its delta header) declares, before it is
// inflated.
func (m *Mirror) cloneTag(ctx context.Context, refName plumbing.ReferenceName, dest string, workers int, progress io.Writer, files Progress, lim Limits) (_ *plumbing.Reference, _ int64, err error) {
	ep, err := transport.NewEndpoint(m.URL)
	if err != nil {
		return nil, 0, err
	}
	cli, err := client.NewClient(ep)
	if err != nil {
		return nil, 0, err
	}
	sess, err := cli.NewUploadPackSession(ep, nil)
	if err != nil {
		return nil, 0, err
	}
	var running io.Reader // the response, once the server is sending the pack
	defer func() {
		switch {
		case running == nil || err == nil:
			sess.Close()
		default:
			// The server is still sending the rest of the pack, and closing the session waits
			// for it to end (for a file:// URL, for git-upload-pack to exit), which it cannot
			// while nobody reads. Read the rest away, then close, without holding up the error.
			go func() {
				io.Copy(io.Discard, running) // raw: no more progress lines after the error
				sess.Close()
			}()
		}
	}()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, 0, err
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return nil, 0, err
	}
	ref, err := refs.Reference(refName)
	if err != nil {
		return nil, 0, ErrNoTag
	}
	_, annotated := adv.Peeled[refName.String()]
	if err := m.checkAnnotated(refName.Short(), annotated); err != nil {
		return nil, 0, err
	}

	req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	req.Wants = []plumbing.Hash{ref.Hash()}
	req.Depth = packp.DepthCommits(1)
	req.Capabilities.Delete(capability.ThinPack) // the mirror is empty: every base must be in the pack
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return nil, 0, err
	}
	if progress == nil && adv.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return nil, 0, err
		}
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	running = resp
	var stream io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		d := sideband.NewDemuxer(sideband.Sideband64k, resp)
		d.Progress = progress
		stream = d
	case req.Capabilities.Supports(capability.Sideband):
		d := sideband.NewDemuxer(sideband.Sideband, resp)
		d.Progress = progress
		stream = d
	}

	packDir := filepath.Join(m.Dir, "objects", "pack")
	if err := clearPacks(packDir); err != nil {
		return nil, 0, err
	}
	tree, err := tempBeside(ctx, dest) // and clears the partial tree a stopped run left
	if err != nil {
		return nil, 0, err
	}
	rc := newReceiver(ref.Hash(), tree, files)
	rc.limit = newBudget(lim, gitHint)
	defer rc.close()
	written, err := rc.receive(ctx, rc.limit.wire(stream), packDir, workers)
	if err != nil {
		discard(ctx, tree)
		return nil, 0, stopped(ctx, err)
	}
	// The pack is in: from here on the fetch is finished whatever ctx says (a few renames).
	if err := renameInto(ctx, tree, dest); err != nil {
		return nil, 0, err
	}

	// The objects are in place; the repository must see the new pack.
	repo, err := git.PlainOpen(m.Dir)
	if err != nil {
		return nil, 0, err
	}
	m.repo = repo
	if err := repo.Storer.SetShallow(resp.Shallows); err != nil {
		return nil, 0, err
	}
	local := plumbing.NewHashReference(refName, ref.Hash())
	if err := repo.Storer.SetReference(local); err != nil {
		return nil, 0, err
	}
	return local, written, nil
}

// clearPacks empties the pack folder of what a first fetch stopped halfway left: temporary
// files, an index whose pack was never renamed into place (the mirror holds no pack, or this
// would not run). The mirror is locked, so nobody else is writing there.
func clearPacks(packDir string) error {
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(packDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(packDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// clearTempPacks removes the packs that fetches stopped halfway were receiving: go-git leaves
// its tmp_pack_* behind when a fetch is cancelled, and nothing reads them. The mirror is locked,
// so nobody else is writing them.
func clearTempPacks(mirrorDir string) error {
	tmp, err := filepath.Glob(filepath.Join(mirrorDir, "objects", "pack", "tmp_pack_*"))
	if err != nil {
		return err
	}
	for _, p := range tmp {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// whole is an object as git hashes it: its type and inflated content, deltas resolved.
type whole struct {
	typ  plumbing.ObjectType
	data []byte
}

// keepBases bounds the inflated objects kept as possible delta bases. git writes a delta's base
// shortly before it, so nearly every base is found here; one that is not is read back from the
// pack written so far.
var keepBases = 64 << 20

// maxRebuilds bounds how often the path map is made again as trees keep arriving among blobs.
const maxRebuilds = 8

type blobJob struct {
	off  int64
	crc  uint32
	data []byte
}

type receiver struct {
	want plumbing.Hash // what the tag ref names
	tree string        // the folder the files go into

	pack       *os.File
	packOut    *bufio.Writer
	reread     *packfile.Scanner // the pack written so far, for bases no longer kept
	rereadFile *os.File

	idx     idxfile.Writer
	offsets sync.Map // plumbing.Hash → int64, every object's offset once hashed
	// Commits, tags and trees, kept for the whole fetch: the tree walk and later deltas need them.
	objects map[plumbing.Hash]*whole
	byOff   map[int64]*whole

	recent      map[int64]*whole
	recentOrder []int64
	recentSize  int

	paths     atomic.Pointer[map[plumbing.Hash][]exportItem]
	pathsFrom int // trees seen when paths was built
	rebuilds  int
	anchored  []plumbing.Hash            // trees written under anchors
	folders   map[plumbing.Hash][]string // every folder of the tree, once the pack is in
	trees     int
	dirs      sync.Map
	refDeltas []refDelta

	limit *budget // what may be inflated and written

	files   Progress
	done    counted      // files written
	count   atomic.Int64 // objects indexed
	written sync.Map     // path → true: files written
}

type refDelta struct {
	off   int64
	crc   uint32
	base  plumbing.Hash
	delta []byte
}

func newReceiver(want plumbing.Hash, tree string, files Progress) *receiver {
	return &receiver{want: want, tree: tree, files: files, limit: newBudget(Limits{}, gitHint),
		objects: map[plumbing.Hash]*whole{}, byOff: map[int64]*whole{}, recent: map[int64]*whole{}}
}

func (rc *receiver) close() {
	if rc.rereadFile != nil {
		rc.rereadFile.Close()
	}
	if rc.pack != nil {
		rc.pack.Close()
		os.Remove(rc.pack.Name())
	}
}

// receive reads the pack from stream into packDir, and writes the wanted tree's files. It returns
// the number of files written.
func (rc *receiver) receive(ctx context.Context, stream io.Reader, packDir string, workers int) (int64, error) {
	f, err := os.CreateTemp(packDir, "tmp_pack_")
	if err != nil {
		return 0, err
	}
	rc.pack, rc.packOut = f, bufio.NewWriterSize(f, 1<<20)
	sc := packfile.NewScanner(io.TeeReader(stream, rc.packOut))
	_, count, err := sc.Header()
	if err != nil {
		return 0, fmt.Errorf("reading the pack: %w", err)
	}
	if err := rc.idx.OnHeader(count); err != nil {
		return 0, err
	}

	stop := rc.done.report(rc.files)
	send, wait := startPool(ctx, workers, rc.blob)
	err = rc.scan(ctx, sc, count, send)
	if werr := wait(); werr != nil {
		err = werr // the scan stopped because a worker failed
	}
	stop()
	if err != nil {
		return 0, err
	}
	sum, err := sc.Checksum()
	if err != nil {
		return 0, fmt.Errorf("reading the pack: %w", err)
	}
	if err := rc.resolveRefDeltas(ctx); err != nil {
		return 0, err
	}
	if err := rc.finishTree(ctx, workers); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err // the last moment to stop: then the pack goes in
	}
	if err := rc.writePack(packDir, sum); err != nil {
		return 0, err
	}
	return rc.done.files.Load(), nil
}

// scan reads every object once, in pack order.
func (rc *receiver) scan(ctx context.Context, sc *packfile.Scanner, count uint32, send func(blobJob) error) error {
	for i := uint32(0); i < count; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := sc.NextObjectHeader()
		if err != nil {
			return fmt.Errorf("reading the pack: object %d of %d: %w", i+1, count, err)
		}
		what := fmt.Sprintf("the pack's object %d of %d (offset %d)", i+1, count, h.Offset)
		if err := rc.limit.entry(what, h.Length); err != nil {
			return err
		}
		// go-git's scanner refuses what inflates past the header's length (5.19 does): the header is what the cap checks.
		var buf bytes.Buffer
		buf.Grow(int(min(h.Length, 16<<20)))
		_, crc, err := sc.NextObject(&buf)
		if err != nil {
			return fmt.Errorf("reading the pack: object %d of %d at offset %d: %w", i+1, count, h.Offset, err)
		}
		typ, data := h.Type, buf.Bytes()
		switch typ {
		case plumbing.OFSDeltaObject:
			base, err := rc.base(h.OffsetReference)
			if err != nil {
				return fmt.Errorf("reading the pack: the base at %d of the delta at %d: %w", h.OffsetReference, h.Offset, err)
			}
			if err := rc.limit.delta(what, data); err != nil {
				return err
			}
			if data, err = packfile.PatchDelta(base.data, data); err != nil {
				return fmt.Errorf("reading the pack: the delta at %d: %w", h.Offset, err)
			}
			typ = base.typ
		case plumbing.REFDeltaObject:
			// Its base may not be hashed yet (or come later): resolved once the pack is read.
			rc.refDeltas = append(rc.refDeltas, refDelta{off: h.Offset, crc: crc, base: h.Reference, delta: data})
			continue
		}
		if err := rc.object(typ, data, h.Offset, crc, send); err != nil {
			return err
		}
	}
	return nil
}

// object files one whole object: a blob goes to the workers; anything else is hashed here and
// kept, since the tree walk and later deltas need it.
func (rc *receiver) object(typ plumbing.ObjectType, data []byte, off int64, crc uint32, send func(blobJob) error) error {
	rc.remember(off, typ, data)
	switch typ {
	case plumbing.BlobObject:
		// Trees can still arrive among the blobs (git sends the kernel's root tree last): the
		// map is made again a few times (not once anchors are in use), and blobs it never
		// placed are written at the end.
		if rc.paths.Load() == nil || (rc.trees != rc.pathsFrom && rc.rebuilds < maxRebuilds) {
			rc.rebuilds++
			if err := rc.buildPaths(false); err != nil {
				return err
			}
		}
		return send(blobJob{off: off, crc: crc, data: data})
	case plumbing.CommitObject, plumbing.TagObject, plumbing.TreeObject:
		h := plumbing.ComputeHash(typ, data)
		o := &whole{typ: typ, data: data}
		rc.objects[h], rc.byOff[off] = o, o
		if typ == plumbing.TreeObject {
			rc.trees++
		}
		rc.indexed(h, off, crc)
		return nil
	default:
		return fmt.Errorf("reading the pack: object at %d has type %s", off, typ)
	}
}

func (rc *receiver) indexed(h plumbing.Hash, off int64, crc uint32) {
	rc.idx.Add(h, uint64(off), crc)
	rc.offsets.Store(h, off)
	rc.count.Add(1)
}

// blob hashes a blob and writes it wherever the tree has it (a worker).
func (rc *receiver) blob(j blobJob) error {
	h := plumbing.ComputeHash(plumbing.BlobObject, j.data)
	rc.indexed(h, j.off, j.crc)
	return rc.writeBlob(h, j.data)
}

// writeBlob writes the blob h to the paths known so far that are not written yet; finishTree
// writes the rest.
func (rc *receiver) writeBlob(h plumbing.Hash, data []byte) error {
	paths := rc.paths.Load()
	if paths == nil {
		return nil
	}
	items, ok := (*paths)[h]
	if !ok {
		return nil
	}
	for _, it := range items {
		if _, already := rc.written.LoadOrStore(it.path, true); already {
			continue
		}
		// One blob may be named by any number of paths: the disk, too, is bounded.
		if err := rc.limit.write(it.path, int64(len(data))); err != nil {
			return err
		}
		if err := rc.done.write(rc.tree, it, data, &rc.dirs); err != nil {
			return err
		}
	}
	return nil
}

// remember keeps an object as a possible delta base, forgetting the oldest past recentBytes.
func (rc *receiver) remember(off int64, typ plumbing.ObjectType, data []byte) {
	rc.recent[off] = &whole{typ: typ, data: data}
	rc.recentOrder = append(rc.recentOrder, off)
	rc.recentSize += len(data)
	for rc.recentSize > keepBases && len(rc.recentOrder) > 1 {
		old := rc.recentOrder[0]
		rc.recentOrder = rc.recentOrder[1:]
		rc.recentSize -= len(rc.recent[old].data)
		delete(rc.recent, old)
	}
}

// base is the whole object at off: kept, or read back from the pack written so far.
func (rc *receiver) base(off int64) (*whole, error) {
	if c, ok := rc.recent[off]; ok {
		return c, nil
	}
	if o, ok := rc.byOff[off]; ok {
		return o, nil
	}
	return rc.readBack(off, 0)
}

// readBack inflates the object at off again from the pack file, resolving its delta chain.
func (rc *receiver) readBack(off int64, depth int) (*whole, error) {
	if depth > 10000 {
		return nil, fmt.Errorf("delta chain at %d does not end", off)
	}
	if err := rc.packOut.Flush(); err != nil {
		return nil, err
	}
	if rc.reread == nil {
		f, err := os.Open(rc.pack.Name())
		if err != nil {
			return nil, err
		}
		rc.reread, rc.rereadFile = packfile.NewScanner(f), f
	}
	h, err := rc.reread.SeekObjectHeader(off)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, _, err := rc.reread.NextObject(&buf); err != nil {
		return nil, err
	}
	var base *whole
	switch h.Type {
	case plumbing.OFSDeltaObject:
		if c, ok := rc.recent[h.OffsetReference]; ok {
			base = c
		} else if base, err = rc.readBack(h.OffsetReference, depth+1); err != nil {
			return nil, err
		}
	case plumbing.REFDeltaObject:
		v, ok := rc.offsets.Load(h.Reference)
		if !ok {
			return nil, fmt.Errorf("delta at %d on %s, which is not in the pack", off, h.Reference)
		}
		if base, err = rc.readBack(v.(int64), depth+1); err != nil {
			return nil, err
		}
	default:
		return &whole{typ: h.Type, data: buf.Bytes()}, nil
	}
	data, err := packfile.PatchDelta(base.data, buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("delta at %d: %w", off, err)
	}
	return &whole{typ: base.typ, data: data}, nil
}

// resolveRefDeltas resolves the deltas that named their base by hash, now that every other
// object is hashed; one may be the base of another, so it goes round until nothing is left.
func (rc *receiver) resolveRefDeltas(ctx context.Context) error {
	left := rc.refDeltas
	for len(left) > 0 {
		var next []refDelta
		for _, d := range left {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, ok := rc.offsets.Load(d.base)
			if !ok {
				next = append(next, d)
				continue
			}
			base, err := rc.base(v.(int64))
			if err != nil {
				return fmt.Errorf("reading the pack: the base %s of the delta at %d: %w", d.base, d.off, err)
			}
			if err := rc.limit.delta(fmt.Sprintf("the pack's delta at offset %d", d.off), d.delta); err != nil {
				return err
			}
			data, err := packfile.PatchDelta(base.data, d.delta)
			if err != nil {
				return fmt.Errorf("reading the pack: the delta at %d: %w", d.off, err)
			}
			h := plumbing.ComputeHash(base.typ, data)
			rc.indexed(h, d.off, d.crc)
			if base.typ == plumbing.TreeObject || base.typ == plumbing.CommitObject || base.typ == plumbing.TagObject {
				o := &whole{typ: base.typ, data: data}
				rc.objects[h], rc.byOff[d.off] = o, o
			}
		}
		if len(next) == len(left) {
			return fmt.Errorf("reading the pack: the delta at %d is on %s, which is not in the pack", next[0].off, next[0].base)
		}
		left = next
	}
	rc.refDeltas = nil
	return nil
}

// finishTree walks the whole tree now that every object is in, and writes the blobs that came
// before their paths were known (or by REF_DELTA). git's own packs can send the root tree after
// every blob (the kernel's does), so this may be nearly all of them: they are read back from the
// pack on disk in pack order, bases kept as while streaming, and written by the workers.
func (rc *receiver) finishTree(ctx context.Context, workers int) error {
	if err := rc.buildPaths(true); err != nil {
		return err
	}
	if err := rc.placeAnchors(); err != nil {
		return err
	}
	type late struct {
		off int64
		h   plumbing.Hash
	}
	var todo []late
	for h, items := range *rc.paths.Load() {
		if !slices.ContainsFunc(items, func(it exportItem) bool { _, done := rc.written.Load(it.path); return !done }) {
			continue
		}
		v, ok := rc.offsets.Load(h)
		if !ok {
			return fmt.Errorf("the pack lacks blob %s (%s)", h, items[0].path)
		}
		todo = append(todo, late{v.(int64), h})
	}
	slices.SortFunc(todo, func(a, b late) int { return cmp.Compare(a.off, b.off) })
	rc.recent, rc.recentOrder, rc.recentSize = map[int64]*whole{}, nil, 0
	send, wait := startPool(ctx, workers, func(l lateBlob) error { return rc.writeBlob(l.h, l.data) })
	var err error
	for _, l := range todo {
		var o *whole
		if o, err = rc.base(l.off); err != nil {
			err = fmt.Errorf("reading the pack: blob %s: %w", l.h, err)
			break
		}
		if o.typ != plumbing.BlobObject {
			err = fmt.Errorf("the pack's %s is a %s, where the tree has a file", l.h, o.typ)
			break
		}
		rc.remember(l.off, o.typ, o.data)
		if err = send(lateBlob{l.h, o.data}); err != nil {
			break
		}
	}
	if werr := wait(); werr != nil {
		err = werr // the reading stopped because a writer failed
	}
	if err == nil {
		// Every file is in place once; an anchor written again elsewhere counted twice.
		var files int64
		for _, items := range *rc.paths.Load() {
			files += int64(len(items))
		}
		rc.done.files.Store(files)
	}
	return err
}

// placeAnchors renames each folder written under anchors to where the tree has it (shallowest
// first, so a folder inside another lands in it), and counts its files as written there. A
// folder the tree has twice is written again at its other place; one it does not have goes.
func (rc *receiver) placeAnchors() error {
	if len(rc.anchored) == 0 {
		return nil
	}
	slices.SortFunc(rc.anchored, func(a, b plumbing.Hash) int {
		return cmp.Compare(depth(rc.folders[a]), depth(rc.folders[b]))
	})
	for _, h := range rc.anchored {
		at := rc.folders[h]
		from := anchors + h.String()
		if len(at) == 0 || at[0] == "" {
			continue // not in the tree after all (or the root itself): written again, or dropped
		}
		to := filepath.Join(rc.tree, filepath.FromSlash(at[0]))
		if _, err := os.Lstat(to); err == nil {
			continue // already there: its files are written again
		}
		if _, err := treepath.MkdirAll(rc.tree, at[0]); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(rc.tree, filepath.FromSlash(from)), to); err != nil {
			if os.IsNotExist(err) {
				continue // no file of it was written
			}
			return err
		}
		prefix := from + "/"
		rc.written.Range(func(k, _ any) bool {
			if rest, ok := strings.CutPrefix(k.(string), prefix); ok {
				rc.written.Store(at[0]+"/"+rest, true)
			}
			return true
		})
	}
	return os.RemoveAll(filepath.Join(rc.tree, ".git"))
}

// depth is the folder depth of the first of paths; folders nowhere sort last.
func depth(paths []string) int {
	if len(paths) == 0 {
		return math.MaxInt
	}
	return strings.Count(paths[0], "/")
}

type lateBlob struct {
	h    plumbing.Hash
	data []byte
}

// buildPaths maps each blob of the wanted commit's tree to the paths it goes to. Until the pack is
// all in (final false), objects not seen yet are skipped: their blobs are written at the end.
//
// git's pack for the kernel sends the root tree after every blob, so while the blobs stream in
// no path from the root is known. The folders whose parent has not arrived (anchors) are then
// written under .git/anchors/<tree> (no tree entry may be named .git) and renamed into place by
// finishTree once the root is in; from then on the map is not rebuilt.
func (rc *receiver) buildPaths(final bool) error {
	paths := map[plumbing.Hash][]exportItem{}
	folders := map[plumbing.Hash][]string{}
	rc.pathsFrom = rc.trees
	missing := func(what string, h plumbing.Hash) error {
		if final {
			return fmt.Errorf("the pack lacks %s %s", what, h)
		}
		return nil
	}
	root, err := rc.rootTree()
	switch {
	case err != nil:
		return err
	case root.IsZero():
		if final {
			return missing("object", rc.want)
		}
	default:
		if err := rc.walk(root, "", paths, folders, missing); err != nil {
			return err
		}
	}
	switch {
	case final:
		rc.folders = folders
	case len(folders) < rc.trees: // some tree seen is not reached from the root
		if err := rc.anchor(paths, folders); err != nil {
			return err
		}
	}
	rc.paths.Store(&paths)
	return nil
}

// rootTree follows the wanted ref to its commit's tree; zero while an object on the way is
// still to come.
func (rc *receiver) rootTree() (plumbing.Hash, error) {
	h := rc.want
	for range 10 { // a tag of a tag of a commit
		o, ok := rc.objects[h]
		if !ok {
			return plumbing.ZeroHash, nil
		}
		switch o.typ {
		case plumbing.TagObject:
			var tag object.Tag
			if err := tag.Decode(memObject(o)); err != nil {
				return plumbing.ZeroHash, fmt.Errorf("tag %s: %w", h, err)
			}
			h = tag.Target
		case plumbing.CommitObject:
			var c object.Commit
			if err := c.Decode(memObject(o)); err != nil {
				return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
			}
			if _, ok := rc.objects[c.TreeHash]; !ok {
				return plumbing.ZeroHash, nil
			}
			return c.TreeHash, nil
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", h, o.typ)
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: too many tags of tags", rc.want)
}

const anchors = ".git/anchors/"

// anchor adds to paths the files of every tree seen that neither the walk from the root reached
// nor any other tree seen names, under anchors.
func (rc *receiver) anchor(paths map[plumbing.Hash][]exportItem, reached map[plumbing.Hash][]string) error {
	named := map[plumbing.Hash]bool{}
	for _, o := range rc.objects {
		if o.typ != plumbing.TreeObject {
			continue
		}
		var t object.Tree
		if err := t.Decode(memObject(o)); err != nil {
			return err
		}
		for _, e := range t.Entries {
			if e.Mode == filemode.Dir {
				named[e.Hash] = true
			}
		}
	}
	for h, o := range rc.objects {
		if o.typ != plumbing.TreeObject || named[h] || len(reached[h]) > 0 {
			continue
		}
		if err := rc.walk(h, anchors+h.String()+"/", paths, map[plumbing.Hash][]string{}, func(string, plumbing.Hash) error { return nil }); err != nil {
			return err
		}
		rc.anchored = append(rc.anchored, h)
	}
	if len(rc.anchored) > 0 {
		rc.rebuilds = maxRebuilds // anchors must not move under blobs already written
	}
	return nil
}

// walk adds the files of tree h, under prefix, to paths, and the folder itself to folders.
func (rc *receiver) walk(h plumbing.Hash, prefix string, paths map[plumbing.Hash][]exportItem, folders map[plumbing.Hash][]string, missing func(string, plumbing.Hash) error) error {
	o, ok := rc.objects[h]
	if !ok {
		return missing("tree", h)
	}
	folders[h] = append(folders[h], strings.TrimSuffix(prefix, "/"))
	if o.typ != plumbing.TreeObject {
		return fmt.Errorf("%s (%s) is a %s, not a tree", h, strings.TrimSuffix(prefix, "/"), o.typ)
	}
	var t object.Tree
	if err := t.Decode(memObject(o)); err != nil {
		return fmt.Errorf("tree %s (%s): %w", h, strings.TrimSuffix(prefix, "/"), err)
	}
	if err := checkFolder(strings.TrimPrefix(prefix, anchors), t.Entries); err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		name := prefix + e.Name
		switch e.Mode {
		case filemode.Dir:
			if err := rc.walk(e.Hash, name+"/", paths, folders, missing); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated, filemode.Symlink:
			paths[e.Hash] = append(paths[e.Hash], exportItem{path: name, mode: e.Mode, hash: e.Hash})
		}
	}
	return nil
}

func memObject(o *whole) plumbing.EncodedObject {
	m := &plumbing.MemoryObject{}
	m.SetType(o.typ)
	m.Write(o.data)
	return m
}

// writePack checks the pack's end and puts pack and index in place, the index last: git and
// go-git use a pack only once its index is there.
func (rc *receiver) writePack(packDir string, sum plumbing.Hash) error {
	if err := rc.packOut.Flush(); err != nil {
		return err
	}
	info, err := rc.pack.Stat()
	if err != nil {
		return err
	}
	tail := make([]byte, 20)
	if _, err := rc.pack.ReadAt(tail, info.Size()-20); err != nil || !bytes.Equal(tail, sum[:]) {
		return errors.New("reading the pack: data after its checksum")
	}
	if err := rc.pack.Chmod(0o444); err != nil { // as git leaves its packs
		return err
	}
	if err := rc.pack.Sync(); err != nil {
		return err
	}
	if err := rc.idx.OnFooter(sum); err != nil {
		return err
	}
	idx, err := rc.idx.Index()
	if err != nil {
		return err
	}
	if n, err := idx.Count(); err != nil || n != int64(rc.count.Load()) {
		return fmt.Errorf("reading the pack: %d objects, of which %d distinct", rc.count.Load(), n)
	}
	// The index first: git and go-git look for packs by their .pack name, so a run stopped
	// between the two leaves an index nobody reads (removed by the next first fetch), never a
	// pack without its index, which go-git refuses to open.
	base := filepath.Join(packDir, "pack-"+sum.String())
	f, err := atomicfile.Create(base+".idx", 0o444)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := idxfile.NewEncoder(f).Encode(idx); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	if err := os.Rename(rc.pack.Name(), base+".pack"); err != nil {
		os.Remove(base + ".idx")
		return err
	}
	rc.pack.Close()
	rc.pack = nil
	return nil
}
