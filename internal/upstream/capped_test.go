package upstream

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// The next point release is fetched by go-git into a mirror that holds the previous one, not by
// the receiver: its pack must be held to the same caps, before go-git holds an object whole or
// stores any of it.

// TestCappedStorageStopsBombs feeds go-git's store of a real mirror, through cappedStorage, what
// a hostile server could send, each followed by endless zeros: the refusal comes from the object
// headers, early, and the mirror's pack folder stays empty.
func TestCappedStorageStopsBombs(t *testing.T) {
	blob := []byte("a small base\n")
	small := Limits{MaxUnpacked: 2 << 20, MaxEntry: 1 << 20}
	base := encodeObject(plumbing.BlobObject, int64(len(blob)), 0, blob)
	deltaBody := append(deltaHeader(uint64(len(blob)), 2<<30), 0x01, 'x') // then: insert "x"
	ofs := encodeObject(plumbing.OFSDeltaObject, int64(len(deltaBody)), int64(len(base)), deltaBody)
	// A thin pack's delta, on an object the mirror has and the pack does not.
	ref := encodeRefDelta(plumbing.ComputeHash(plumbing.BlobObject, blob), deltaBody)
	for _, tc := range []struct {
		name  string
		lim   Limits
		count uint32
		objs  [][]byte
		want  string
		is    error
	}{
		{"a 2 GiB blob", Limits{}, 1, [][]byte{encodeObject(plumbing.BlobObject, 2<<30, 0, nil)},
			"the pack's object 1 of 1 (offset 12) declares 2.0 GiB, over the cap of 256.0 MiB for one object", ErrTooLarge},
		{"an OFS delta to 2 GiB", Limits{}, 2, [][]byte{base, ofs},
			"the pack's object 2 of 2 (offset 38), a delta whose result declares 2.0 GiB, over the cap of 256.0 MiB", ErrTooLarge},
		{"a REF delta to 2 GiB on the mirror's object", Limits{}, 1, [][]byte{ref},
			"the pack's object 1 of 1 (offset 12), a delta whose result declares 2.0 GiB", ErrTooLarge},
		{"an object inflating past its header", Limits{}, 1, [][]byte{encodeObject(plumbing.BlobObject, 16, 0, make([]byte, 4<<20))},
			"object 1 of 1 at offset 12", packfile.ErrInflatedSizeMismatch},
		{"objects together past the total", small, 3, [][]byte{
			encodeObject(plumbing.BlobObject, 900<<10, 0, make([]byte, 900<<10)),
			encodeObject(plumbing.BlobObject, 900<<10, 0, append(make([]byte, 900<<10-1), 1)),
			encodeObject(plumbing.BlobObject, 900<<10, 0, append(make([]byte, 900<<10-1), 2)),
		}, "the pack's object 3 of 3", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, stop := context.WithCancelCause(context.Background())
			defer stop(nil)
			st, packDir := newCappedStorage(t, tc.lim, stop)
			// go-git reads the connection through its context, as here.
			in := &countingReader{r: ctxReader{ctx, packStream(tc.count, zeroReader{}, tc.objs...)}}
			if err := packfile.UpdateObjectStorage(st, in); !errors.Is(err, context.Canceled) {
				t.Fatalf("UpdateObjectStorage = %v; want the fetch stopped", err)
			}
			if err := context.Cause(ctx); !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the refusal = %v; want %v, %q", err, tc.is, tc.want)
			}
			if n := in.n.Load(); n > 8<<20 {
				t.Errorf("the check read %d bytes before it stopped, want at most 8 MiB", n)
			}
			if left, _ := os.ReadDir(packDir); len(left) != 0 {
				t.Errorf("a refused pack left %v", left)
			}
		})
	}
}

// A connection that fails in the middle of the pack is go-git's failure to report as it is, not
// a refusal (the cut-short pack fails the check too), and it leaves nothing either.
func TestCappedStorageLeavesAFailedConnectionToGoGit(t *testing.T) {
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	st, packDir := newCappedStorage(t, Limits{}, stop)
	reset := errors.New("connection reset by peer")
	blob := encodeObject(plumbing.BlobObject, 5, 0, []byte("hello"))
	in := io.MultiReader(packStream(2, nil, blob), iotest.ErrReader(reset))
	if err := packfile.UpdateObjectStorage(st, in); !errors.Is(err, reset) {
		t.Errorf("UpdateObjectStorage = %v; want the connection's error", err)
	}
	if err := context.Cause(ctx); err != nil {
		t.Errorf("the fetch was stopped as refused: %v", err)
	}
	if left, _ := os.ReadDir(packDir); len(left) != 0 {
		t.Errorf("a failed fetch left %v", left)
	}
}

// ctxReader reads r until ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// encodeRefDelta is a REF_DELTA object of a pack: its header, its base's hash, its zlib'd delta.
func encodeRefDelta(base plumbing.Hash, delta []byte) []byte {
	whole := encodeObject(plumbing.REFDeltaObject, int64(len(delta)), 0, delta)
	n := 1 // the header: up to the first byte without its high bit
	for whole[n-1]&0x80 != 0 {
		n++
	}
	return slices.Concat(whole[:n], base[:], whole[n:])
}

