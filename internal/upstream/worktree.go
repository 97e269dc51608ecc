package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/treepath"
)

// Worktree is a source tree kept at one path and moved from commit to commit in place. A build
// tree made from it (make O=…) then sees as new only the files that really changed between two
// releases or two patch series, so the next build is incremental and ccache's keys (which hold
// the source path) still match. A stamp beside the folder says which commit it holds; while a
// move is under way it says so, and a move cut short (a kill, a full disk) is finished by the next.
type Worktree struct {
	Dir string
	// Limits holds what is written to the caps on what a fetch may unpack (ExportWithProgress):
	// the mirror holds what upstream sent. Zero: the defaults.
	Limits Limits
}

// StampPath is the file that says which commit the tree holds.
func (w Worktree) StampPath() string { return w.Dir + ".commit" }

const movingPrefix = "moving "

// Holds is the commit the tree holds; zero when it holds none for certain (absent, or a move
// was cut short).
func (w Worktree) Holds() plumbing.Hash {
	held, _ := w.state()
	return held
}

// stamp records that the tree holds commit; unstamp that it holds nothing for certain.
func (w Worktree) stamp(commit plumbing.Hash) error {
	return atomicfile.WriteFile(w.StampPath(), []byte(commit.String()+"\n"), 0o644)
}

