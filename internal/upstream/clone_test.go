package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/treepath"
	"github.com/wslkernel/wslkernel/internal/version"
)

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=1700000000 +0000", "GIT_COMMITTER_DATE=1700000000 +0000",
		"GIT_AUTHOR_NAME=Greg", "GIT_AUTHOR_EMAIL=greg@example.invalid", "GIT_COMMITTER_NAME=Greg",
		"GIT_COMMITTER_EMAIL=greg@example.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// deltaRepo makes an upstream with what a kernel tree has: many similar files (so the pack holds
// chains of deltas), nested folders, an executable, symlinks, an empty file and two paths with
// the same contents; v6.12.1 and v6.12.2, repacked hard so deltas are deep.
func deltaRepo(t *testing.T) string {
	t.Helper()
	testtool.Need(t, "git")
	dir := filepath.Join(t.TempDir(), "linux")
	os.MkdirAll(dir, 0o755)
	gitCmd(t, dir, "init", "-q")
	write := func(name, body string, mode os.FileMode) {
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	var common strings.Builder
	for i := range 400 {
		fmt.Fprintf(&common, "static int helper_%d(struct device *dev) { return dev->id + %d; }\n", i, i*i)
	}
	for d := range 6 {
		for f := range 12 {
			write(fmt.Sprintf("drivers/d%d/sub/f%d.c", d, f), fmt.Sprintf("/* file %d of driver %d */\n%s/* end %d */\n", f, d, common.String(), f*d), 0o644)
		}
	}
	write("Makefile", "SUBLEVEL = 1\n", 0o644)
	write("scripts/checkpatch.pl", "#!/usr/bin/perl\nprint 1;\n", 0o755)
	write("empty", "", 0o644)
	write("same/a", "same\n", 0o644)
	write("same/b", "same\n", 0o644)
	write("include/uapi/errno.h", "#define EPERM 1\n", 0o644) // one blob in two folders
	write("tools/include/uapi/errno.h", "#define EPERM 1\n", 0o644)
	os.Symlink("../drivers/d0/sub/f0.c", filepath.Join(dir, "scripts/link.c"))
	os.Symlink("dangling-target", filepath.Join(dir, "dangling"))
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "Linux 6.12.1")
	gitCmd(t, dir, "tag", "-a", "-m", "Linux 6.12.1", "v6.12.1")
	write("Makefile", "SUBLEVEL = 2\n", 0o644)
	write("drivers/d3/sub/f3.c", "/* rewritten */\n"+common.String(), 0o644)
	gitCmd(t, dir, "commit", "-q", "-am", "Linux 6.12.2")
	gitCmd(t, dir, "tag", "-a", "-m", "Linux 6.12.2", "v6.12.2")
	gitCmd(t, dir, "repack", "-q", "-a", "-d", "-f", "--depth=50", "--window=250")
	return dir
}

// sameTree compares two folders: names, kinds, modes (executable or not), contents and link targets.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, path)
		if rel == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		seen[rel] = true
		wi, _ := os.Lstat(path)
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: missing (%v)", rel, err)
			return nil
		}
		switch {
		case wi.Mode().Type() != gi.Mode().Type():
			t.Errorf("%s: %v, want %v", rel, gi.Mode().Type(), wi.Mode().Type())
		case wi.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(path)
			gl, _ := os.Readlink(filepath.Join(got, rel))
			if wl != gl {
				t.Errorf("%s: link to %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			if (wi.Mode()&0o100 != 0) != (gi.Mode()&0o100 != 0) {
				t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
			}
			wb, _ := os.ReadFile(path)
			gb, _ := os.ReadFile(filepath.Join(got, rel))
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: contents differ", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(got, func(path string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(got, path); err == nil && !seen[rel] {
			t.Errorf("%s: not in the release", rel)
		}
		return nil
	})
}

