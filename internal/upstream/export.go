package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/wslkernel/wslkernel/internal/treepath"
)

type exportItem struct {
	path string
	mode filemode.FileMode
	hash plumbing.Hash
}

// Export writes the commit's tree into dest: regular files with their executable bits, and symlinks.
// It writes into a sibling temporary folder and renames it into place at the end, so dest is
// either the whole tree or absent. Blobs are read in one goroutine and written by workers, so
// memory stays bounded by the worker count; a blob past streamAbove is streamed from the mirror to
// its file. It returns the number of files written. A cancelled ctx stops it between two
// objects; the partial tree beside dest is cleared by the next export. Export holds the tree to
// the default Limits (ExportWithProgress: to any).
func Export(ctx context.Context, repoDir string, commit plumbing.Hash, dest string, workers int) (int64, error) {
	return ExportWithProgress(ctx, repoDir, commit, dest, workers, nil, Limits{})
}

// Progress receives the files and bytes written so far, a few times a second and once at the end.
type Progress func(files, bytes int64)

// ExportWithProgress is Export reporting its progress, and holding the tree to lim: each object
// to the cap for one by the size it declares, before it is read (a mirror holds what upstream
// sent), and the files written, together, to the total.
func ExportWithProgress(ctx context.Context, repoDir string, commit plumbing.Hash, dest string, workers int, progress Progress, lim Limits) (int64, error) {
	repo, closeRepo, err := openForExport(repoDir)
	if err != nil {
		return 0, err
	}
	defer closeRepo()
	c, err := repo.CommitObject(commit)
	if err != nil {
		return 0, fmt.Errorf("%w: export %s: %v", ErrDamaged, commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return 0, fmt.Errorf("%w: export %s: %v", ErrDamaged, commit, err)
	}
	want, err := treeFiles(ctx, repo.Storer, tree)
	if err != nil {
		return 0, fmt.Errorf("export %s: walking the tree: %w", commit, err)
	}
	tmp, err := tempBeside(ctx, dest)
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() {
		if !ok {
			discard(ctx, tmp)
		}
	}()

	var dirs sync.Map
	var done counted
	limit := newBudget(lim, gitHint)
	write := func(it exportItem, b blob) error {
		if err := limit.write(it.path, b.size); err != nil {
			return err
		}
		r, err := b.reader(it)
		if err != nil {
			return err
		}
		defer r.Close()
		return done.writeFrom(tmp, it, r, b.size, &dirs)
	}
	stop := done.report(progress)
	send, wait := startPool(ctx, workers, func(job exportJob) error {
		for _, it := range job.items {
			if err := write(it, job.blob); err != nil {
				return err
			}
		}
		return nil
	})
	err = readBlobs(ctx, repoDir, repo, want, limit, func(b blob, items []exportItem) error {
		if b.open == nil {
			return send(exportJob{blob: b, items: items})
		}
		for _, it := range items { // streamed here, one path after another
			if err := write(it, b); err != nil {
				return err
			}
		}
		return nil
	})
	if werr := wait(); werr != nil {
		err = werr // the reading stopped because a writer failed
	}
	stop()
	if err != nil {
		return 0, err
	}
	if err := renameInto(ctx, tmp, dest); err != nil {
		return 0, err
	}
	ok = true
	return done.files.Load(), nil
}

// treeFiles says which blob goes where (identical files share a blob). Every folder's entries are
// held to treepath's rule (checkFolder) before anything is written: a mirror holds whatever was
// pushed to it, and a name with a slash, or a symlink and a folder of the same name, would
// otherwise lead a write out of the tree.
func treeFiles(ctx context.Context, s storer.EncodedObjectStorer, tree *object.Tree) (map[plumbing.Hash][]exportItem, error) {
	want := map[plumbing.Hash][]exportItem{}
	var walk func(t *object.Tree, prefix string) error
	walk = func(t *object.Tree, prefix string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := checkFolder(prefix, t.Entries); err != nil {
			return err
		}
		for _, e := range t.Entries {
			name := prefix + e.Name
			switch e.Mode {
			case filemode.Dir:
				sub, err := object.GetTree(s, e.Hash)
				if err != nil {
					return fmt.Errorf("%w: folder %s (%s): %v", ErrDamaged, name, e.Hash, err)
				}
				if err := walk(sub, name+"/"); err != nil {
					return err
				}
			case filemode.Regular, filemode.Executable, filemode.Deprecated, filemode.Symlink:
				want[e.Hash] = append(want[e.Hash], exportItem{path: name, mode: e.Mode, hash: e.Hash})
			}
		}
		return nil
	}
	if err := walk(tree, ""); err != nil {
		return nil, err
	}
	return want, nil
}

// checkFolder holds the entries of the folder at prefix (empty, or ending in a slash) to
// treepath's rule: each one safe name, none twice. Within a git tree that is the whole rule: a
// name under a symlink needs a folder of the same name beside it, or a slash in a name.
func checkFolder(prefix string, entries []object.TreeEntry) error {
	var names treepath.Set
	for _, e := range entries {
		err := treepath.CheckEntry(e.Name)
		if err == nil {
			kind := treepath.File
			switch e.Mode {
			case filemode.Dir, filemode.Submodule:
				kind = treepath.Dir
			case filemode.Symlink:
				kind = treepath.Symlink
			}
			err = names.Add(e.Name, kind)
		}
		if err != nil {
			return fmt.Errorf("tree entry %q in folder %q: %w", e.Name, strings.TrimSuffix(prefix, "/"), err)
		}
	}
	return nil
}

// openForExport opens the mirror for export: pack file descriptors kept open (go-git otherwise
// reopens the pack for every object) and a small object cache (each blob is read once). An object
// past streamAbove is streamed by go-git (LargeObjectThreshold), and its size is known before
// anything of it is read; packOrder reads the packs' blobs, so this is the way only of loose
// objects and blobs past streamAbove stored whole. go-git's streaming delta reader re-reads the
// base for every copy instruction backwards (a pack with 9% deltified blobs read through it took
// over 4 minutes instead of 33 s): packOrder applies deltas itself, in memory.
func openForExport(dir string) (*git.Repository, func(), error) {
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(8*cache.MiByte), filesystem.Options{
		KeepDescriptors:      true,
		LargeObjectThreshold: streamAbove,
	})
	repo, err := git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return repo, func() { st.Close() }, nil
}