// incompressible is n bytes that zlib cannot shrink, the same for the same seed.
func incompressible(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// pointRelease makes an upstream with v6.12.1 (a Makefile) and v6.12.2 adding files, as git
// writes them; deltas, when given, replace the named files' blobs with a delta on another file's
// blob in a pack made by hand (git reuses a delta it finds in a pack when it serves one).
func pointRelease(t *testing.T, files map[string][]byte, deltas map[string]deltaOf) string {
	t.Helper()
	testtool.Need(t, "git")
	dir := filepath.Join(t.TempDir(), "linux")
	os.MkdirAll(dir, 0o755)
	gitCmd(t, dir, "init", "-q")
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("SUBLEVEL = 1\n"), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "Linux 6.12.1")
	gitCmd(t, dir, "tag", "-a", "-m", "Linux 6.12.1", "v6.12.1")
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("SUBLEVEL = 2\n"), 0o644)
	for name, body := range files {
		os.WriteFile(filepath.Join(dir, name), body, 0o644)
	}
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "Linux 6.12.2")
	gitCmd(t, dir, "tag", "-a", "-m", "Linux 6.12.2", "v6.12.2")
	if len(deltas) > 0 {
		handPack(t, dir, files, deltas)
	}
	return dir
}

// deltaOf says a file's blob is sent as a delta: the file base copied times times over.
type deltaOf struct {
	base  string
	times int
}

// handPack replaces the objects of the repository at dir with one pack written here, every object
// whole but those deltas names, each a REF_DELTA copying its base over and over.
func handPack(t *testing.T, dir string, files map[string][]byte, deltas map[string]deltaOf) {
	t.Helper()
	asDelta := map[plumbing.Hash][]byte{}
	for name, d := range deltas {
		base := files[d.base]
		delta := deltaHeader(uint64(len(base)), uint64(len(base)*d.times))
		for range d.times {
			for off := 0; off < len(base); off += 0x10000 { // copy at most 64 KiB at a time
				n := min(0x10000, len(base)-off)
				delta = append(delta, 0x80|0x0f|0x30, byte(off), byte(off>>8), byte(off>>16), byte(off>>24), byte(n), byte(n>>8))
			}
		}
		whole := plumbing.ComputeHash(plumbing.BlobObject, files[name])
		asDelta[whole] = encodeRefDelta(plumbing.ComputeHash(plumbing.BlobObject, base), delta)
	}
	var objs [][]byte
	for _, line := range strings.Split(gitCmd(t, dir, "cat-file", "--batch-all-objects", "--batch-check"), "\n") {
		f := strings.Fields(line) // hash type size
		h := plumbing.NewHash(f[0])
		if d, ok := asDelta[h]; ok {
			objs = append(objs, d)
			continue
		}
		typ, _ := plumbing.ParseObjectType(f[1])
		cmd := exec.Command("git", "cat-file", f[1], f[0])
		cmd.Dir = dir
		body, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, encodeObject(typ, int64(len(body)), 0, body))
	}
	var pack bytes.Buffer
	pack.ReadFrom(packStream(uint32(len(objs)), nil, objs...))
	sum := sha1.Sum(pack.Bytes())
	pack.Write(sum[:])
	packPath := filepath.Join(dir, ".git", "objects", "pack", fmt.Sprintf("pack-%x.pack", sum))
	os.MkdirAll(filepath.Dir(packPath), 0o755)
	if err := os.WriteFile(packPath, pack.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "index-pack", packPath)
	gitCmd(t, dir, "prune-packed")
	for _, name := range slices.Sorted(maps.Keys(deltas)) {
		if info := gitCmd(t, dir, "cat-file", "-s", "HEAD:"+name); info != fmt.Sprint(len(files[name])) {
			t.Fatalf("%s in the hand-made pack is %s bytes, want %d", name, info, len(files[name]))
		}
	}
}

