package upstream

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/version"
	"golang.org/x/sys/unix"
)

// What Ctrl-C must do to every long operation here: stop it within a second, leave nothing
// half-written where a reader would take it for whole, and let the same operation run again
// afterwards to the right result. Each test cancels part-way through, on an event of the
// operation itself (the 200th file written), on a fixture that takes well over a second
// to go through otherwise.

// stopWatch cancels an operation's context once, from an event of the operation, and checks
// how it ended.
type stopWatch struct {
	cancel context.CancelFunc
	once   sync.Once
	at     atomic.Int64 // when cancel was called, in Unix nanoseconds
}

func newStopWatch() (context.Context, *stopWatch) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, &stopWatch{cancel: cancel}
}

func (s *stopWatch) stop() {
	s.once.Do(func() {
		s.at.Store(time.Now().UnixNano())
		s.cancel()
	})
}

// returned checks that the operation, having just returned err, was cancelled, says so, and
// returned within a second of the cancel.
func (s *stopWatch) returned(t *testing.T, what string, err error) {
	t.Helper()
	took := time.Since(time.Unix(0, s.at.Load()))
	s.cancel()
	switch {
	case s.at.Load() == 0:
		t.Fatalf("%s = %v before the cancel: the fixture is too small to cancel it part-way", what, err)
	case !errors.Is(err, context.Canceled):
		t.Fatalf("%s = %v, want an error wrapping context.Canceled", what, err)
	case took > time.Second:
		t.Errorf("%s returned %v after the cancel, want under 1s", what, took)
	}
	t.Logf("%s returned %v after the cancel: %v", what, took.Round(time.Millisecond), err)
}

// manyFiles is a tree of n small source files in one folder (as onFiles watches): enough that
// writing it takes well over a second here. The contents are fixed by the seed and differ file
// to file; seed 1 and seed 2 differ in every file.
func manyFiles(n int, seed uint64) map[string]string {
	rnd := rand.New(rand.NewPCG(seed, 2))
	files := make(map[string]string, n)
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "/* file %d */\n", i)
		for j := range 20 {
			fmt.Fprintf(&b, "static int f_%d_%d(void) { return %d; }\n", i, j, rnd.Uint32())
		}
		files[fmt.Sprintf("f%04d.c", i)] = b.String()
	}
	return files
}

// manyFilesRepo is a git repository (packed) whose tags v6.12.1, v6.12.2... hold the trees, one
// commit on the other.
func manyFilesRepo(t *testing.T, trees ...map[string]string) string {
	t.Helper()
	testtool.Need(t, "git")
	dir := filepath.Join(t.TempDir(), "linux")
	os.MkdirAll(dir, 0o755)
	gitCmd(t, dir, "init", "-q")
	for i, files := range trees {
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		msg := fmt.Sprintf("Linux 6.12.%d", i+1)
		gitCmd(t, dir, "add", "-A")
		gitCmd(t, dir, "commit", "-q", "-m", msg)
		gitCmd(t, dir, "tag", "-a", "-m", msg, fmt.Sprintf("v6.12.%d", i+1))
	}
	gitCmd(t, dir, "repack", "-q", "-a", "-d")
	return dir
}

// sameFiles checks that dir holds exactly files.
func sameFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		got = append(got, rel)
		if data, err := os.ReadFile(p); err != nil || string(data) != files[rel] {
			t.Errorf("%s: %d bytes (%v), want %d", rel, len(data), err, len(files[rel]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(files) {
		t.Errorf("%s holds %d files, want %d", dir, len(got), len(files))
	}
}

// onFiles calls fire once n files have been created in dir, or in a folder made in it whose
// name starts with prefix (an operation's temporary tree): an event of the operation itself,
// seen through inotify, so the cancel lands part-way through the writing whatever the
// machine's speed.
func onFiles(t *testing.T, dir, prefix string, n int, fire func()) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify %s: %v", dir, err)
	}
	events := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close wakes the reader
	t.Cleanup(func() { events.Close() })
	created := 0
	count := func(k int) {
		if created < n && created+k >= n {
			fire()
		}
		created += k
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			k, err := events.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= k; {
				mask := binary.NativeEndian.Uint32(buf[off+4:])
				size := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+size]), "\x00")
				off += unix.SizeofInotifyEvent + size
				switch {
				case mask&unix.IN_CREATE == 0:
				case mask&unix.IN_ISDIR != 0 && strings.HasPrefix(name, prefix):
					sub := filepath.Join(dir, name)
					unix.InotifyAddWatch(fd, sub, unix.IN_CREATE)
					// What the operation wrote there before the watch (some counted twice).
					entries, _ := os.ReadDir(sub)
					count(len(entries))
				case mask&unix.IN_ISDIR == 0:
					count(1)
				}
			}
		}
	}()
}

