package upstream

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// A tree (a fetched tag's files, an export, an unpacked tarball) is written into a temporary
// folder beside its destination, dest.tmp-*, and renamed into place only when whole. A run
// stopped on the way (Ctrl-C, a kill) leaves that folder, and the next writer of dest clears it.
// Callers hold the lock that makes them the only writer of dest (the work dir's, the mirror's or
// the tarball cache's).

// tempBeside clears what an earlier writer of dest left beside it and makes a new temporary
// folder there.
func tempBeside(ctx context.Context, dest string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", err
	}
	stale, err := filepath.Glob(globEscape(dest) + ".tmp-*")
	if err != nil {
		return "", err
	}
	for _, p := range stale {
		if err := removeTree(ctx, p); err != nil {
			return "", err
		}
	}
	return os.MkdirTemp(filepath.Dir(dest), filepath.Base(dest)+".tmp-")
}

// removeTree is os.RemoveAll stopping when ctx is done, which may leave part of the tree: a
// partial kernel tree takes seconds to remove.
func removeTree(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if info, err := os.Lstat(path); err != nil || !info.IsDir() {
		return os.RemoveAll(path) // a file or a link (never followed), or gone
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		child := filepath.Join(path, e.Name())
		if e.IsDir() {
			err = removeTree(ctx, child)
		} else {
			err = os.Remove(child)
		}
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return os.RemoveAll(path)
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(out)
}

// discard removes a temporary tree no longer wanted. A stopped run still gets stopGrace to
// remove it: a bomb's partial tree is a few huge files, gone at once, while removing a whole
// kernel tree takes seconds, longer than Ctrl-C may wait, so the next writer clears what is
// left (tempBeside).
func discard(ctx context.Context, tmp string) {
	if ctx.Err() != nil {
		grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
		defer cancel()
		ctx = grace
	}
	removeTree(ctx, tmp)
}

// stopGrace is how long a stopped run may spend removing what it wrote: Ctrl-C is to take
// effect within a second.
const stopGrace = 300 * time.Millisecond

// renameInto puts a finished temporary tree at dest. What was there is renamed aside first (to a
// name the next tempBeside clears) and removed last, so dest is never a mix of the two, and a
// stop while the old tree is removed leaves the new one in place.
func renameInto(ctx context.Context, tmp, dest string) error {
	old := tmp + "-old"
	if err := os.Rename(dest, old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	discard(ctx, old)
	return nil
}

// stopped is err, or the context's error once ctx is done: a read cut off because the run was
// stopped is that, not a broken stream or a damaged mirror.
func stopped(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && err != nil {
		return cerr
	}
	return err
}