// TestIncrementalFetchIsCapped: the next point release, fetched by go-git into a mirror holding
// the one before, is refused past the caps, naming the object; the mirror is left as it was (no
// pack, no ref, no shallow commit of the refused tag), and the same tag fetched with the caps
// raised comes in whole.
func TestIncrementalFetchIsCapped(t *testing.T) {
	small := Limits{MaxUnpacked: 2 << 20, MaxEntry: 1 << 20}
	base := incompressible(64<<10, 3)
	for _, tc := range []struct {
		name   string
		files  map[string][]byte
		deltas map[string]deltaOf
		want   string
	}{
		{"one object past the cap for one", map[string][]byte{"big": incompressible(3<<19, 1)}, nil,
			"declares 1.5 MiB, over the cap of 1.0 MiB for one object"},
		{"objects together past the total", map[string][]byte{"a": incompressible(900<<10, 1), "b": incompressible(900<<10, 2), "c": incompressible(900<<10, 3)}, nil,
			"would take what is unpacked to"},
		{"a delta whose result is past the cap for one", map[string][]byte{"base": base, "copies": bytes.Repeat(base, 20)}, map[string]deltaOf{"copies": {"base", 20}},
			"a delta whose result declares 1.2 MiB, over the cap of 1.0 MiB for one object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream := pointRelease(t, tc.files, tc.deltas)
			ctx := context.Background()
			m := openMirror(t, t.TempDir(), "file://"+upstream)
			if _, err := m.FetchTag(ctx, release("6.12.1"), nil); err != nil {
				t.Fatal(err)
			}
			packDir := filepath.Join(m.Dir, "objects", "pack")
			before, _ := os.ReadDir(packDir)
			shallow, _ := m.Repo().Storer.Shallow()

			m.Limits = small
			_, err := m.FetchTag(ctx, release("6.12.2"), nil)
			if !errors.Is(err, ErrTooLarge) || !Refused(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "the pack's object") {
				t.Fatalf("FetchTag(v6.12.2) = %v; want ErrTooLarge naming the object, %q", err, tc.want)
			}
			if after, _ := os.ReadDir(packDir); !slices.EqualFunc(after, before, func(a, b os.DirEntry) bool { return a.Name() == b.Name() }) {
				t.Errorf("a refused fetch left the pack folder %v, was %v", after, before)
			}
			for _, name := range []string{"refs/tags/v6.12.2", commitRefs + "v6.12.2"} {
				if ref, err := m.Repo().Reference(plumbing.ReferenceName(name), false); err == nil {
					t.Errorf("a refused fetch left %s", ref)
				}
			}
			if now, _ := m.Repo().Storer.Shallow(); !slices.Equal(now, shallow) {
				t.Errorf("a refused fetch changed the shallow commits to %v, was %v", now, shallow)
			}

			m.Limits = Limits{}
			if f, err := m.FetchTag(ctx, release("6.12.2"), nil); err != nil || !f.Incremental {
				t.Fatalf("FetchTag(v6.12.2) with the default caps = %+v, %v", f, err)
			}
			gitCmd(t, m.Dir, "fsck", "--full")
		})
	}
}

// TestRetagPastTheCapsIsForgotten: a tag the mirror holds, moved upstream to a commit whose pack
// is past the caps, is refused, and the mirror's copy is forgotten with it: nothing refused stays
// referenced.
func TestRetagPastTheCapsIsForgotten(t *testing.T) {
	upstream := pointRelease(t, nil, nil)
	ctx := context.Background()
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	for _, r := range []string{"6.12.1", "6.12.2"} {
		if _, err := m.FetchTag(ctx, release(r), nil); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(upstream, "big"), incompressible(3<<19, 1), 0o644)
	gitCmd(t, upstream, "add", "-A")
	gitCmd(t, upstream, "commit", "-q", "-m", "Linux 6.12.2, again")
	gitCmd(t, upstream, "tag", "-f", "-a", "-m", "Linux 6.12.2, again", "v6.12.2")

	m.Limits = Limits{MaxEntry: 1 << 20}
	_, err := m.FetchTag(ctx, release("6.12.2"), nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "declares 1.5 MiB") {
		t.Fatalf("FetchTag(v6.12.2 re-tagged) = %v; want ErrTooLarge", err)
	}
	for _, name := range []string{"refs/tags/v6.12.2", commitRefs + "v6.12.2"} {
		if ref, err := m.Repo().Reference(plumbing.ReferenceName(name), false); err == nil {
			t.Errorf("the refused re-tag left %s", ref)
		}
	}
	if _, err := m.Repo().Reference(plumbing.ReferenceName(commitRefs+"v6.12.1"), false); err != nil {
		t.Errorf("the refused re-tag of v6.12.2 took v6.12.1 with it: %v", err)
	}
}

// TestRefusedShallowFetchKeepsTheShallowCommits: a tag of another series is fetched shallow into
// a mirror that holds objects, by go-git, which records the new shallow commit before it reads
// the pack; a refused pack leaves the mirror's shallow commits as they were.
func TestRefusedShallowFetchKeepsTheShallowCommits(t *testing.T) {
	upstream := pointRelease(t, map[string][]byte{"big": incompressible(3<<19, 1)}, nil)
	ctx := context.Background()
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	if _, err := m.FetchTag(ctx, release("6.12.1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Forget("v6.12.1"); err != nil { // as if it were another series: no base to fetch from
		t.Fatal(err)
	}
	shallow, _ := m.Repo().Storer.Shallow()
	m.Limits = Limits{MaxEntry: 1 << 20}
	f, err := m.FetchTag(ctx, release("6.12.2"), nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("FetchTag(v6.12.2) = %+v, %v; want ErrTooLarge", f, err)
	}
	if now, _ := m.Repo().Storer.Shallow(); !slices.Equal(now, shallow) {
		t.Errorf("a refused fetch changed the shallow commits to %v, was %v", now, shallow)
	}
}

// newCappedStorage is an empty bare mirror's storage behind the caps, and its pack folder.
func newCappedStorage(t *testing.T, lim Limits, stop context.CancelCauseFunc) (*cappedStorage, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mirror.git")
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	packDir := filepath.Join(dir, "objects", "pack")
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &cappedStorage{Storer: repo.Storer, packDir: packDir, limit: newBudget(lim, gitHint), stop: stop}, packDir
}
