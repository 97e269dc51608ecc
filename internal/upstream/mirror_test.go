package upstream

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/version"
)

// twoReleases makes an upstream repository: v6.12.1 with 2 MB of incompressible files, and
// v6.12.2 on top of it changing one line.
func twoReleases(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "linux")
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	commit := func(msg, tag string, files map[string][]byte) {
		for name, body := range files {
			path := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := wt.Add(name); err != nil {
				t.Fatal(err)
			}
		}
		sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.CreateTag(tag, h, &git.CreateTagOptions{Tagger: sig, Message: msg}); err != nil {
			t.Fatal(err)
		}
	}
	big := map[string][]byte{"Makefile": []byte("SUBLEVEL = 1\n")}
	for i := range 8 {
		blob := make([]byte, 256<<10)
		rand.Read(blob)
		big[filepath.Join("drivers", string(rune('a'+i)))] = blob
	}
	commit("Linux 6.12.1", "v6.12.1", big)
	commit("Linux 6.12.2", "v6.12.2", map[string][]byte{"Makefile": []byte("SUBLEVEL = 2\n")})
	return dir
}

// openMirror opens a mirror for the test, unlocked when it ends.
func openMirror(t *testing.T, cacheDir, url string) *Mirror {
	t.Helper()
	m, unlock, err := OpenMirror(context.Background(), cacheDir, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	return m
}

func packBytes(t *testing.T, mirrorDir string) int64 {
	t.Helper()
	var total int64
	packs, _ := filepath.Glob(filepath.Join(mirrorDir, "objects/pack/*.pack"))
	for _, p := range packs {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
	}
	return total
}

func TestNextPointReleaseFetchesOnlyWhatIsNew(t *testing.T) {
	upstream := twoReleases(t)
	cache := t.TempDir()
	m := openMirror(t, cache, "file://"+upstream)
	ctx := context.Background()
	r1, _ := version.ParseRelease("6.12.1")
	r2, _ := version.ParseRelease("6.12.2")

	if f, err := m.FetchTag(ctx, r1, nil); err != nil || f.Incremental || f.Cached {
		t.Fatalf("first FetchTag = %+v, %v; want a shallow first fetch", f, err)
	}
	first := packBytes(t, m.Dir)
	if first < 2<<20 {
		t.Fatalf("the first fetch holds %d bytes, want the whole 2 MB tree", first)
	}
	f, err := m.FetchTag(ctx, r2, nil)
	if err != nil || !f.Incremental {
		t.Fatalf("second FetchTag = %+v, %v", f, err)
	}
	ref := f.Ref
	if added := packBytes(t, m.Dir) - first; added > 4<<10 {
		t.Errorf("the point release added %d bytes to the mirror, want only the changed Makefile (< 4 KiB)", added)
	}
	tagged, err := m.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "src")
	n, err := Export(ctx, m.Dir, tagged.Commit.Hash, out, 2)
	if err != nil || n != 9 {
		t.Fatalf("Export(v6.12.2) = %d files, %v; want 9", n, err)
	}
	if mk, _ := os.ReadFile(filepath.Join(out, "Makefile")); string(mk) != "SUBLEVEL = 2\n" {
		t.Errorf("Makefile = %q", mk)
	}
	// A tag already in the mirror is not fetched again.
	if f, err := m.FetchTag(ctx, r2, nil); err != nil || !f.Cached || f.Retagged != "" || f.Offline != "" {
		t.Errorf("third FetchTag = %+v, %v; want it cached", f, err)
	}
}

func TestFetchErrors(t *testing.T) {
	upstream := twoReleases(t)
	ctx := context.Background()
	missing, _ := version.ParseRelease("6.12.9")
	// Both ways in: go-git's fetch, and the first fetch that writes the tree (cloneTag).
	fetches := map[string]func(m *Mirror, dest string) error{
		"FetchTag": func(m *Mirror, _ string) error { _, err := m.FetchTag(ctx, missing, nil); return err },
		"FetchTagTree": func(m *Mirror, dest string) error {
			_, err := m.FetchTagTree(ctx, missing, nil, TreeRequest{Dest: dest, Workers: 2})
			return err
		},
	}
	for name, fetch := range fetches {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			m, unlock, err := OpenMirror(context.Background(), t.TempDir(), "file://"+upstream)
			if err != nil {
				t.Fatal(err)
			}
			err = fetch(m, filepath.Join(parent, "src"))
			unlock()
			if !errors.Is(err, ErrNoTag) || !strings.Contains(err.Error(), "fetch v6.12.9 from file://"+upstream) {
				t.Errorf("missing tag: %v", err)
			}
			m, unlock, err = OpenMirror(context.Background(), t.TempDir(), "file:///nonexistent/linux.git")
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			if err := fetch(m, filepath.Join(parent, "src")); err == nil || !strings.Contains(err.Error(), "fetch v6.12.9 from file:///nonexistent/linux.git") {
				t.Errorf("unreachable: %v", err)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Errorf("left beside the tree: %v", left)
			}
		})
	}
}