// Ctrl-C during a first fetch (the pack streaming in, its files being written): no pack, no
// ref and no tree is put in place, and the next first fetch clears what was written so far.
func TestFirstFetchStopsWhenCancelled(t *testing.T) {
	files := manyFiles(6000, 1)
	upstream := manyFilesRepo(t, files)
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	dest := filepath.Join(t.TempDir(), "src.unverified")
	tr := TreeRequest{Dest: dest, Workers: 2}
	ctx, watch := newStopWatch()
	onFiles(t, filepath.Dir(dest), "src.unverified.tmp-", 200, watch.stop)

	_, err := m.FetchTagTree(ctx, release("6.12.1"), nil, tr)
	watch.returned(t, "FetchTagTree", err)
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a cancelled first fetch left %s (%v)", dest, err)
	}
	if left, _ := os.ReadDir(filepath.Join(m.Dir, "objects/pack")); len(left) != 0 {
		t.Errorf("a cancelled first fetch left in the pack folder: %v", left)
	}
	if ref, err := m.Repo().Tag("v6.12.1"); err == nil {
		t.Errorf("a cancelled first fetch left the tag %s", ref)
	}

	f, err := m.FetchTagTree(context.Background(), release("6.12.1"), nil, tr)
	if err != nil {
		t.Fatalf("FetchTagTree after the cancel: %v", err)
	}
	if f.Tree != dest || f.Files != int64(len(files)) {
		t.Errorf("FetchTagTree after the cancel = tree %q, %d files; want %s, %d", f.Tree, f.Files, dest, len(files))
	}
	sameFiles(t, dest, files)
	if beside, _ := os.ReadDir(filepath.Dir(dest)); len(beside) != 1 {
		t.Errorf("beside the tree: %v, want only the tree", beside)
	}
	gitCmd(t, m.Dir, "fsck", "--full")
}

// Ctrl-C during an export (Worktree.Checkout of a tree that holds nothing yet): the tree is not
// put in place nor stamped, and the next Checkout exports it whole.
func TestCheckoutStopsWhenCancelled(t *testing.T) {
	files := manyFiles(6000, 1)
	upstream := manyFilesRepo(t, files)
	gitDir := filepath.Join(upstream, ".git")
	commit := plumbing.NewHash(gitCmd(t, upstream, "rev-parse", "v6.12.1^{commit}"))
	w := Worktree{Dir: filepath.Join(t.TempDir(), "src")}
	ctx, watch := newStopWatch()
	onFiles(t, filepath.Dir(w.Dir), "src.tmp-", 200, watch.stop)

	_, err := w.Checkout(ctx, gitDir, commit, 2, nil)
	watch.returned(t, "Checkout", err)
	if _, err := os.Stat(w.Dir); !os.IsNotExist(err) {
		t.Errorf("a cancelled export left %s (%v)", w.Dir, err)
	}
	if !w.Holds().IsZero() || !w.Vacant() {
		t.Errorf("after a cancelled export the tree holds %s, vacant %v; want nothing", w.Holds(), w.Vacant())
	}

	how, err := w.Checkout(context.Background(), gitDir, commit, 2, nil)
	if want := fmt.Sprintf("exported %d files", len(files)); err != nil || how != want {
		t.Fatalf("Checkout after the cancel = %q, %v; want %q", how, err, want)
	}
	sameFiles(t, w.Dir, files)
	if w.Holds() != commit {
		t.Errorf("Holds() = %s, want %s", w.Holds(), commit)
	}
	if beside, _ := filepath.Glob(w.Dir + ".tmp-*"); len(beside) != 0 {
		t.Errorf("the next export left %v", beside)
	}
}

