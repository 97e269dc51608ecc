package upstream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// Once ctx is done, send refuses every job, even with room in the queue, so a caller that reads
// before it sends (a pack, a mirror) stops reading at once instead of reading on.
func TestPoolSendStopsOnceCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	send, wait := startPool(ctx, 2, func(int) error { done.Add(1); return nil })
	cancel()
	for i := range 1000 {
		if err := send(i); !errors.Is(err, context.Canceled) {
			t.Fatalf("send(%d) after the cancel = %v, want context.Canceled", i, err)
		}
	}
	if err := wait(); err != nil {
		t.Errorf("wait() = %v, want nil: no job failed", err)
	}
	if n := done.Load(); n != 0 {
		t.Errorf("%d jobs done after the cancel, want 0", n)
	}
}