type exportJob struct {
	blob  blob
	items []exportItem
}

// streamAbove is the size past which a blob stored whole in the mirror is streamed to its files
// rather than held in memory. A delta's result is held whole whatever its size (it is applied
// with its base at hand), bounded by the cap for one object. A variable for the tests.
var streamAbove int64 = 16 << 20

// blob is one blob of a tree as read from the mirror: whole in data, or, past streamAbove and
// stored whole, opened for each of its paths in turn and streamed there.
type blob struct {
	data []byte
	size int64
	open func() (io.ReadCloser, error)
}

// reader opens b for one of its paths; what fails to read from the mirror is damage.
func (b blob) reader(it exportItem) (io.ReadCloser, error) {
	if b.open == nil {
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	r, err := b.open()
	if err != nil {
		return nil, damaged(it, err)
	}
	return mirrorReader{r, it}, nil
}

type mirrorReader struct {
	io.ReadCloser
	it exportItem
}

func (m mirrorReader) Read(p []byte) (int, error) {
	n, err := m.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = damaged(m.it, err)
	}
	return n, err
}

// readBlobs reads the blobs of want from the mirror at repoDir (repo, opened by openForExport)
// and gives each to emit with its paths: what the packs hold in pack order (packOrder), then the
// rest one by one through go-git. Each blob is held to lim's cap for one by the size it
// declares before anything of it is read.
func readBlobs(ctx context.Context, repoDir string, repo *git.Repository, want map[plumbing.Hash][]exportItem, lim *budget, emit func(blob, []exportItem) error) error {
	err := packOrder(ctx, repoDir, want, lim, func(data []byte, items []exportItem) error {
		return emit(blob{data: data, size: int64(len(data))}, items)
	})
	if err != nil {
		return err
	}
	// Loose objects, blobs to stream, deltas on another pack's objects.
	for h, items := range want {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := openBlob(repo, h, items[0], lim)
		if err != nil {
			return err
		}
		if err := emit(b, items); err != nil {
			return err
		}
	}
	return nil
}

// openBlob looks blob h up, holds it to lim's cap for one by the size it declares, and reads it
// whole, or, past streamAbove, leaves it to be streamed.
func openBlob(repo *git.Repository, h plumbing.Hash, it exportItem, lim *budget) (blob, error) {
	obj, err := repo.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return blob{}, damaged(it, err)
	}
	if err := lim.one(fmt.Sprintf("%s (%s)", it.path, h), obj.Size()); err != nil {
		return blob{}, err
	}
	b := blob{size: obj.Size(), open: obj.Reader}
	if b.size > streamAbove {
		return b, nil
	}
	r, err := b.reader(it)
	if err != nil {
		return blob{}, err
	}
	defer r.Close()
	if b.data, err = io.ReadAll(r); err != nil {
		return blob{}, err
	}
	b.open = nil
	return b, nil
}

// writeFrom writes one file of a tree, its contents read from r, into root. Its name was checked
// where the tree was read (checkFolder); here no folder on the way may be a symlink, and the file
// itself is created, never opened through whatever is there. The fetcher's staging folder under
// .git/anchors/ is its own root, so the names under it are held to the same rule.
func writeFrom(root string, it exportItem, r io.Reader, dirs *sync.Map) error {
	name, staged := strings.CutPrefix(it.path, anchors)
	if staged {
		root = filepath.Join(root, filepath.FromSlash(anchors))
	}
	if err := treepath.Check(name); err != nil {
		return fmt.Errorf("writing %s: %w", it.path, err)
	}
	path := filepath.Join(root, filepath.FromSlash(name))
	// Folders made once are real folders in a tree that holds no symlink where a folder is.
	dir := filepath.Dir(path)
	if _, done := dirs.Load(dir); !done {
		if staged {
			if err := os.MkdirAll(root, 0o755); err != nil {
				return err
			}
		}
		if _, err := treepath.MkdirAll(root, name); err != nil {
			return fmt.Errorf("writing %s: %w", it.path, err)
		}
		dirs.Store(dir, true)
	}
	if it.mode == filemode.Symlink {
		target, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return os.Symlink(string(target), path)
	}
	perm := os.FileMode(0o644)
	if it.mode == filemode.Executable {
		perm = 0o755
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		if errors.Is(err, ErrDamaged) {
			return err
		}
		return fmt.Errorf("export %s: %w", it.path, err)
	}
	return f.Close()
}

// ErrDamaged means the mirror could not give back an object it should hold: a truncated or
// corrupt pack, a missing object. Fetching the mirror again repairs it.
var ErrDamaged = errors.New("mirror damaged")

func damaged(it exportItem, err error) error {
	return fmt.Errorf("%w: reading %s (%s): %v", ErrDamaged, it.path, it.hash, err)
}
