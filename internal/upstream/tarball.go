package upstream

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/treepath"
	"github.com/wslkernel/wslkernel/internal/version"
)

// TarballURL is where kernel.org keeps a release's tarball under base
// (https://cdn.kernel.org/pub/linux/kernel): v6.x/linux-6.12.118.tar.xz; its signature over the
// uncompressed tar is the same name with .tar.sign.
func TarballURL(base string, r version.Release) string {
	return fmt.Sprintf("%s/v%d.x/linux-%s.tar.xz", strings.TrimSuffix(base, "/"), r.Major, r)
}

// IncrementalURL is kernel.org's patch from the previous point release to r:
// v6.x/incr/patch-6.12.117-118.xz, signed as .sign over the uncompressed patch.
func IncrementalURL(base string, r version.Release) string {
	prev := version.Release{Major: r.Major, Minor: r.Minor, Patch: r.Patch - 1}
	return fmt.Sprintf("%s/v%d.x/incr/patch-%s-%d.xz", strings.TrimSuffix(base, "/"), r.Major, prev, r.Patch)
}

// signatureURL names the signature of a compressed file: it signs the uncompressed bytes, so
// linux-X.tar.xz is signed by linux-X.tar.sign, and patch-X.xz by patch-X.sign.
func signatureURL(xzURL string) string { return strings.TrimSuffix(xzURL, ".xz") + ".sign" }

// Unpacked is a release tree made from tarballs.
type Unpacked struct {
	Signer  string
	Files   int64
	Commit  string    // the commit git archive recorded in the tarball, if it did
	ModTime time.Time // the entries' mtime: the release's commit time
	How     string    // "tarball" or "incremental from X.Y.Z"
}

// Unpack makes the verified tree of release r from kernel.org's tarballs under base, in a cache
// under cacheDir kept per base URL and shared between work dirs, as the git mirrors are. A tree
// is complete once its record (the Unpacked, as JSON beside it) exists. With the previous point
// release unpacked, only the signed incremental patch is fetched; if that patch cannot be had or
// does not apply, the whole tarball is, and How says why. A bad signature is never worked round.
func Unpack(ctx context.Context, run runner.Runner, cacheDir, base string, r version.Release, trust Trust, lim Limits) (string, *Unpacked, error) {
	dir := TarballCache(cacheDir, base)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	unlock, err := lockFileContext(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	tree := func(v version.Release) string { return filepath.Join(dir, "linux-"+v.String()) }
	dest := tree(r)
	if u, err := readUnpacked(dest); err == nil {
		if err := CheckTreeRelease(dest, r, dest); err != nil {
			// A cache entry that is not the release it is filed as is never used again.
			os.Remove(dest + ".json")
			if rerr := removeTree(ctx, dest); rerr != nil {
				return "", nil, errors.Join(err, rerr)
			}
			return "", nil, fmt.Errorf("%w; the cached tree was removed", err)
		}
		u.How = "already unpacked"
		return dest, u, nil
	}
	var u *Unpacked
	fallback := ""
	prev := version.Release{Major: r.Major, Minor: r.Minor, Patch: r.Patch - 1}
	if _, perr := readUnpacked(tree(prev)); r.Patch >= 2 && perr == nil {
		u, err = ApplyIncremental(ctx, run, base, r, trust, lim, tree(prev), dest)
		if errors.Is(err, ErrUntrusted) || errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
			return "", nil, err // refused, or stopped: not a reason to fetch the tarball
		}
		if err != nil {
			u, fallback = nil, fmt.Sprintf("; the incremental patch failed (%v)", err)
		}
	}
	if u == nil {
		if u, err = ExtractTarball(ctx, run, base, r, trust, lim, dest); err != nil {
			return "", nil, err
		}
		u.How += fallback
	}
	data, err := json.Marshal(u)
	if err != nil {
		return "", nil, err
	}
	if err := atomicfile.WriteFile(dest+".json", data, 0o644); err != nil {
		return "", nil, err
	}
	return dest, u, nil
}