func TestFirstFetchWritesTheTreeAsThePackArrives(t *testing.T) {
	upstream := deltaRepo(t)
	if out := gitCmd(t, upstream, "verify-pack", "-v", mustGlob(t, upstream+"/.git/objects/pack/*.idx")); !strings.Contains(out, "chain length = 2") {
		t.Fatalf("the upstream pack has no delta chains to test with:\n%s", out)
	}
	m := openMirror(t, t.TempDir(), "file://"+upstream)
	ctx := context.Background()
	r1, _ := version.ParseRelease("6.12.1")
	dest := filepath.Join(t.TempDir(), "src")
	// What a first fetch killed halfway leaves: a partial pack, an index never joined by its
	// pack, a partial tree. The next first fetch clears them.
	debris := []string{m.Dir + "/objects/pack/tmp_pack_123", m.Dir + "/objects/pack/pack-" + strings.Repeat("ab", 20) + ".idx", dest + ".tmp-99/drivers/x"}
	for _, p := range debris {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var calls int
	f, err := m.FetchTagTree(ctx, r1, nil, TreeRequest{Dest: dest, Workers: 2, Files: func(files, bytes int64) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if f.Tree != dest || f.Files != 81 || calls == 0 {
		t.Fatalf("FetchTagTree = tree %q, %d files, %d progress calls; want %s, 81, some", f.Tree, f.Files, calls, dest)
	}
	// The tree is the tag's, as git checks it out.
	checkout := filepath.Join(t.TempDir(), "checkout")
	gitCmd(t, t.TempDir(), "clone", "-q", "--branch", "v6.12.1", upstream, checkout)
	sameTree(t, checkout, dest)

	// The mirror is what git itself would have fetched: fsck finds every object, the pack's
	// index is right, the repository is shallow at the tagged commit.
	gitCmd(t, m.Dir, "fsck", "--full", "--strict")
	gitCmd(t, m.Dir, "verify-pack", mustGlob(t, m.Dir+"/objects/pack/*.idx"))
	commit := gitCmd(t, upstream, "rev-parse", "v6.12.1^{commit}")
	if shallow, _ := os.ReadFile(filepath.Join(m.Dir, "shallow")); strings.TrimSpace(string(shallow)) != commit {
		t.Errorf("shallow = %q, want %s", shallow, commit)
	}
	tagged, err := m.Resolve(f.Ref)
	if err != nil || tagged.Tag == nil || tagged.Commit.Hash.String() != commit {
		t.Fatalf("Resolve = %+v, %v", tagged, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 1 {
		t.Errorf("beside the tree: %v, want only the tree", entries)
	}
	for _, p := range debris[:2] {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}

	// The next point release is an ordinary incremental fetch on top.
	r2, _ := version.ParseRelease("6.12.2")
	f2, err := m.FetchTagTree(ctx, r2, nil, TreeRequest{Dest: filepath.Join(t.TempDir(), "unused"), Workers: 2})
	if err != nil || !f2.Incremental || f2.Tree != "" {
		t.Fatalf("second FetchTagTree = %+v, %v; want incremental, no tree", f2, err)
	}
	gitCmd(t, m.Dir, "fsck", "--full")
}

// A tree entry that would write outside the folder (or into a .git, in any letter case) is
// refused before any file is written: the tree is written before the tag's signature is checked.
// The refusal is treepath's, not damage: fetching again would not change the name.
func TestFirstFetchRefusesUnsafeNames(t *testing.T) {
	for _, name := range []string{"..", ".git", ".GIT", ".Git"} {
		t.Run(name, func(t *testing.T) {
			testtool.Need(t, "git")
			dir := filepath.Join(t.TempDir(), "linux")
			os.MkdirAll(dir, 0o755)
			gitCmd(t, dir, "init", "-q")
			blob := gitCmd(t, dir, "hash-object", "-w", "--stdin")
			inner := mktree(t, dir, fmt.Sprintf("100644 blob %s\tpasswd\n", blob))
			root := mktree(t, dir, fmt.Sprintf("040000 tree %s\t%s\n", inner, name))
			commit := gitCmd(t, dir, "commit-tree", "-m", "Linux 6.12.1", root)
			gitCmd(t, dir, "tag", "-a", "-m", "Linux 6.12.1", "v6.12.1", commit)

			m := openMirror(t, t.TempDir(), "file://"+dir)
			parent := t.TempDir()
			r1, _ := version.ParseRelease("6.12.1")
			_, err := m.FetchTagTree(context.Background(), r1, nil, TreeRequest{Dest: filepath.Join(parent, "src"), Workers: 2})
			if !errors.Is(err, treepath.ErrUnsafePath) || errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), fmt.Sprintf("tree entry %q", name)) {
				t.Fatalf("FetchTagTree = %v, want the unsafe name refused (ErrUnsafePath, not ErrDamaged)", err)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
			if _, err := os.Stat(filepath.Join(parent, "passwd")); err == nil {
				t.Error("wrote outside the tree")
			}
			if packs, _ := filepath.Glob(m.Dir + "/objects/pack/*"); len(packs) != 0 {
				t.Errorf("the mirror kept %v", packs)
			}
		})
	}
}

// openTag opens the repository at dir and reads its annotated tag name and the commit it tags.
func openTag(t *testing.T, dir, name string) (*git.Repository, *object.Tag, *object.Commit) {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Tag(name)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := repo.TagObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	commit, err := tag.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return repo, tag, commit
}

func mktree(t *testing.T, dir, entries string) string {
	t.Helper()
	cmd := exec.Command("git", "mktree")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(entries)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git mktree: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func mustGlob(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s: %v", pattern, m)
	}
	return m[0]
}

// The receiver on packs as other servers may send them: bases named by hash (REF_DELTA, from a
// server or client without ofs-delta), bases read back from the pack written so far (nothing
// kept in memory), and broken packs, which must fail without leaving a pack behind.
func TestReceiverPackShapes(t *testing.T) {
	upstream := deltaRepo(t)
	checkout := filepath.Join(t.TempDir(), "checkout")
	gitCmd(t, t.TempDir(), "clone", "-q", "--branch", "v6.12.2", upstream, checkout)
	tag := plumbing.NewHash(gitCmd(t, upstream, "rev-parse", "v6.12.2"))
	pack := func(args ...string) []byte {
		cmd := exec.Command("git", append([]string{"pack-objects", "--revs", "--stdout", "-q"}, args...)...)
		cmd.Dir = upstream
		cmd.Stdin = strings.NewReader("v6.12.2\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ofs, ref := pack("--delta-base-offset"), pack()
	receive := func(t *testing.T, data []byte) (string, string, error) {
		packDir, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
		os.MkdirAll(tree, 0o755)
		rc := newReceiver(tag, tree, nil)
		defer rc.close()
		_, err := rc.receive(context.Background(), bytes.NewReader(data), packDir, 2)
		return packDir, tree, err
	}
	for _, tc := range []struct {
		name string
		data []byte
		keep int
	}{
		{"ofs-delta", ofs, keepBases},
		{"ref-delta", ref, keepBases},
		{"ofs-delta, bases read back", ofs, 1},
		{"ref-delta, bases read back", ref, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(k int) { keepBases = k }(keepBases)
			keepBases = tc.keep
			packDir, tree, err := receive(t, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			sameTree(t, checkout, tree)
			out := gitCmd(t, packDir, "verify-pack", "-v", mustGlob(t, packDir+"/pack-*.idx"))
			if !strings.Contains(out, "chain length") {
				t.Errorf("no deltas in the pack:\n%s", out)
			}
		})
	}
	broken := map[string][]byte{
		"truncated": ofs[:len(ofs)/2],
		"corrupted": append(append(append([]byte{}, ofs[:len(ofs)/2]...), ofs[len(ofs)/2]^0xff), ofs[len(ofs)/2+1:]...),
		"trailing":  append(append([]byte{}, ofs...), "junk"...),
	}
	for name, data := range broken {
		t.Run(name, func(t *testing.T) {
			packDir, _, err := receive(t, data)
			if err == nil {
				t.Fatal("a broken pack was accepted")
			}
			t.Log(err)
			if left, _ := os.ReadDir(packDir); len(left) != 0 {
				t.Errorf("left in the pack folder: %v", left)
			}
		})
	}
}

// A server need not send trees before blobs (git sends the kernel's root tree last): blobs whose
// paths are not known when they arrive, or known only in part (one blob in two folders), are
// written once the pack is in.
func TestReceiverAnyObjectOrder(t *testing.T) {
	upstream := deltaRepo(t)
	checkout := filepath.Join(t.TempDir(), "checkout")
	gitCmd(t, t.TempDir(), "clone", "-q", "--branch", "v6.12.1", upstream, checkout)
	repo, tag, commit := openTag(t, upstream, "v6.12.1")
	// Trees parent first, blobs after them, but for one folder (tools/) sent last, so the blob
	// in include/uapi and tools/include/uapi arrives when only its first path is known; every
	// blob before any tree; the root last, as git sends the kernel (every folder is then written
	// under an anchor and moved into place); the root and drivers/ last (drivers/d0... are
	// anchors inside a folder that is not).
	var trees, blobs []plumbing.Hash
	var late, drivers plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	var walk func(h plumbing.Hash, name string)
	walk = func(h plumbing.Hash, name string) {
		if seen[h] {
			return // the same folder twice (include/uapi, tools/include/uapi)
		}
		seen[h] = true
		tree, err := repo.TreeObject(h)
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "tools":
			late = h
		case "drivers":
			drivers = h
		default:
			trees = append(trees, h)
		}
		for _, e := range tree.Entries {
			switch {
			case e.Mode == filemode.Dir:
				walk(e.Hash, path.Join(name, e.Name))
			case !seen[e.Hash]:
				seen[e.Hash] = true
				blobs = append(blobs, e.Hash)
			}
		}
	}
	walk(commit.TreeHash, "")
	if late.IsZero() {
		t.Fatal("no tools/ in the test tree")
	}
	head := []plumbing.Hash{tag.Hash, commit.Hash}
	root, rest := trees[0], trees[1:]
	orders := map[string][]plumbing.Hash{
		"a folder late":         slices.Concat(head, trees, []plumbing.Hash{drivers}, blobs, []plumbing.Hash{late}),
		"blobs first":           slices.Concat(head, blobs, trees, []plumbing.Hash{late, drivers}),
		"root last":             slices.Concat(head, rest, []plumbing.Hash{late, drivers}, blobs, []plumbing.Hash{root}),
		"root and drivers last": slices.Concat(head, rest, []plumbing.Hash{late}, blobs, []plumbing.Hash{drivers, root}),
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			var pack bytes.Buffer
			if _, err := packfile.NewEncoder(&pack, repo.Storer, false).Encode(order, 0); err != nil {
				t.Fatal(err)
			}
			packDir, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
			os.MkdirAll(tree, 0o755)
			rc := newReceiver(tag.Hash, tree, nil)
			defer rc.close()
			n, err := rc.receive(context.Background(), &pack, packDir, 2)
			if err != nil {
				t.Fatal(err)
			}
			sameTree(t, checkout, tree)
			if n != 81 {
				t.Errorf("%d files written, want 81", n)
			}
			if strings.HasPrefix(name, "root") && len(rc.anchored) == 0 {
				t.Error("no folder was written under an anchor")
			}
		})
	}
}
