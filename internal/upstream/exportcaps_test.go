package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// A mirror holds what upstream sent: writing a tree out of it (an export, or a move of the work
// dir to the next release) holds each blob to the cap for one by the size it declares, before
// reading it, and the files written to the total; a large blob stored whole is streamed to its
// file, never held in memory.

// oversized are the mirrors' shapes past small's caps: v6.12.2 of each has the blob named.
func oversized(t *testing.T) map[string]struct {
	dir  string
	want []string
} {
	base := incompressible(64<<10, 3)
	big := map[string][]byte{"big": incompressible(3<<19, 1)}
	copies := map[string][]byte{}
	for i := range 10 {
		copies[fmt.Sprintf("copy%d", i)] = bytes.Repeat([]byte("static int x;\n"), 300<<10/14)
	}
	packed := func(dir string) string { gitCmd(t, dir, "repack", "-q", "-a", "-d"); return dir }
	bigWant := []string{"big (%s) declares 1.5 MiB, over the cap of 1.0 MiB for one object"}
	return map[string]struct {
		dir  string
		want []string
	}{
		"a loose blob":     {pointRelease(t, big, nil), bigWant},
		"a blob in a pack": {packed(pointRelease(t, big, nil)), bigWant},
		// Export reads the delta itself; a move asks go-git the size, which reads the delta's header.
		"a delta past the cap": {pointRelease(t, map[string][]byte{"base": base, "copies": bytes.Repeat(base, 20)}, map[string]deltaOf{"copies": {"base", 20}}),
			[]string{"copies (%s)", "declares 1.2 MiB, over the cap of 1.0 MiB for one object"}},
		"one blob at ten paths": {packed(pointRelease(t, copies, nil)), []string{"would take the files written to 2.", "over the cap of 2.0 MiB"}},
	}
}

var small = Limits{MaxUnpacked: 2 << 20, MaxEntry: 1 << 20}

// wantRefusal checks err is the cap's refusal, not damage, saying each of want; a %s there is
// the hash of the blob named first.
func wantRefusal(t *testing.T, what string, err error, dir string, want []string) {
	t.Helper()
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrDamaged) {
		t.Fatalf("%s = %v; want ErrTooLarge, not damage", what, err)
	}
	for _, w := range want {
		if strings.Contains(w, "%s") {
			w = fmt.Sprintf(w, gitCmd(t, dir, "rev-parse", "v6.12.2:"+strings.Fields(w)[0]))
		}
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s = %v; want it to say %q", what, err, w)
		}
	}
}

func TestExportHoldsBlobsToTheCaps(t *testing.T) {
	for name, tc := range oversized(t) {
		t.Run(name, func(t *testing.T) {
			commit := plumbing.NewHash(gitCmd(t, tc.dir, "rev-parse", "v6.12.2^{commit}"))
			dest := filepath.Join(t.TempDir(), "src")
			_, err := ExportWithProgress(context.Background(), filepath.Join(tc.dir, ".git"), commit, dest, 2, nil, small)
			wantRefusal(t, "Export", err, tc.dir, tc.want)
			if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 0 {
				t.Errorf("a refused export left %v", left)
			}
		})
	}
}

func TestMoveHoldsBlobsToTheCaps(t *testing.T) {
	for name, tc := range oversized(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			repo := filepath.Join(tc.dir, ".git")
			r1 := plumbing.NewHash(gitCmd(t, tc.dir, "rev-parse", "v6.12.1^{commit}"))
			r2 := plumbing.NewHash(gitCmd(t, tc.dir, "rev-parse", "v6.12.2^{commit}"))
			w := Worktree{Dir: filepath.Join(t.TempDir(), "src"), Limits: small}
			if how, err := w.Checkout(ctx, repo, r1, 2, nil); err != nil || !strings.HasPrefix(how, "exported") {
				t.Fatalf("Checkout(v6.12.1) = %q, %v", how, err)
			}
			held := listTree(t, w.Dir)
			_, err := w.Checkout(ctx, repo, r2, 2, nil)
			wantRefusal(t, "Checkout(v6.12.2)", err, tc.dir, tc.want)
			if after := listTree(t, w.Dir); after != held {
				t.Errorf("the refused move changed the tree:\n%s\nwas:\n%s", after, held)
			}
			if w.Holds() != r1 {
				t.Errorf("after the refused move the tree holds %s, want %s", w.Holds(), r1)
			}
		})
	}
}

// TestLargeBlobsAreStreamed: blobs past streamAbove, one in a pack and one loose, are written by
// export and by a move without being held in memory: what both allocate, all told, is less than
// one of them (held whole, each would cost at least its size).
func TestLargeBlobsAreStreamed(t *testing.T) {
	defer func(was int64) { streamAbove = was }(streamAbove)
	streamAbove = 1 << 20
	const size = 8 << 20
	files := map[string][]byte{"packed": incompressible(size, 1), "loose": incompressible(size, 2)}
	dir := filepath.Join(t.TempDir(), "linux")
	os.MkdirAll(dir, 0o755)
	gitCmd(t, dir, "init", "-q")
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("SUBLEVEL = 1\n"), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "Linux 6.12.1")
	os.WriteFile(filepath.Join(dir, "packed"), files["packed"], 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "Linux 6.12.2-rc")
	gitCmd(t, dir, "repack", "-q", "-a", "-d")
	os.WriteFile(filepath.Join(dir, "loose"), files["loose"], 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "Linux 6.12.2")
	repo := filepath.Join(dir, ".git")
	r1 := plumbing.NewHash(gitCmd(t, dir, "rev-parse", "HEAD~2"))
	r2 := plumbing.NewHash(gitCmd(t, dir, "rev-parse", "HEAD"))
	ctx := context.Background()

	allocated := func(what string, write func() error) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := write(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n >= size {
			t.Errorf("%s allocated %d bytes writing two blobs of %d: they were held in memory, not streamed", what, n, size)
		}
	}
	sameFiles := func(dir string) {
		t.Helper()
		for name, want := range files {
			if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%s: %d bytes, %v; want the %d written", filepath.Base(dir), name, len(got), err, len(want))
			}
		}
	}

	dest := filepath.Join(t.TempDir(), "export")
	allocated("Export", func() error { _, err := Export(ctx, repo, r2, dest, 2); return err })
	sameFiles(dest)

	w := Worktree{Dir: filepath.Join(t.TempDir(), "src")}
	if _, err := w.Checkout(ctx, repo, r1, 2, nil); err != nil {
		t.Fatal(err)
	}
	allocated("moving the work tree", func() error {
		how, err := w.Checkout(ctx, repo, r2, 2, nil)
		if err == nil && !strings.HasPrefix(how, "updated") {
			err = fmt.Errorf("Checkout = %q, want a move", how)
		}
		return err
	})
	sameFiles(w.Dir)
}