func TestResolveFromTags(t *testing.T) {
	upstream := twoReleases(t)
	ctx := context.Background()
	track, _ := version.ParseTrack("6.12")
	got, err := Resolve(ctx, Source{Kind: "tags", GitURL: "file://" + upstream}, track, "")
	if err != nil || got.Release.String() != "6.12.2" {
		t.Errorf("Resolve(tags) = %v, %v; want 6.12.2", got, err)
	}
	other, _ := version.ParseTrack("6.6")
	if _, err := Resolve(ctx, Source{Kind: "tags", GitURL: "file://" + upstream}, other, ""); !errors.Is(err, ErrNoRelease) ||
		!strings.Contains(err.Error(), "no release of the series 6.6 among its 2 release tags") {
		t.Errorf("Resolve(tags, 6.6) = %v", err)
	}
	lts, _ := version.ParseTrack("longterm")
	if _, err := Resolve(ctx, Source{Kind: "tags", GitURL: "file://" + upstream}, lts, ""); err == nil || !strings.Contains(err.Error(), "needs releases.json") {
		t.Errorf("Resolve(tags, longterm) = %v", err)
	}
}

func TestLatestTagIsNumeric(t *testing.T) {
	var tags []version.Release
	for _, s := range []string{"6.12", "6.12.9", "6.12.99", "6.12.118", "6.12.100", "6.13.1", "6.6.200"} {
		r, _ := version.ParseRelease(s)
		tags = append(tags, r)
	}
	got, err := LatestTag(tags, version.Series{Major: 6, Minor: 12}, "x")
	if err != nil || got.String() != "6.12.118" {
		t.Errorf("LatestTag = %v, %v; want 6.12.118", got, err)
	}
}

// A disk that fills up during the export must leave no tree, and must not be taken for a damaged
// mirror (which would throw the mirror away for nothing).
func TestExportOnAFullDiskLeavesNothing(t *testing.T) {
	upstream := twoReleases(t)
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	r1, _ := version.ParseRelease("6.12.1")
	f, err := m.FetchTag(context.Background(), r1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tagged, _ := m.Resolve(f.Ref)
	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v)", err)
	}
	defer syscall.Unmount(small, 0)
	_, err = Export(context.Background(), m.Dir, tagged.Commit.Hash, filepath.Join(small, "src"), 2)
	if err == nil || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrDamaged) {
		t.Fatalf("Export onto a full disk = %v; want ENOSPC, not ErrDamaged", err)
	}
	if left, _ := os.ReadDir(small); len(left) != 0 {
		t.Errorf("Export left %v on the full disk", left)
	}

	// The same for the first fetch that writes the tree as the pack arrives: no tree, and no
	// pack in the mirror either (the next run starts again from nothing).
	empty := openMirror(t, t.TempDir(), "file://"+upstream)
	_, err = empty.FetchTagTree(context.Background(), r1, nil, TreeRequest{Dest: filepath.Join(small, "src"), Workers: 2})
	if err == nil || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrDamaged) {
		t.Fatalf("FetchTagTree onto a full disk = %v; want ENOSPC, not ErrDamaged", err)
	}
	if left, _ := os.ReadDir(small); len(left) != 0 {
		t.Errorf("FetchTagTree left %v on the full disk", left)
	}
	if packs, _ := filepath.Glob(empty.Dir + "/objects/pack/*"); len(packs) != 0 {
		t.Errorf("FetchTagTree left %v in the mirror", packs)
	}
}

