package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
)

// ErrTooLarge is wrapped by every refusal of a download that would unpack past a Limits cap.
var ErrTooLarge = errors.New("too large to unpack")

// Default caps. The tree is unpacked before its signature can be checked (it is checked in the
// same pass), so what an unverified download may make us write or hold must be bounded. The
// 6.12 tree is 1.49 GB in 88,000 files, its largest file 23.9 MB
// (drivers/gpu/drm/amd/include/asic_reg/dcn/dcn_3_2_0_sh_mask.h): the caps leave room for the
// tree to grow several times over, and stop a bomb long before the disk or memory fills.
const (
	DefaultMaxUnpacked int64 = 8 << 30   // all files together, or all objects of a pack
	DefaultMaxEntry    int64 = 256 << 20 // one file of a tarball, one object of a pack
)

// Limits bounds what one fetch may unpack. Zero fields take the defaults.
type Limits struct {
	MaxUnpacked int64 // bytes of all files (tarball) or all inflated objects (git pack)
	MaxEntry    int64 // bytes of one file (tarball) or one inflated object (git pack)
}

// WithDefaults is l with the defaults in its zero fields.
func (l Limits) WithDefaults() Limits {
	if l.MaxUnpacked <= 0 {
		l.MaxUnpacked = DefaultMaxUnpacked
	}
	if l.MaxEntry <= 0 {
		l.MaxEntry = DefaultMaxEntry
	}
	return l
}

// budget counts the bytes a fetch has unpacked against its caps. It is safe for concurrent use.
type budget struct {
	Limits
	used    atomic.Int64 // declared sizes of what was unpacked
	written atomic.Int64 // bytes written to files, when one item may be written to many
	hint    string       // what to do about a refusal, for the error
}

func newBudget(l Limits, hint string) *budget {
	return &budget{Limits: l.WithDefaults(), hint: hint}
}

// one refuses one item of size bytes (as its header declares it) past the cap for one, before
// anything of it is read or written.
func (b *budget) one(what string, size int64) error {
	if size > b.MaxEntry {
		return fmt.Errorf("%w: %s declares %s, over the cap of %s for one %s; %s", ErrTooLarge, what, bytesText(size), bytesText(b.MaxEntry), b.unit(), b.hint)
	}
	return nil
}

// entry is one, and takes the item from the total.
func (b *budget) entry(what string, size int64) error {
	if err := b.one(what, size); err != nil {
		return err
	}
	if total := b.used.Add(size); total > b.MaxUnpacked {
		return fmt.Errorf("%w: %s would take what is unpacked to %s, over the cap of %s; %s", ErrTooLarge, what, bytesText(total), bytesText(b.MaxUnpacked), b.hint)
	}
	return nil
}

// delta refuses a git delta whose result, as its header declares it, is past the cap for one
// object, and takes the result from the total. go-git's PatchDelta allocates the declared size
// before it applies a single instruction.
func (b *budget) delta(what string, delta []byte) error {
	size, err := deltaSize(delta)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return b.entry(what+", a delta whose result", size)
}

// deltaSize is the size of a git delta's result, as its header declares it.
func deltaSize(delta []byte) (int64, error) {
	_, rest, err := deltaVarint(delta) // the base's size
	if err != nil {
		return 0, err
	}
	size, _, err := deltaVarint(rest)
	return int64(size), err
}

// deltaVarint reads one of the sizes a git delta starts with: little-endian base-128.
func deltaVarint(b []byte) (uint64, []byte, error) {
	var n uint64
	for i, c := range b {
		if i > 9 {
			break
		}
		n |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if n > math.MaxInt64 {
				return 0, nil, errors.New("the delta's size is out of range")
			}
			return n, b[i+1:], nil
		}
	}
	return 0, nil, errors.New("the delta's header is cut short")
}

// write takes n bytes written to a file from the total.
func (b *budget) write(what string, n int64) error {
	if total := b.written.Add(n); total > b.MaxUnpacked {
		return fmt.Errorf("%w: writing %s would take the files written to %s, over the cap of %s; %s", ErrTooLarge, what, bytesText(total), bytesText(b.MaxUnpacked), b.hint)
	}
	return nil
}

// wire bounds what a pack may send as it comes over the wire, before anything inflates it. The
// caps above hold what objects inflate to; a stream of empty deflate blocks inflates to nothing
// and never ends, so the pack's own bytes are held to MaxUnpacked too (a kernel's pack is a
// fraction of what it inflates to: 0.25 GB against 1.5).
func (b *budget) wire(r io.Reader) io.Reader { return &wireReader{r: r, b: b} }

type wireReader struct {
	r    io.Reader
	b    *budget
	read int64
}

func (w *wireReader) Read(p []byte) (int, error) {
	if w.read > w.b.MaxUnpacked {
		return 0, w.over()
	}
	if rest := w.b.MaxUnpacked + 1 - w.read; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := w.r.Read(p)
	if w.read += int64(n); w.read > w.b.MaxUnpacked {
		return n, w.over()
	}
	return n, err
}

func (w *wireReader) over() error {
	return fmt.Errorf("%w: the pack sent more than %s over the wire, the cap for all it may unpack; %s", ErrTooLarge, bytesText(w.b.MaxUnpacked), w.b.hint)
}

func (b *budget) unit() string {
	if b.hint == gitHint {
		return "object"
	}
	return "file"
}

const (
	tarballHint = "a kernel tarball is well under both (upstream.max_unpacked and upstream.max_entry in pipeline.yaml raise them): check upstream.tarballs is kernel.org or a true mirror of it"
	gitHint     = "a kernel release is well under both (upstream.max_unpacked and upstream.max_entry in pipeline.yaml raise them): check upstream.git is kernel.org or a true mirror of it"
)

// bytesText is n in the largest binary unit that keeps one decimal.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// copyChunks copies r to w through buf a chunk at a time, checking ctx between chunks: a single
// file of a tarball can be gigabytes, and Ctrl-C must not wait for it to end. The caller keeps buf
// for all the files it copies: a kernel tarball holds 88,000, and a buffer made for each was
// 88 GiB allocated and zeroed, a garbage collection every file or two.
func copyChunks(ctx context.Context, w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			wm, werr := w.Write(buf[:m])
			n += int64(wm)
			if werr != nil {
				return n, werr
			}
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
