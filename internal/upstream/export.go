package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
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
	want, err := treeFiles(ctx, tree)
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

// treeFiles says which blob goes where (identical files share a blob).
func treeFiles(ctx context.Context, tree *object.Tree) (map[plumbing.Hash][]exportItem, error) {
	want := map[plumbing.Hash][]exportItem{}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			return want, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		switch entry.Mode {
		case filemode.Regular, filemode.Executable, filemode.Deprecated, filemode.Symlink:
			want[entry.Hash] = append(want[entry.Hash], exportItem{path: name, mode: entry.Mode, hash: entry.Hash})
		}
	}
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

func writeData(root string, it exportItem, data []byte, dirs *sync.Map) error {
	path := filepath.Join(root, filepath.FromSlash(it.path))
	dir := filepath.Dir(path)
	if _, done := dirs.Load(dir); !done {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
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