// kernel.org never moves a release tag; if upstream's tag object changes, the mirror must notice,
// fetch the new one (whose signature is then checked) and say so. Offline, the mirror's copy serves.
func TestRetaggedUpstreamIsNoticed(t *testing.T) {
	upstream := twoReleases(t)
	ctx := context.Background()
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	r2, _ := version.ParseRelease("6.12.2")
	first, err := m.FetchTag(ctx, r2, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := git.PlainOpen(upstream)
	old, _ := repo.Tag("v6.12.2")
	oldTag, _ := repo.TagObject(old.Hash())
	if err := repo.DeleteTag("v6.12.2"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Mallory", Email: "m@example.invalid", When: time.Unix(1800000000, 0)}
	moved, err := repo.CreateTag("v6.12.2", oldTag.Target, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.2, again"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.FetchTag(ctx, r2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Retagged != first.Ref.Hash().String() || f.Ref.Hash() != moved.Hash() {
		t.Errorf("FetchTag after a re-tag = %+v; want Retagged %s and the new tag %s", f, first.Ref.Hash(), moved.Hash())
	}
	tagged, err := m.Resolve(f.Ref)
	if err != nil || tagged.Tag.Tagger.Name != "Mallory" {
		t.Errorf("the mirror's tag is still the old one: %+v, %v", tagged, err)
	}

	// Re-tagged as a lightweight tag: refused before fetching, the mirror's copy kept.
	if err := repo.DeleteTag("v6.12.2"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v6.12.2", oldTag.Target, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.FetchTag(ctx, r2, nil); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "v6.12.2 is a lightweight tag") {
		t.Errorf("FetchTag after a re-tag to a lightweight tag = %v; want it refused", err)
	}
	if ref, err := m.Repo().Tag("v6.12.2"); err != nil || ref.Hash() != moved.Hash() {
		t.Errorf("the mirror's v6.12.2 = %v, %v; want the annotated tag %s kept", ref, err, moved.Hash())
	}

	os.RemoveAll(upstream)
	f, err = m.FetchTag(ctx, r2, nil)
	if err != nil || !f.Cached || f.Offline == "" || f.Ref.Hash() != moved.Hash() {
		t.Errorf("FetchTag with upstream gone = %+v, %v; want the mirror's copy, marked offline", f, err)
	}
}

// Two runs on one mirror take turns: while one holds the mirror, another's lock on it is
// refused (flock says so at once: no timing involved), and once it lets go OpenMirror gets it.
func TestMirrorLockSerialisesRuns(t *testing.T) {
	cache := t.TempDir()
	m, unlock, err := OpenMirror(context.Background(), cache, "file:///x/linux.git")
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.Open(m.Dir + ".lock") // another run's handle: flock locks are per open file
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("a second lock on %s.lock while OpenMirror holds it = %v, want EWOULDBLOCK", m.Dir, err)
	}
	// A run stopped (Ctrl-C) while it waits for the lock gives up, naming the lock.
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := OpenMirror(stopped, cache, "file:///x/linux.git"); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), m.Dir+".lock") {
		t.Errorf("OpenMirror with its ctx done while the lock is held = %v, want context.Canceled naming %s.lock", err, m.Dir)
	}
	unlock()
	_, unlock2, err := OpenMirror(context.Background(), cache, "file:///x/linux.git")
	if err != nil {
		t.Fatalf("second OpenMirror after unlock: %v", err)
	}
	unlock2()
}

// A mirror git cannot open at all (its config clobbered by a crash) is started again, saying so.
func TestUnopenableMirrorIsStartedAgain(t *testing.T) {
	cache := t.TempDir()
	m, unlock, err := OpenMirror(context.Background(), cache, "file:///x/linux.git")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := os.WriteFile(filepath.Join(m.Dir, "config"), []byte("[core\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, unlock, err = OpenMirror(context.Background(), cache, "file:///x/linux.git")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if !strings.Contains(m.Repaired, "could not be opened") {
		t.Errorf("Repaired = %q", m.Repaired)
	}
}

// A lightweight tag is refused from upstream's advertisement (no peeled ^{} line), before
// anything is fetched: kernel.org's releases are annotated, and the whole tree is hundreds of MB.
func TestLightweightTagIsRefusedBeforeFetching(t *testing.T) {
	upstream := twoReleases(t)
	repo, err := git.PlainOpen(upstream)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := repo.Head()
	if _, err := repo.CreateTag("v6.12.3", head.Hash(), nil); err != nil { // lightweight
		t.Fatal(err)
	}
	ctx := context.Background()
	r3, _ := version.ParseRelease("6.12.3")
	fetches := map[string]func(m *Mirror, dest string) (*Fetched, error){
		"FetchTag": func(m *Mirror, _ string) (*Fetched, error) { return m.FetchTag(ctx, r3, nil) },
		"FetchTagTree": func(m *Mirror, dest string) (*Fetched, error) {
			return m.FetchTagTree(ctx, r3, nil, TreeRequest{Dest: dest, Workers: 2})
		},
	}
	for name, fetch := range fetches {
		t.Run(name, func(t *testing.T) {
			m := openMirror(t, t.TempDir(), "file://"+upstream)
			parent := t.TempDir()
			_, err := fetch(m, filepath.Join(parent, "src"))
			want := "v6.12.3 is a lightweight tag in file://" + upstream
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(lightweight) = %v; want ErrUntrusted containing %q", name, err, want)
			}
			if !m.empty() {
				t.Errorf("%s(lightweight) fetched objects into the mirror", name)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Errorf("%s(lightweight) wrote %v", name, left)
			}
			m.AllowLightweight = true // allow_unsigned
			f, err := fetch(m, filepath.Join(parent, "src"))
			if err != nil || f.Ref.Hash() != head.Hash() {
				t.Errorf("%s(lightweight) with AllowLightweight = %+v, %v; want the tag fetched", name, f, err)
			}
		})
	}
}