// TarballCache is the folder of Unpack's cache for the tarballs under base.
func TarballCache(cacheDir, base string) string {
	sum := sha256.Sum256([]byte(base))
	return filepath.Join(cacheDir, "tarballs", hex.EncodeToString(sum[:8]))
}

// readUnpacked reads the record written once a tree was unpacked and verified; without it the
// tree is not complete.
func readUnpacked(tree string) (*Unpacked, error) {
	data, err := os.ReadFile(tree + ".json")
	if err != nil {
		return nil, err
	}
	var u Unpacked
	if err := json.Unmarshal(data, &u); err != nil {
		return nil, err
	}
	if _, err := os.Stat(tree); err != nil {
		return nil, err
	}
	return &u, nil
}

// ExtractTarball downloads the release's tarball and signature, and extracts it into dest while
// the signature is checked over the uncompressed tar in the same streaming pass. The tree is
// written beside dest and renamed into place only once the signature is good, so an unverified
// tree is never where a build could use it. Since the tree is written before the signature can
// hold, a signature by a key the keyring lacks is refused before the tarball is downloaded, and
// lim bounds what is written (see Limits). A cancelled ctx stops the download, xz and the
// extraction at once, inside a file too; the partial tree beside dest is removed on every
// failure (what a stop leaves of it is cleared by the next call).
func ExtractTarball(ctx context.Context, run runner.Runner, base string, r version.Release, trust Trust, lim Limits, dest string) (*Unpacked, error) {
	url := TarballURL(base, r)
	sig, xzr, err := openSigned(ctx, run, url, trust)
	if err != nil {
		return nil, err
	}
	defer xzr.Close()
	tmp, err := tempBeside(ctx, dest)
	if err != nil {
		return nil, err
	}
	defer discard(ctx, tmp)

	signed, feed := io.Pipe()
	verdict := make(chan error, 1)
	var signer string
	go func() {
		var err error
		signer, err = trust.VerifyDetached(path.Base(url), signed, sig)
		verdict <- err
	}()
	tee := io.TeeReader(xzr, feed)
	u, err := extractTar(ctx, tee, tmp, fmt.Sprintf("linux-%s/", r), newBudget(lim, tarballHint))
	if err == nil {
		// The tar's end padding is signed too: the verifier must see every byte. git archive
		// pads to 10 KiB; endless bytes after the end would be a bomb that writes nothing.
		var n int64
		if n, err = io.CopyN(io.Discard, tee, maxTrailer+1); n <= maxTrailer && errors.Is(err, io.EOF) {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("%w: more than %s after the end of the tar", ErrTooLarge, bytesText(maxTrailer))
		}
	}
	feed.CloseWithError(err)
	verr := <-verdict
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, stopped(ctx, err)) // the verifier only saw the stream break
	}
	if verr != nil {
		return nil, verr
	}
	if err := CheckTreeRelease(tmp, r, path.Base(url)); err != nil {
		return nil, err
	}
	u.Signer, u.How = signer, "tarball"
	return u, renameInto(ctx, tmp, dest)
}

// maxTrailer bounds the bytes after a tarball's end-of-archive blocks.
const maxTrailer = 1 << 20

