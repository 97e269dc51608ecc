package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packOrder writes blobs by reading the mirror's packs in pack order, as index-pack does: every
// object a wanted blob needs (the blob and the bases of its delta chain) is inflated once, in
// offset order, and a base is kept only until its last needed delta is done. Reading object by
// object through go-git's store resolves each delta chain from scratch, which costs several times
// as much on a kernel pack. Blobs it writes are removed from want; what is left there (loose
// objects, deltas on another pack's objects, blobs past streamAbove stored whole, to stream) is
// for the object-by-object path. Every object read is held to lim's cap for one by the size its
// header declares (a delta: its result's), before it is inflated. A cancelled ctx stops it
// between two objects.
func packOrder(ctx context.Context, repoDir string, want map[plumbing.Hash][]exportItem, lim *budget, emit func(data []byte, items []exportItem) error) error {
	idxs, err := filepath.Glob(filepath.Join(repoDir, "objects", "pack", "pack-*.idx"))
	if err != nil {
		return err
	}
	// Only a failure to read the pack means damage; emit's errors (the run was cancelled, the
	// writers stopped) are the caller's, and must not make it throw the mirror away.
	var emitErr error
	emitting := func(data []byte, items []exportItem) error {
		if err := emit(data, items); err != nil {
			emitErr = err
			return err
		}
		return nil
	}
	for _, idxPath := range idxs {
		if len(want) == 0 {
			break
		}
		if err := exportPack(ctx, idxPath, want, lim, emitting); err != nil {
			if emitErr != nil {
				return emitErr
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrTooLarge) {
				return err // what the mirror holds, as upstream sent it: not damage
			}
			return fmt.Errorf("%w: %s: %v", ErrDamaged, filepath.Base(idxPath), err)
		}
	}
	return nil
}

type packObject struct {
	base     int64 // offset of the delta base in this pack; -1 if none or external
	external plumbing.Hash
	delta    bool
	size     int64 // as its header declares it: a delta's own size, not its result's
	children int   // needed deltas based on this object not yet resolved
}

func exportPack(ctx context.Context, idxPath string, left map[plumbing.Hash][]exportItem, lim *budget, emit func([]byte, []exportItem) error) error {
	idx, wanted, err := wantedIn(idxPath, left)
	if err != nil || len(wanted) == 0 {
		return err
	}
	pack, err := os.Open(strings.TrimSuffix(idxPath, ".idx") + ".pack")
	if err != nil {
		return err
	}
	defer pack.Close()
	sc := packfile.NewScanner(pack)
	objs, err := dependencies(ctx, sc, idx, wanted)
	if err != nil {
		return err
	}
	name := func(off int64) string {
		if h, ok := wanted[off]; ok {
			return fmt.Sprintf("%s (%s)", left[h][0].path, h)
		}
		return fmt.Sprintf("the object at offset %d of %s", off, filepath.Base(pack.Name()))
	}
	for off, o := range objs {
		if err := lim.one(name(off), o.size); err != nil {
			return err
		}
	}
	for off := range wanted {
		o := objs[off]
		if !o.delta && o.size > streamAbove && o.children == 0 {
			delete(wanted, off) // streamed to its files, not held here
			continue
		}
		// A delta on an object in another pack (a thin pack's REF_DELTA) is left to the
		// object-by-object path, with the chain it would have needed.
		for o.base >= 0 {
			o = objs[o.base]
		}
		if o.delta {
			delete(wanted, off)
		}
	}
	return inflateInOrder(ctx, sc, objs, idxPath, wanted, func(off int64, delta []byte) error {
		size, err := deltaSize(delta)
		if err != nil {
			return err
		}
		return lim.one(name(off)+", a delta whose result", size)
	}, func(h plumbing.Hash, data []byte) error {
		if err := emit(data, left[h]); err != nil {
			return err
		}
		delete(left, h)
		return nil
	})
}

