package upstream

import (
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
// either the whole tree or absent. Workers each open their own handle on the repository (go-git's
// object storage is not documented as safe for concurrent use), and stream blobs to disk, so
// memory stays bounded by the worker count. It returns the number of files written. A cancelled
// ctx stops it between two objects; the partial tree beside dest is cleared by the next export.
func Export(ctx context.Context, repoDir string, commit plumbing.Hash, dest string, workers int) (int64, error) {
	return ExportWithProgress(ctx, repoDir, commit, dest, workers, nil)
}

// Progress receives the files and bytes written so far, a few times a second and once at the end.
type Progress func(files, bytes int64)

// ExportWithProgress is Export reporting its progress.
func ExportWithProgress(ctx context.Context, repoDir string, commit plumbing.Hash, dest string, workers int, progress Progress) (int64, error) {
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
	stop := done.report(progress)
	send, wait := startPool(ctx, workers, func(job exportJob) error {
		for _, it := range job.items {
			if err := done.write(tmp, it, job.data, &dirs); err != nil {
				return err
			}
		}
		return nil
	})
	emit := func(data []byte, items []exportItem) error { return send(exportJob{data: data, items: items}) }
	err = packOrder(ctx, repoDir, want, emit)
	if err == nil {
		// Loose objects, and deltas on another pack's objects: one by one through go-git.
		for h, items := range want {
			var data []byte
			if data, err = readBlob(repo, h); err != nil {
				err = damaged(items[0], err)
				break
			}
			if err = emit(data, items); err != nil {
				break
			}
		}
	}
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
// reopens the pack for every object) and a small object cache (each blob is read once). Objects
// are not streamed (no LargeObjectThreshold): go-git's streaming delta reader re-reads the base for
// every copy instruction, which took a pack with 9% deltified blobs from 33 s to over 4 minutes.
func openForExport(dir string) (*git.Repository, func(), error) {
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(8*cache.MiByte), filesystem.Options{
		KeepDescriptors: true,
	})
	repo, err := git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return repo, func() { st.Close() }, nil
}

type exportJob struct {
	data  []byte
	items []exportItem
}

func readBlob(r *git.Repository, h plumbing.Hash) ([]byte, error) {
	blob, err := r.BlobObject(h)
	if err != nil {
		return nil, err
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// writeData writes one file of a tree into root. Its name was checked where the tree was read
// (checkFolder); here no folder on the way may be a symlink, and the file itself is created,
// never opened through whatever is there. The fetcher's staging folder under .git/anchors/ is
// its own root, so the names under it are held to the same rule.
func writeData(root string, it exportItem, data []byte, dirs *sync.Map) error {
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
		return os.Symlink(string(data), path)
	}
	perm := os.FileMode(0o644)
	if it.mode == filemode.Executable {
		perm = 0o755
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
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