// ApplyIncremental makes the tree of release r at dest from prev, the tree of the previous point
// release: prev is copied with hard links (our patch writer replaces files by rename, so prev is
// never changed) and kernel.org's signed incremental patch is applied.
func ApplyIncremental(ctx context.Context, run runner.Runner, base string, r version.Release, trust Trust, lim Limits, prev, dest string) (*Unpacked, error) {
	url := IncrementalURL(base, r)
	sig, xzr, err := openSigned(ctx, run, url, trust)
	if err != nil {
		return nil, err
	}
	defer xzr.Close()
	// The patch is held whole to be verified before it is applied: a point release's is a few
	// hundred KB, so one file's cap bounds it.
	lim = lim.WithDefaults()
	diff, err := io.ReadAll(io.LimitReader(xzr, lim.MaxEntry+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, stopped(ctx, err))
	}
	if int64(len(diff)) > lim.MaxEntry {
		return nil, fmt.Errorf("%w: %s unpacks to more than %s, the cap for one file; %s", ErrTooLarge, url, bytesText(lim.MaxEntry), tarballHint)
	}
	signer, err := trust.VerifyDetached(path.Base(url), bytes.NewReader(diff), sig)
	if err != nil {
		return nil, err
	}
	// The patch must move the tree from exactly the previous release to r: a genuine signed
	// patch served under another name would otherwise apply in reverse, or to the wrong base.
	prevRel := version.Release{Major: r.Major, Minor: r.Minor, Patch: r.Patch - 1}
	if err := CheckTreeRelease(prev, prevRel, prev); err != nil {
		return nil, err
	}
	commit, err := patch.ParseDiff(path.Base(url), diff)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := patch.Apply(prev, []*patch.Commit{commit})
	if err != nil {
		return nil, err
	}
	tmp, err := tempBeside(ctx, dest)
	if err != nil {
		return nil, err
	}
	defer discard(ctx, tmp)
	files, err := LinkTree(ctx, prev, tmp)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := res.Write(tmp); err != nil {
		return nil, err
	}
	if err := CheckTreeRelease(tmp, r, path.Base(url)+" applied to "+prevRel.String()); err != nil {
		return nil, err
	}
	u := &Unpacked{Signer: signer, Files: files, How: "incremental from " + prevRel.String()}
	return u, renameInto(ctx, tmp, dest)
}

// openSigned fetches the signature of an .xz file on kernel.org and opens the file decompressed,
// as its signature covers the uncompressed bytes. Closing the stream closes the download too.
// A signature made by a key the keyring lacks is refused before the file is downloaded: no
// byte of it could be trusted, and a bomb would otherwise be unpacked to its end.
func openSigned(ctx context.Context, run runner.Runner, url string, trust Trust) ([]byte, io.ReadCloser, error) {
	sig, err := Get(ctx, signatureURL(url))
	if err != nil {
		return nil, nil, err
	}
	if err := trust.knownIssuer(path.Base(url), sig); err != nil {
		return nil, nil, err
	}
	body, err := Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	return sig, unxz(ctx, run, body), nil
}

// unxz decompresses body with the xz program, run as a filter. Go's xz decoder (ulikunitz/xz)
// took 9 minutes for the 1.5 GB 6.12 tarball here, xz 14 seconds. A corrupt stream, or xz
// missing, is an error from Read, never an early EOF.
func unxz(ctx context.Context, run runner.Runner, body io.ReadCloser) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(run.Filter(ctx, "xz", []string{"--decompress", "--stdout"}, nil, body, pw))
	}()
	return &xzStream{Reader: pr, stop: func() {
		cancel()
		pr.Close()
		body.Close()
		<-done
	}}
}

// xzStream is xz's output. Closing it stops xz if it is still running (the reader gave up
// early), waits for it, and closes the download.
type xzStream struct {
	io.Reader
	stop func()
	once sync.Once
}

func (x *xzStream) Close() error {
	x.once.Do(x.stop)
	return nil
}

// LinkTree copies a tree with hard links for files, so a copy of the kernel costs seconds and no
// space. Whoever changes a file in the copy must replace it, not write into it. A cancelled ctx
// stops it between two files, leaving dst partial.
func LinkTree(ctx context.Context, src, dst string) (int64, error) {
	var files int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files++
			return os.Symlink(link, target)
		default:
			files++
			return os.Link(p, target)
		}
	})
	return files, err
}