// wantedIn reads the pack index at idxPath and finds the offsets of the blobs left to write.
func wantedIn(idxPath string, left map[plumbing.Hash][]exportItem) (*idxfile.MemoryIndex, map[int64]plumbing.Hash, error) {
	idx := idxfile.NewMemoryIndex()
	f, err := os.Open(idxPath)
	if err != nil {
		return nil, nil, err
	}
	err = idxfile.NewDecoder(f).Decode(idx)
	f.Close()
	if err != nil {
		return nil, nil, err
	}
	wanted := map[int64]plumbing.Hash{}
	iter, err := idx.Entries()
	if err != nil {
		return nil, nil, err
	}
	defer iter.Close()
	for {
		e, err := iter.Next()
		if err == io.EOF {
			return idx, wanted, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if _, ok := left[e.Hash]; ok {
			wanted[int64(e.Offset)] = e.Hash
		}
	}
}

// dependencies reads headers only (no inflating), to find every object the wanted blobs depend
// on (pass A).
func dependencies(ctx context.Context, sc *packfile.Scanner, idx *idxfile.MemoryIndex, wanted map[int64]plumbing.Hash) (map[int64]*packObject, error) {
	objs := map[int64]*packObject{}
	var visit func(off int64) (*packObject, error)
	visit = func(off int64) (*packObject, error) {
		if o, ok := objs[off]; ok {
			return o, nil
		}
		h, err := sc.SeekObjectHeader(off)
		if err != nil {
			return nil, err
		}
		o := &packObject{base: -1, size: h.Length}
		objs[off] = o
		switch h.Type {
		case plumbing.OFSDeltaObject:
			o.delta, o.base = true, h.OffsetReference
		case plumbing.REFDeltaObject:
			o.delta = true
			if b, err := idx.FindOffset(h.Reference); err == nil {
				o.base = b
			} else {
				o.external = h.Reference
			}
		}
		if o.base >= 0 {
			b, err := visit(o.base)
			if err != nil {
				return nil, err
			}
			b.children++
		}
		return o, nil
	}
	for off := range wanted {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := visit(off); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// inflateInOrder inflates the objects in offset order, keeping a base while deltas still need
// it, and gives each wanted one to got (pass B). check sees each delta before it is applied.
func inflateInOrder(ctx context.Context, sc *packfile.Scanner, objs map[int64]*packObject, idxPath string, wanted map[int64]plumbing.Hash, check func(off int64, delta []byte) error, got func(plumbing.Hash, []byte) error) error {
	cache := map[int64][]byte{}
	var buf bytes.Buffer
	var content func(off int64) ([]byte, error)
	content = func(off int64) ([]byte, error) {
		if data, ok := cache[off]; ok {
			return data, nil
		}
		o := objs[off]
		if _, err := sc.SeekObjectHeader(off); err != nil {
			return nil, err
		}
		buf.Reset()
		if _, _, err := sc.NextObject(&buf); err != nil {
			return nil, err
		}
		raw := slices.Clone(buf.Bytes())
		data := raw
		if o.delta {
			if err := check(off, raw); err != nil {
				return nil, err
			}
			base, err := deltaBase(o, content, cache, objs, idxPath)
			if err != nil {
				return nil, err
			}
			if data, err = packfile.PatchDelta(base, raw); err != nil {
				return nil, err
			}
		}
		if o.children > 0 {
			cache[off] = data
		}
		return data, nil
	}
	for _, off := range slices.Sorted(maps.Keys(objs)) {
		h, isWanted := wanted[off]
		if !isWanted && objs[off].children == 0 {
			continue // already consumed by every delta that needed it
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := content(off)
		if err != nil {
			return err
		}
		if isWanted {
			if err := got(h, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// deltaBase returns the base of a delta and gives back its cache slot once no needed delta is
// left on it.
func deltaBase(o *packObject, content func(int64) ([]byte, error), cache map[int64][]byte, objs map[int64]*packObject, pack string) ([]byte, error) {
	if o.base < 0 {
		return nil, fmt.Errorf("delta on %s, which is not in %s", o.external, filepath.Base(pack))
	}
	base, err := content(o.base)
	if err != nil {
		return nil, err
	}
	b := objs[o.base]
	b.children--
	if b.children <= 0 {
		delete(cache, o.base)
	}
	return base, nil
}
