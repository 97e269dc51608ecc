package upstream

import (
	"context"
	"fmt"
	"os"
	"syscall"
)

// lockFileContext takes an exclusive lock on path (created if missing), waiting for any other
// holder until ctx is done (Ctrl-C must not wait for another run to finish with the lock); the
// returned func releases it. Mirrors and the tarball cache are shared between runs.
func lockFileContext(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	got := make(chan error, 1)
	go func() { got <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		go func() { <-got; f.Close() }() // the lock, if it comes, goes at once
		return nil, fmt.Errorf("waiting for the lock %s, held by another run: %w", path, ctx.Err())
	}
}