// extractTar writes the entries under prefix (linux-X.Y.Z/) into root. Anything outside the
// prefix, a name breaking treepath's rule (one that escapes root, names .git, comes twice, or goes
// through a symlink or file of the tarball), or an entry type a kernel tarball never holds is
// refused, and so is a file past b's caps (by the size its header declares, before any of it is
// written) or a sparse file (its declared size is not what the stream holds, and no kernel
// tarball has one). Every error names the entry it is about, or the last one read before a
// header that could not be.
func extractTar(ctx context.Context, r io.Reader, root, prefix string, b *budget) (*Unpacked, error) {
	u := &Unpacked{}
	tr := tar.NewReader(r)
	var names treepath.Set
	made := map[string]bool{} // folders made or checked: names refuses anything that would replace one
	var buf []byte            // copyChunks' buffer, made for the first file and kept for all
	where := "the tarball's first entry"
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return u, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		where = "the tarball entry after " + strconv.Quote(h.Name)
		if h.Typeflag == tar.TypeXGlobalHeader {
			if c, ok := h.PAXRecords["comment"]; ok { // git archive records the commit here
				u.Commit = c
			}
			continue
		}
		name, ok := strings.CutPrefix(h.Name, prefix)
		if !ok {
			if h.Name+"/" != prefix {
				return nil, fmt.Errorf("tarball entry %q: outside %s", h.Name, prefix)
			}
			name = "" // the top folder, written without its slash
		}
		if name == "" {
			u.ModTime = h.ModTime
			continue
		}
		if sparse(h) {
			return nil, fmt.Errorf("tarball entry %q: a sparse file (declaring %s), which no kernel tarball holds", h.Name, bytesText(h.Size))
		}
		kind := treepath.File
		switch h.Typeflag {
		case tar.TypeDir:
			kind, name = treepath.Dir, strings.TrimSuffix(name, "/") // tar marks folders so
		case tar.TypeSymlink:
			kind = treepath.Symlink
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("tarball entry %q: entry type %q is not expected in a kernel tarball", h.Name, h.Typeflag)
		}
		if err := names.Add(name, kind); err != nil {
			return nil, fmt.Errorf("tarball entry %q: %w", h.Name, err)
		}
		target := filepath.Join(root, filepath.FromSlash(name))
		if dir := path.Dir(name); !made[dir] {
			if _, err := treepath.MkdirAll(root, name); err != nil {
				return nil, entryError(h.Name, err)
			}
			made[dir] = true
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err = os.Mkdir(target, 0o755); errors.Is(err, fs.ErrExist) {
				err = nil // made already for a file listed before it
			}
		case tar.TypeReg:
			if err := b.entry(strconv.Quote(h.Name), h.Size); err != nil {
				return nil, err
			}
			if buf == nil {
				buf = make([]byte, 1<<20)
			}
			err = writeRegular(ctx, target, tr, h.Mode&0o111 != 0, buf)
			u.Files++
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, target)
			u.Files++
		}
		if err != nil {
			return nil, entryError(h.Name, err)
		}
	}
}

// entryError is err, met writing tarball entry name, without the path of the temporary tree an
// os error carries: that tree is removed on the way out, and the entry is what the user can look
// for.
func entryError(name string, err error) error {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	switch {
	case errors.As(err, &pathErr):
		err = fmt.Errorf("%s: %w", pathErr.Op, pathErr.Err)
	case errors.As(err, &linkErr):
		err = fmt.Errorf("%s: %w", linkErr.Op, linkErr.Err)
	}
	return fmt.Errorf("tarball entry %q: %w", name, err)
}

// sparse tells a sparse file: GNU's type, or PAX records (GNU tar --sparse --format=pax), which
// Go's reader turns into a regular file of the declared size.
func sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// writeRegular creates target (its folder exists), never opening whatever is already there.
func writeRegular(ctx context.Context, target string, r io.Reader, executable bool, buf []byte) error {
	perm := os.FileMode(0o644)
	if executable {
		perm = 0o755
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := copyChunks(ctx, f, r, buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
