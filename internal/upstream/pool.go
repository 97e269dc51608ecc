package upstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// startPool starts n goroutines calling do on each job sent on the returned channel. The first
// error cancels the returned context, so the sender stops (its send should select on it), and
// the remaining jobs are drained unread. wait closes the channel and returns that error once
// every goroutine is done.
func startPool[T any](ctx context.Context, n int, do func(T) error) (chan<- T, context.Context, func() error) {
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
	return jobs, ctx, func() error {
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
