package upstream

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// startPool starts n goroutines calling do on each job given to send. The first error stops
// the pool: send then returns an error instead of queueing, and the jobs already queued are
// drained unread. send also stops when ctx is done, even while the queue has room, so a caller
// that reads before sending (a pack, a mirror) stops reading at once. wait returns that first
// error once every goroutine is done; nothing may be sent after it.
func startPool[T any](ctx context.Context, n int, do func(T) error) (send func(T) error, wait func() error) {
	ctx, cancel := context.WithCancel(ctx)
	jobs := make(chan T, 64)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := do(j); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	send = func(j T) error {
		if err := ctx.Err(); err != nil {
			return err // select would pick at random between a free slot and done
		}
		select {
		case jobs <- j:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return send, func() error {
		close(jobs)
		wg.Wait()
		cancel()
		return firstErr
	}
}

// counted is what a tree writer has done so far.
type counted struct {
	files, bytes atomic.Int64
}

// write writes one file under root (writeFrom) and counts it.
func (c *counted) write(root string, it exportItem, data []byte, dirs *sync.Map) error {
	return c.writeFrom(root, it, bytes.NewReader(data), int64(len(data)), dirs)
}

// writeFrom is write with the size bytes of the file read from r.
func (c *counted) writeFrom(root string, it exportItem, r io.Reader, size int64, dirs *sync.Map) error {
	if err := writeFrom(root, it, r, dirs); err != nil {
		return err
	}
	c.files.Add(1)
	c.bytes.Add(size)
	return nil
}

// report calls progress with the counts a few times a second until the returned stop, and once
// more then. A nil progress reports nothing.
func (c *counted) report(progress Progress) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				progress(c.files.Load(), c.bytes.Load())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		progress(c.files.Load(), c.bytes.Load())
	}
}