// Ctrl-C during a tarball's decompression and extraction, then during the copy of that tree
// for the next point release's incremental patch: no tree and no record of one, the tree copied
// from is untouched, and the next Unpack makes the whole tree.
func TestUnpackStopsWhenCancelled(t *testing.T) {
	testtool.Need(t, "xz")
	key := newKey(t, "stable")
	trust := Trust{Keyring: keyring(t, key)}
	files := manyFiles(6000, 1)
	files["Makefile"] = kernelMakefile(1)
	entries := []entry{{name: "linux-6.12.1/", typ: tar.TypeDir, mode: 0o755}}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		entries = append(entries, entry{name: "linux-6.12.1/" + name, body: files[name], typ: tar.TypeReg, mode: 0o644})
	}
	tarball := makeTar(t, entries)
	root := kernelOrg(t, key, tarball, tarball)
	base, cache := "file://"+root, t.TempDir()

	stopUnpack(t, cache, base, release("6.12.1"), trust)
	tree1, u, err := Unpack(context.Background(), runner.Exec{}, cache, base, release("6.12.1"), trust, Limits{})
	if err != nil || u.How != "tarball" || u.Files != int64(len(files)) {
		t.Fatalf("Unpack after the cancel = %+v, %v; want the tarball's %d files", u, err, len(files))
	}
	sameFiles(t, tree1, files)

	context3 := strings.SplitAfterN(files["f0000.c"], "\n", 5)[1:4]
	diff := "diff --git a/f0000.c b/f0000.c\n--- a/f0000.c\n+++ b/f0000.c\n@@ -1,4 +1,4 @@\n-/* file 0 */\n+/* file 0, 6.12.2 */\n " + strings.Join(context3, " ") +
		makefileDiff(1, 2)
	os.WriteFile(filepath.Join(root, "v6.x/incr/patch-6.12.1-2.xz"), xzBytes(t, []byte(diff)), 0o644)
	os.WriteFile(filepath.Join(root, "v6.x/incr/patch-6.12.1-2.sign"), sign(t, key, []byte(diff)), 0o644)
	files2 := maps.Clone(files)
	files2["f0000.c"] = strings.Replace(files["f0000.c"], "/* file 0 */", "/* file 0, 6.12.2 */", 1)
	files2["Makefile"] = kernelMakefile(2)
	stopUnpack(t, cache, base, release("6.12.2"), trust)
	tree2, u, err := Unpack(context.Background(), runner.Exec{}, cache, base, release("6.12.2"), trust, Limits{})
	if err != nil || u.How != "incremental from 6.12.1" || u.Files != int64(len(files)) {
		t.Fatalf("Unpack(6.12.2) after the cancel = %+v, %v; want incremental, %d files", u, err, len(files))
	}
	sameFiles(t, tree2, files2)
	sameFiles(t, tree1, files)
}

// stopUnpack runs Unpack of r, cancelled once 200 files of its tree are written, and checks that
// it stopped at once leaving no tree, at most what is left of its temporary one.
func stopUnpack(t *testing.T, cache, base string, r version.Release, trust Trust) {
	t.Helper()
	dir := TarballCache(cache, base)
	name := "linux-" + r.String()
	ctx, watch := newStopWatch()
	onFiles(t, dir, name+".tmp-", 200, watch.stop)
	_, _, err := Unpack(ctx, runner.Exec{}, cache, base, r, trust, Limits{})
	watch.returned(t, "Unpack "+r.String(), err)
	// The partial tree is removed within the stop's grace; what a slower disk leaves of it, the
	// next Unpack clears. Never a tree or a record.
	if left, _ := filepath.Glob(filepath.Join(dir, name+"*")); len(left) > 1 || len(left) == 1 && !strings.Contains(left[0], ".tmp-") {
		t.Errorf("a cancelled Unpack %s left %v, want nothing or its temporary tree", r, left)
	}
}

// Ctrl-C while another run holds the tarball cache's lock: Unpack stops waiting for it.
func TestUnpackStopsWaitingForTheLockWhenCancelled(t *testing.T) {
	cache, base := t.TempDir(), "file://"+t.TempDir()
	os.MkdirAll(TarballCache(cache, base), 0o755)
	unlock, err := lockFileContext(context.Background(), filepath.Join(TarballCache(cache, base), ".lock")) // the other run
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, watch := newStopWatch()
	watch.stop() // Unpack cannot be seen waiting: it is cancelled before it starts to
	_, _, err = Unpack(ctx, runner.Exec{}, cache, base, release("6.12.1"), Trust{}, Limits{})
	watch.returned(t, "Unpack", err)
	if !strings.Contains(err.Error(), "held by another run") {
		t.Errorf("Unpack = %v, want it to say what it waited for", err)
	}
}