func (w Worktree) unstamp() error {
	if err := os.Remove(w.StampPath()); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Vacant says whether the tree holds nothing a move could start from (absent, or unstamped).
func (w Worktree) Vacant() bool {
	_, from := w.state()
	return len(from) == 0
}

// Unverified is where a tree is written before its tag's signature is checked (FetchTagTree).
func (w Worktree) Unverified() string { return w.Dir + ".unverified" }

// Adopt makes the tree written at Unverified the tree, holding commit: the caller has checked
// the tag that names it.
func (w Worktree) Adopt(commit plumbing.Hash) error {
	if err := w.unstamp(); err != nil {
		return err
	}
	if err := os.RemoveAll(w.Dir); err != nil {
		return err
	}
	if err := os.Rename(w.Unverified(), w.Dir); err != nil {
		return err
	}
	return w.stamp(commit)
}

// state reads the stamp: the commit the tree holds, and the commits whose differences from any
// other must be undone to move it there (the one it holds; both ends of a move cut short). Both
// are empty for a tree that is absent or unstamped.
func (w Worktree) state() (held plumbing.Hash, from []plumbing.Hash) {
	data, err := os.ReadFile(w.StampPath())
	if err != nil {
		return plumbing.ZeroHash, nil
	}
	if _, err := os.Stat(w.Dir); err != nil {
		return plumbing.ZeroHash, nil
	}
	switch f := strings.Fields(string(data)); {
	case len(f) == 1 && plumbing.IsHash(f[0]):
		h := plumbing.NewHash(f[0])
		return h, []plumbing.Hash{h}
	case len(f) == 3 && f[0]+" " == movingPrefix && plumbing.IsHash(f[1]) && plumbing.IsHash(f[2]):
		// A move from f[1] to f[2] was cut short: each path is at one or the other.
		return plumbing.ZeroHash, []plumbing.Hash{plumbing.NewHash(f[1]), plumbing.NewHash(f[2])}
	}
	return plumbing.ZeroHash, nil
}

// Checkout makes the tree hold commit to, a commit in the repository at repoDir. How says what it
// did: "reused", "updated N paths from <commit>", or "exported N files". A tree that holds a commit
// the repository no longer has, or none, is exported whole (beside, then renamed into place).
func (w Worktree) Checkout(ctx context.Context, repoDir string, to plumbing.Hash, workers int, progress Progress) (how string, err error) {
	if err := removeTree(ctx, w.Unverified()); err != nil { // left by a run stopped before its check
		return "", err
	}
	held, from := w.state()
	if held == to {
		return "reused", nil
	}
	if len(from) > 0 {
		n, err := w.move(ctx, repoDir, from, to)
		if err == nil {
			return fmt.Sprintf("updated %d paths from %s", n, from[0].String()[:12]), nil
		}
		if !errors.Is(err, errUnknownBase) {
			return "", err
		}
		// The mirror was emptied and fetched again since: export the whole tree.
	}
	if err := w.unstamp(); err != nil {
		return "", err
	}
	files, err := ExportWithProgress(ctx, repoDir, to, w.Dir, workers, progress, w.Limits)
	if err != nil {
		return "", err
	}
	if err := w.stamp(to); err != nil {
		return "", err
	}
	return fmt.Sprintf("exported %d files", files), nil
}

var errUnknownBase = errors.New("the tree's commit is not in the mirror")

// move rewrites the paths where any of from differs from to, then stamps the tree as holding to.
func (w Worktree) move(ctx context.Context, repoDir string, from []plumbing.Hash, to plumbing.Hash) (int, error) {
	repo, closeRepo, err := openForExport(repoDir)
	if err != nil {
		return 0, err
	}
	defer closeRepo()
	toTree, err := commitTree(repo, to)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	paths := map[string]bool{}
	checked := map[plumbing.Hash]bool{}
	for _, f := range from {
		fromTree, err := commitTree(repo, f)
		if err != nil {
			return 0, errUnknownBase
		}
		// go-git's diff looks entries up by name, so a tree with a name twice or a slash in one
		// gives a wrong or failed diff: the folders that differ are checked first.
		if err := checkChanged(repo, fromTree, toTree, "", checked); err != nil {
			return 0, fmt.Errorf("moving to %s: %w", to, err)
		}
		changes, err := object.DiffTreeWithOptions(ctx, fromTree, toTree, &object.DiffTreeOptions{})
		if err != nil {
			return 0, fmt.Errorf("comparing %s with %s: %w", f, to, err)
		}
		for _, c := range changes {
			for _, name := range []string{c.From.Name, c.To.Name} {
				if name == "" {
					continue
				}
				// A name the tree walk joins from entries with slashes or ".." in them must
				// not be looked up, removed or written: it lies outside the tree.
				if err := treepath.Check(name); err != nil {
					return 0, fmt.Errorf("moving to %s: %w", to, err)
				}
				paths[name] = true
			}
		}
	}
	// Removals first (deepest first), so a folder that becomes a file is gone before the file is
	// written; then every path to holds, each written beside and renamed over. Every path is
	// looked up, and every blob held to the caps by the size it declares, before the tree is
	// touched, so a refused name or blob leaves it as it was.
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(sorted)))
	writes := map[plumbing.Hash][]exportItem{}
	var removes, folders []string
	for _, p := range sorted {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		e, err := lookup(toTree, p)
		switch {
		case err != nil:
			return 0, fmt.Errorf("%w: %s in %s: %v", ErrDamaged, p, to, err)
		case e == nil:
			removes = append(removes, p)
		case e.Mode == filemode.Dir:
			folders = append(folders, p)
		case e.Mode == filemode.Submodule:
			// Not in a kernel release; git leaves an empty folder, and so do we.
		default:
			writes[e.Hash] = append(writes[e.Hash], exportItem{p, e.Mode, e.Hash})
		}
	}
	limit := newBudget(w.Limits, gitHint)
	for h, items := range writes {
		obj, err := repo.Storer.EncodedObject(plumbing.BlobObject, h)
		if err != nil {
			return 0, damaged(items[0], err)
		}
		if err := limit.one(fmt.Sprintf("%s (%s)", items[0].path, h), obj.Size()); err != nil {
			return 0, err
		}
		for _, it := range items {
			if err := limit.write(it.path, obj.Size()); err != nil {
				return 0, err
			}
		}
	}
	stamp := fmt.Sprintf("%s%s %s\n", movingPrefix, from[0], to)
	if len(from) > 1 {
		stamp = fmt.Sprintf("%s%s %s\n", movingPrefix, from[0], from[1]) // still owed: both
	}
	if err := atomicfile.WriteFile(w.StampPath(), []byte(stamp), 0o644); err != nil {
		return 0, err
	}
	for _, p := range removes {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := removeWithEmptyParents(w.Dir, p); err != nil {
			return 0, err
		}
	}
	for _, p := range folders {
		// A file (or symlink) that became a folder: its files are among the paths too.
		path, err := treepath.Join(w.Dir, p)
		if err != nil {
			return 0, fmt.Errorf("moving to %s: %w", to, err)
		}
		if info, err := os.Lstat(path); err == nil && !info.IsDir() {
			if err := os.Remove(path); err != nil {
				return 0, err
			}
		}
	}
	err = readBlobs(ctx, repoDir, repo, writes, limit, func(b blob, items []exportItem) error {
		for _, it := range items {
			r, err := b.reader(it)
			if err != nil {
				return err
			}
			err = w.writeFile(it.path, it.mode, r)
			r.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := w.stamp(to); err != nil {
		return 0, err
	}
	return len(paths), nil
}

// checkChanged holds every folder of to that is not in from, at prefix, to treepath's rule
// (checkFolder), skipping folders in checked and marking those it checks.
func checkChanged(repo *git.Repository, from, to *object.Tree, prefix string, checked map[plumbing.Hash]bool) error {
	if checked[to.Hash] || from != nil && from.Hash == to.Hash {
		return nil
	}
	if err := checkFolder(prefix, to.Entries); err != nil {
		return err
	}
	checked[to.Hash] = true
	old := map[string]object.TreeEntry{}
	if from != nil {
		for _, e := range from.Entries {
			old[e.Name] = e
		}
	}
	for _, e := range to.Entries {
		if e.Mode != filemode.Dir {
			continue
		}
		sub, err := object.GetTree(repo.Storer, e.Hash)
		if err != nil {
			return fmt.Errorf("%w: folder %s%s (%s): %v", ErrDamaged, prefix, e.Name, e.Hash, err)
		}
		var was *object.Tree
		if o, ok := old[e.Name]; ok && o.Mode == filemode.Dir {
			if was, err = object.GetTree(repo.Storer, o.Hash); err != nil {
				return fmt.Errorf("%w: folder %s%s (%s): %v", ErrDamaged, prefix, e.Name, o.Hash, err)
			}
		}
		if err := checkChanged(repo, was, sub, prefix+e.Name+"/", checked); err != nil {
			return err
		}
	}
	return nil
}

// lookup finds path in tree: nil (and no error) when the tree has nothing there, also when a
// parent is a file; an error only when an object the tree names cannot be read.
func lookup(tree *object.Tree, path string) (*object.TreeEntry, error) {
	parts := strings.Split(path, "/")
	for i, part := range parts {
		var found *object.TreeEntry
		for j := range tree.Entries {
			if tree.Entries[j].Name == part {
				found = &tree.Entries[j]
				break
			}
		}
		if found == nil {
			return nil, nil
		}
		if i == len(parts)-1 {
			return found, nil
		}
		if found.Mode != filemode.Dir {
			return nil, nil
		}
		sub, err := tree.Tree(part)
		if err != nil {
			return nil, err
		}
		tree = sub
	}
	return nil, nil
}

func commitTree(repo *git.Repository, h plumbing.Hash) (*object.Tree, error) {
	c, err := repo.CommitObject(h)
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

// writeFile puts one blob, read from content, at its path: a temporary name in the same folder,
// renamed over. No folder on the way may be a symlink (treepath), and what is at the path is
// replaced, never written through.
func (w Worktree) writeFile(name string, mode filemode.FileMode, content io.Reader) error {
	dirName := path.Dir(name)
	if dirName != "." {
		dir, err := treepath.Join(w.Dir, dirName)
		if err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		if info, err := os.Lstat(dir); err == nil && info.Mode().IsRegular() {
			if err := os.Remove(dir); err != nil { // a file that became a folder
				return err
			}
		}
	}
	path, err := treepath.MkdirAll(w.Dir, name)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := filepath.Join(filepath.Dir(path), ".wslkernel-tmp-"+filepath.Base(path))
	os.Remove(tmp)
	if mode == filemode.Symlink {
		target, err := io.ReadAll(content)
		if err != nil {
			return err
		}
		if err := os.Symlink(string(target), tmp); err != nil {
			return err
		}
	} else {
		perm := os.FileMode(0o644)
		if mode == filemode.Executable {
			perm = 0o755
		}
		if err := writeTemp(tmp, content, perm); err != nil {
			os.Remove(tmp)
			if errors.Is(err, ErrDamaged) {
				return err
			}
			return fmt.Errorf("writing %s: %w", name, err)
		}
		if err := os.Chmod(tmp, perm); err != nil { // the umask may have narrowed it
			return err
		}
	}
	if info, err := os.Lstat(path); err == nil && info.IsDir() {
		if err := os.RemoveAll(path); err != nil { // a folder that became a file
			return err
		}
	}
	return os.Rename(tmp, path)
}

// writeTemp writes what r reads to a new file at path.
func writeTemp(path string, r io.Reader, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// removeWithEmptyParents removes rel under root and then each parent folder it leaves empty, as a
// checkout does (git keeps no empty folders). A name under a symlink or file on disk is not in
// the tree, so there is nothing of it to remove (and nothing outside is reached through it).
func removeWithEmptyParents(root, rel string) error {
	if err := treepath.Check(rel); err != nil {
		return err
	}
	path, err := treepath.Join(root, rel)
	if err != nil {
		return nil // under what is a symlink or file on disk
	}
	if _, err := os.Lstat(path); err != nil {
		return nil // already absent
	}
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	for dir := filepath.Dir(path); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
		if err := os.Remove(dir); err != nil {
			break // not empty (or gone): stop
		}
	}
	return nil
}
