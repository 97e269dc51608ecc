package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// cappedStorage is the mirror's storage as go-git's own fetch sees it (a tag fetched into a
// mirror that already holds objects, see fetchTag). go-git indexes the pack it receives with no
// cap: it inflates every object whole and allocates whatever size a delta declares. Here the pack
// is read first, as it streams in, by checkPack, into a file beside the mirror's packs, and is
// handed to go-git only once every object in it is within the caps. A refused pack is removed:
// go-git stores nothing of it, and its fetch fails before it moves a ref.
type cappedStorage struct {
	storage.Storer
	packDir string
	limit   *budget
	// stop cancels the fetch with the refusal. go-git must see the refusal as a failed read of
	// the connection, not a failed write of the pack: only a failed read makes it kill the
	// server's process, and closing the connection otherwise waits for a server blocked on
	// sending what nobody reads.
	stop context.CancelCauseFunc
}

// PackfileWriter is where go-git writes the pack it receives.
func (s *cappedStorage) PackfileWriter() (io.WriteCloser, error) {
	next, ok := s.Storer.(storer.PackfileWriter)
	if !ok {
		return nil, errors.New("the mirror's storage cannot take a pack")
	}
	f, err := os.CreateTemp(s.packDir, "tmp_pack_") // what a stopped run leaves, clearTempPacks clears
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &checkedPack{pw: pw, spool: f, next: next, checked: make(chan error, 1)}
	go func() {
		err := checkPack(pr, f, s.limit)
		// A pack cut short because go-git stopped writing is go-git's failure to report.
		if err != nil && !w.closed.Load() && s.stop != nil {
			s.stop(err)
		}
		pr.CloseWithError(err)
		w.checked <- err
	}()
	return w, nil
}

// checkedPack is the pack go-git writes: checked as it is written, and stored once it is whole.
type checkedPack struct {
	pw      *io.PipeWriter
	spool   *os.File
	next    storer.PackfileWriter
	checked chan error
	closed  atomic.Bool // go-git has written all it will
}

// Write passes p to the check. Once the check has refused the pack, the rest is dropped while
// go-git reads on until it sees the fetch stopped (cappedStorage.stop).
func (w *checkedPack) Write(p []byte) (int, error) {
	w.pw.Write(p)
	return len(p), nil
}

// Close waits for the check and, if the whole pack passed it, gives it to go-git's storage.
func (w *checkedPack) Close() error {
	w.closed.Store(true)
	w.pw.Close()
	err := <-w.checked
	defer os.Remove(w.spool.Name())
	defer w.spool.Close()
	if err != nil {
		return err
	}
	if _, err := w.spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	dst, err := w.next.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, w.spool); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// checkPack reads a pack from r to its end, writing it to spool, and refuses it at the first
// object past lim's caps: by the size its header declares, before inflating it, and for a delta
// also by the size its result declares (go-git allocates that before applying the delta), which
// its first bytes say. Objects are inflated only to find where the next one starts: nothing of
// them is kept but those first bytes.
func checkPack(r io.Reader, spool *os.File, lim *budget) error {
	out := bufio.NewWriterSize(spool, 1<<20)
	sc := packfile.NewScanner(io.TeeReader(lim.wire(r), out))
	_, count, err := sc.Header()
	if err != nil {
		return fmt.Errorf("reading the pack: %w", err)
	}
	for i := range count {
		h, err := sc.NextObjectHeader()
		if err != nil {
			return fmt.Errorf("reading the pack: object %d of %d: %w", i+1, count, err)
		}
		what := fmt.Sprintf("the pack's object %d of %d (offset %d)", i+1, count, h.Offset)
		if err := lim.entry(what, h.Length); err != nil {
			return err
		}
		var head prefix
		// go-git's scanner refuses what inflates past the header's length (5.19 does).
		if _, _, err := sc.NextObject(&head); err != nil {
			return fmt.Errorf("reading the pack: object %d of %d at offset %d: %w", i+1, count, h.Offset, err)
		}
		if h.Type.IsDelta() {
			if err := lim.delta(what, head.b); err != nil {
				return err
			}
		}
	}
	sum, err := sc.Checksum()
	if err != nil {
		return fmt.Errorf("reading the pack: %w", err)
	}
	// The pack must end there: go-git would store whatever follows with it.
	if n, _ := io.Copy(out, io.LimitReader(r, 1)); n > 0 {
		return errors.New("reading the pack: data after its checksum")
	}
	if err := out.Flush(); err != nil {
		return err
	}
	tail := make([]byte, len(sum))
	info, err := spool.Stat()
	if err != nil {
		return err
	}
	if _, err := spool.ReadAt(tail, info.Size()-int64(len(tail))); err != nil || !bytes.Equal(tail, sum[:]) {
		return errors.New("reading the pack: data after its checksum")
	}
	return nil
}

// prefix keeps the first bytes written to it, enough for a delta's header (two sizes of at most
// ten bytes each), and takes the rest without keeping it.
type prefix struct{ b []byte }

func (p *prefix) Write(b []byte) (int, error) {
	if room := 20 - len(p.b); room > 0 {
		p.b = append(p.b, b[:min(room, len(b))]...)
	}
	return len(b), nil
}
