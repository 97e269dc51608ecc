package pipeline

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// canOverlap: kbuild run (the other walks describe, compare or rebuild, and boot nothing beside
// a compile), at least two arches, a light row in the group for the next arch to compile
// beside, and no --sequential.
func (r *run) canOverlap(arches []*archRun, group []*stage) bool {
	return r.mode == inRun && len(arches) >= 2 && !r.opts.Sequential && slices.ContainsFunc(group, func(s *stage) bool { return s.light })
}

// overlapped runs the arches through the group in order, one compile at a time, on a machine
// too small to build them side by side: an arch holds the cores through its heavy rows (make
// -j with every core), and once it reaches a light row (its boot or conformance run, one
// emulated CPU thread) the next arch starts compiling beside it. An arch whose predecessor
// failed does not start, as in a sequential run. Each arch's lines are held until the arches
// before it are done with the group, and the group's records are put in arch order: the output
// and the manifest read as a sequential run's.
func (r *run) overlapped(ctx context.Context, arches []*archRun, group []*stage, visit visitor) error {
	lines := newOrderedLines(r.opts.Out, len(arches))
	var first int
	r.record(func() { first = len(r.m.Stages) })
	var cores sync.Mutex
	var failed atomic.Bool
	start := make([]chan struct{}, len(arches)+1) // start[i] closes when arch i may begin
	for i := range start {
		start[i] = make(chan struct{})
	}
	close(start[0])
	errs := make([]error, len(arches))
	var wg sync.WaitGroup
	for i, ar := range arches {
		ar.console = lines.writer(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := sync.OnceFunc(func() { close(start[i+1]) })
			defer next()
			defer lines.done(i)
			select {
			case <-start[i]:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			if failed.Load() {
				return
			}
			ar.tree.Src, ar.tree.Timestamp = r.st.src, r.st.commitTS()
			holding := false
			defer func() {
				if holding {
					cores.Unlock()
				}
			}()
			for _, s := range group {
				switch {
				case s.light && holding:
					cores.Unlock()
					holding = false
					next()
				case !s.light && !holding:
					cores.Lock()
					holding = true
				}
				if err := r.visitIf(ctx, s, ar, visit); err != nil {
					errs[i] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	r.record(func() {
		order := func(st manifest.Stage) int {
			return slices.IndexFunc(arches, func(ar *archRun) bool { return ar.a.Name == st.Arch })
		}
		slices.SortStableFunc(r.m.Stages[first:], func(a, b manifest.Stage) int { return order(a) - order(b) })
	})
	for _, ar := range arches {
		ar.console = nil
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// orderedLines holds each arch's console lines until the arches before it are done: only the
// first unfinished arch writes through, the others into their buffers.
type orderedLines struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []bytes.Buffer
	finished []bool
	live     int // the arch writing through
}

func newOrderedLines(w io.Writer, n int) *orderedLines {
	return &orderedLines{w: w, buf: make([]bytes.Buffer, n), finished: make([]bool, n)}
}

// writer is arch i's console.
func (o *orderedLines) writer(i int) io.Writer { return archLines{o, i} }

// done marks arch i finished with the group; the next unfinished arch's held lines go out.
func (o *orderedLines) done(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[i] = true
	for o.live < len(o.finished) && o.finished[o.live] {
		o.live++
		if o.live < len(o.finished) {
			o.w.Write(o.buf[o.live].Bytes())
			o.buf[o.live].Reset()
		}
	}
}

// archLines is one arch's console in orderedLines.
type archLines struct {
	o *orderedLines
	i int
}

func (a archLines) Write(p []byte) (int, error) {
	a.o.mu.Lock()
	defer a.o.mu.Unlock()
	if a.i == a.o.live {
		return a.o.w.Write(p)
	}
	return a.o.buf[a.i].Write(p)
}

// isLive says whether the arch's lines go straight to the console now.
func (a archLines) isLive() bool {
	a.o.mu.Lock()
	defer a.o.mu.Unlock()
	return a.i == a.o.live
}