// Ctrl-C while a tree is moved in place from one release to the next: the stamp says the move
// is unfinished, and the next Checkout finishes it.
func TestWorktreeMoveStopsWhenCancelled(t *testing.T) {
	files1, files2 := manyFiles(6000, 1), manyFiles(6000, 2)
	upstream := manyFilesRepo(t, files1, files2)
	gitDir := filepath.Join(upstream, ".git")
	a := plumbing.NewHash(gitCmd(t, upstream, "rev-parse", "v6.12.1^{commit}"))
	b := plumbing.NewHash(gitCmd(t, upstream, "rev-parse", "v6.12.2^{commit}"))
	w := Worktree{Dir: filepath.Join(t.TempDir(), "src")}
	if _, err := w.Checkout(context.Background(), gitDir, a, 2, nil); err != nil {
		t.Fatal(err)
	}
	ctx, watch := newStopWatch()
	onFiles(t, w.Dir, "", 200, watch.stop)

	_, err := w.Checkout(ctx, gitDir, b, 2, nil)
	watch.returned(t, "Checkout", err)
	if stamp, _ := os.ReadFile(w.StampPath()); !w.Holds().IsZero() || !strings.HasPrefix(string(stamp), movingPrefix) {
		t.Errorf("after a cancelled move the stamp says %q; want the move unfinished", stamp)
	}

	how, err := w.Checkout(context.Background(), gitDir, b, 2, nil)
	if want := fmt.Sprintf("updated %d paths from %s", len(files2), a.String()[:12]); err != nil || how != want {
		t.Fatalf("Checkout after the cancel = %q, %v; want %q", how, err, want)
	}
	sameFiles(t, w.Dir, files2)
	if w.Holds() != b {
		t.Errorf("Holds() = %s, want %s", w.Holds(), b)
	}
}

// Ctrl-C during go-git's own fetch (the next point release into a mirror that holds one):
// FetchContext stops reading the pack, and no pack nor tag is put in place; the temporary pack
// go-git may leave is cleared by the next fetch.
func TestIncrementalFetchStopsWhenCancelled(t *testing.T) {
	files1, files2 := manyFiles(6000, 1), manyFiles(6000, 2)
	upstream := manyFilesRepo(t, files1, files2)
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	if _, err := m.FetchTag(context.Background(), release("6.12.1"), nil); err != nil {
		t.Fatal(err)
	}
	packDir := filepath.Join(m.Dir, "objects/pack")
	packs, _ := filepath.Glob(filepath.Join(packDir, "pack-*"))
	ctx, watch := newStopWatch()
	onFiles(t, packDir, "", 1, watch.stop) // go-git starts writing the pack it receives

	_, err := m.FetchTag(ctx, release("6.12.2"), nil)
	watch.returned(t, "FetchTag", err)
	if now, _ := filepath.Glob(filepath.Join(packDir, "pack-*")); !slices.Equal(now, packs) {
		t.Errorf("a cancelled fetch left in the pack folder %v, want %v", now, packs)
	}
	if ref, err := m.Repo().Tag("v6.12.2"); err == nil {
		t.Errorf("a cancelled fetch left the tag %s", ref)
	}

	// What go-git leaves when cancelled at another moment (it does not always remove it).
	if err := os.WriteFile(filepath.Join(packDir, "tmp_pack_123"), []byte("partial"), 0o444); err != nil {
		t.Fatal(err)
	}
	f, err := m.FetchTag(context.Background(), release("6.12.2"), nil)
	if err != nil || !f.Incremental {
		t.Fatalf("FetchTag after the cancel = %+v, %v; want an incremental fetch", f, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(packDir, "tmp_*")); len(tmp) != 0 {
		t.Errorf("the next fetch left %v (what go-git may leave on a cancel is cleared)", tmp)
	}
	gitCmd(t, m.Dir, "fsck", "--full")
}

// Ctrl-C while a first fetch writes the files whose paths it learnt only at the end: git sends
// the kernel's root tree after every blob, so nearly all of them are read back from the pack
// and written once it is in (finishTree). No pack is left.
func TestReceiverStopsWhenCancelledAtTheEnd(t *testing.T) {
	files := manyFiles(6000, 1)
	upstream := manyFilesRepo(t, files)
	repo, tag, commit := openTag(t, upstream, "v6.12.1")
	root, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	order := []plumbing.Hash{tag.Hash, commit.Hash}
	for _, e := range root.Entries {
		order = append(order, e.Hash)
	}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, repo.Storer, false).Encode(append(order, root.Hash), 0); err != nil {
		t.Fatal(err)
	}
	packDir, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(tree, 0o755)
	ctx, watch := newStopWatch()
	onFiles(t, tree, "", 200, watch.stop)
	rc := newReceiver(tag.Hash, tree, nil)

	_, err = rc.receive(ctx, &pack, packDir, 2)
	rc.close()
	watch.returned(t, "receive", err)
	if left, _ := os.ReadDir(packDir); len(left) != 0 {
		t.Errorf("a cancelled receive left in the pack folder: %v", left)
	}
}
