package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// fetchTarball makes the release's verified tree from kernel.org's tarballs, cached per base URL
// and shared between work dirs like the git mirrors. With the previous point release already
// unpacked, only kernel.org's incremental patch is fetched.
func (r *run) fetchTarball() (string, error) {
	ctx := context.Background()
	l := r.plan.Line
	rel := r.plan.Release
	sum := sha256.Sum256([]byte(l.Upstream.Tarballs))
	dir := filepath.Join(r.opts.CacheDir, "tarballs", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	trust := upstream.Trust{Keyring: l.Upstream.Keyring, Signers: l.Upstream.Signers}
	tree := func(v version.Release) string { return filepath.Join(dir, "linux-"+v.String()) }
	dest := tree(rel)
	u, err := readUnpacked(dest)
	switch {
	case err == nil:
		u.How = "already unpacked"
	case rel.Patch >= 2:
		prev := version.Release{Major: rel.Major, Minor: rel.Minor, Patch: rel.Patch - 1}
		if _, perr := readUnpacked(tree(prev)); perr == nil {
			u, err = upstream.ApplyIncremental(ctx, l.Upstream.Tarballs, rel, trust, tree(prev), dest)
			if err != nil && !errors.Is(err, upstream.ErrUntrusted) {
				fmt.Fprintf(r.opts.Out, "%-18s incremental patch to %s failed (%v): fetching the whole tarball\n", "warning", rel, err)
				err = errNoIncremental
			}
		} else {
			err = errNoIncremental
		}
	default:
		err = errNoIncremental
	}
	if errors.Is(err, errNoIncremental) {
		u, err = upstream.ExtractTarball(ctx, l.Upstream.Tarballs, rel, trust, dest)
	}
	if err != nil {
		return "", err
	}
	if u.How != "already unpacked" {
		data, _ := json.Marshal(u)
		if err := atomicfile.WriteFile(dest+".json", data, 0o644); err != nil {
			return "", err
		}
	}
	r.pristine = dest
	r.m.Upstream.Signer = u.Signer
	r.m.Upstream.Commit = u.Commit
	r.m.Upstream.CommitTime = u.ModTime.UTC()
	r.m.Upstream.GitURL = upstream.TarballURL(l.Upstream.Tarballs, rel)
	r.commitTS = u.ModTime
	return fmt.Sprintf("linux-%s.tar.xz (%s), signed by %s", rel, u.How, u.Signer), nil
}

var errNoIncremental = errors.New("no incremental patch")

// readUnpacked reads the record written once a tree was unpacked and verified; without it the
// tree is not complete.
func readUnpacked(tree string) (*upstream.Unpacked, error) {
	data, err := os.ReadFile(tree + ".json")
	if err != nil {
		return nil, err
	}
	var u upstream.Unpacked
	if err := json.Unmarshal(data, &u); err != nil {
		return nil, err
	}
	if _, err := os.Stat(tree); err != nil {
		return nil, err
	}
	return &u, nil
}
