package upstream

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// Each call writes and removes a tree: see testtool.RunMinimizingBriefly. Before it, every new
// input of FuzzExtractTar cost 60 s of minimizing (a tar of checksummed 512-byte blocks is at
// least 1 KiB, and almost no deletion leaves it valid), and a 40 s run made 8 execs in all.
func TestMain(m *testing.M) { os.Exit(testtool.RunMinimizingBriefly(m, 100)) }

// tarOf is a tar of the entries, each a name, a type and (for a link) its target.
func tarOf(entries ...tar.Header) []byte {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, h := range entries {
		body := []byte("x")
		if h.Typeflag != tar.TypeReg {
			body = nil
		}
		h.Size, h.Mode = int64(len(body)), 0o644
		w.WriteHeader(&h)
		w.Write(body)
	}
	w.Close()
	return b.Bytes()
}

// withChecksums is data with the checksum of each tar header it finds set right. Nearly every
// mutation of a header breaks its checksum, and tar.Reader refuses the header before extractTar
// sees it: without this the fuzzer would mostly explore that refusal. Headers are found as
// tar.Reader finds them, skipping each one's body by its size field; where that cannot be read
// (a PAX size record, an old GNU sparse map) the rest is left as it is.
func withChecksums(data []byte) []byte {
	out := bytes.Clone(data)
	for off := 0; off+512 <= len(out); {
		h := out[off : off+512]
		off += 512
		if !slices.ContainsFunc(h, func(c byte) bool { return c != 0 }) {
			continue // the end of the archive, or a block of it
		}
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		size, err := strconv.ParseInt(strings.Trim(string(h[124:136]), " \x00"), 8, 64)
		if err != nil || size < 0 || size > int64(len(out)) {
			break
		}
		off += int(size+511) / 512 * 512
	}
	return out
}

// want is what extracting a tarball must leave at a name of the tree.
type want struct {
	kind treeKind
	body string // a file's bytes, a symlink's target
	exec bool
}

type treeKind string

const (
	dirKind     treeKind = "folder"
	fileKind    treeKind = "file"
	symlinkKind treeKind = "symlink"
)

// readModel reads the tar as extractTar must: the names under prefix and what each must be, the
// names of the headers read (the error must name one of them), and whether the stream broke.
func readModel(data []byte, prefix string) (map[string]want, []string, error) {
	model := map[string]want{}
	var headers []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return model, headers, nil
		}
		if err != nil {
			return model, headers, err
		}
		headers = append(headers, h.Name)
		name, ok := strings.CutPrefix(h.Name, prefix)
		if !ok || name == "" {
			continue // the top folder, or a refusal
		}
		switch h.Typeflag {
		case tar.TypeDir:
			model[strings.TrimSuffix(name, "/")] = want{kind: dirKind}
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				return model, headers, err
			}
			model[name] = want{kind: fileKind, body: string(body), exec: h.Mode&0o111 != 0}
		case tar.TypeSymlink:
			model[name] = want{kind: symlinkKind, body: h.Linkname}
		}
	}
}

// checkTree says how the tree at root differs from model: every name of model is there as it
// says, the folders on their way are folders, and nothing else is there. Nothing is setuid,
// setgid, sticky or writable by others (a symlink's own mode is always 0777 on Linux, and never
// used), no file has a second hard link, and nothing is a device, fifo or socket.
func checkTree(root string, model map[string]want) error {
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		found[name] = true
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || mode&fs.ModeSymlink == 0 && mode.Perm()&^0o755 != 0 {
			return fmt.Errorf("%s has mode %v", name, mode)
		}
		w, listed := model[name]
		switch {
		case mode.IsDir():
			if listed && w.kind != dirKind {
				return fmt.Errorf("%s is a folder, the tar says a %s", name, w.kind)
			}
			if !listed && !underModel(name, model) {
				return fmt.Errorf("%s is a folder the tar does not hold", name)
			}
		case !listed:
			return fmt.Errorf("%s (%v) is not in the tar", name, mode)
		case mode.IsRegular():
			body, err := os.ReadFile(p)
			switch {
			case err != nil:
				return err
			case w.kind != fileKind || string(body) != w.body:
				return fmt.Errorf("%s is a file holding %q, the tar says a %s holding %q", name, body, w.kind, w.body)
			case w.exec != (mode&0o100 != 0):
				return fmt.Errorf("%s has mode %v, the tar says executable %t", name, mode, w.exec)
			case info.Sys().(*syscall.Stat_t).Nlink != 1:
				return fmt.Errorf("%s has %d hard links", name, info.Sys().(*syscall.Stat_t).Nlink)
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if w.kind != symlinkKind || target != w.body {
				return fmt.Errorf("%s is a symlink to %q, the tar says a %s of %q", name, target, w.kind, w.body)
			}
		default:
			return fmt.Errorf("%s is a %v", name, mode.Type())
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name := range model {
		if !found[name] {
			return fmt.Errorf("%s is in the tar, not in the tree", name)
		}
	}
	return nil
}

// underModel says whether some name of model is under folder dir.
func underModel(dir string, model map[string]want) bool {
	for name := range model {
		if strings.HasPrefix(name, dir+"/") {
			return true
		}
	}
	return false
}

// onlyHolds says how folder dir differs from holding exactly names.
func onlyHolds(dir string, names ...string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		return fmt.Errorf("%s holds %q, want %q", dir, got, names)
	}
	return nil
}

// Whatever a tarball holds, extracting it into a temporary tree beside the cache entry, as
// ExtractTarball does, writes nothing outside that tree: the folders around it keep only what
// was there, unchanged. What it writes is exactly what the tar says (checkTree); a refusal names
// an entry of the tar, or the last one read before a header that could not be; and the tree is
// removed whole afterwards, whatever was extracted into it.
func FuzzExtractTar(f *testing.F) {
	const p = "linux-6.12.1/"
	f.Add(tarOf(tar.Header{Name: p, Typeflag: tar.TypeDir}, tar.Header{Name: p + "Makefile", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "../outside", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: "/etc/x", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "link", Typeflag: tar.TypeSymlink, Linkname: ".."}, tar.Header{Name: p + "link/outside", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "a", Typeflag: tar.TypeReg}, tar.Header{Name: p + "a/b", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "hard", Typeflag: tar.TypeLink, Linkname: "../outside"}))
	f.Add(tarOf(tar.Header{Name: p + ".git/config", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "dev", Typeflag: tar.TypeChar}))
	f.Add(tarOf(tar.Header{Name: "linux-6.12.1", Typeflag: tar.TypeDir}, tar.Header{Name: p + "Makefile", Typeflag: tar.TypeReg}))
	// Names too long for a ustar header, as GNU tar and git archive (PAX) write them, and the
	// global header in which git archive records the commit.
	f.Add(tarOf(tar.Header{Name: p + strings.Repeat("d/", 60) + "f", Typeflag: tar.TypeReg, Format: tar.FormatGNU}))
	f.Add(tarOf(tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "999ff145c16b6b68b91d2df64b98bce8a8f1b631"}}, tar.Header{Name: p + strings.Repeat("n", 120), Linkname: strings.Repeat("l", 120), Typeflag: tar.TypeSymlink, Format: tar.FormatPAX}))
	f.Add(tarOf(tar.Header{Name: p + "scripts/", Typeflag: tar.TypeDir}, tar.Header{Name: p + "scripts/x", Typeflag: tar.TypeReg}, tar.Header{Name: p + "scripts/y", Typeflag: tar.TypeSymlink, Linkname: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = withChecksums(data)
		ctx := context.Background()
		base := t.TempDir()
		cache := filepath.Join(base, "cache")
		for _, dir := range []string{base, cache} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "outside"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tmp, err := tempBeside(ctx, filepath.Join(cache, "linux-6.12.1"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = extractTar(ctx, bytes.NewReader(data), tmp, p, newBudget(Limits{MaxUnpacked: 1 << 20, MaxEntry: 256 << 10}, tarballHint))
		model, headers, broken := readModel(data, p)
		if err == nil {
			if broken != nil {
				t.Fatalf("extracted a tar that does not read: %v", broken)
			}
			if cerr := checkTree(tmp, model); cerr != nil {
				t.Errorf("extracted, but %v", cerr)
			}
		} else if !namesEntry(err.Error(), headers) {
			t.Errorf("the refusal %q names none of the entries %q", err, headers)
		}
		discard(ctx, tmp)
		if err := onlyHolds(cache, "outside"); err != nil {
			t.Fatal(err)
		}
		if err := onlyHolds(base, "cache", "outside"); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{base, cache} {
			if got, err := os.ReadFile(filepath.Join(dir, "outside")); err != nil || string(got) != "mine" {
				t.Fatalf("the file beside the tree now holds %q (%v)", got, err)
			}
		}
	})
}

// namesEntry says whether an extraction error names the entry it is about: one of headers, the
// names read, or the tar's first entry when none could be.
func namesEntry(msg string, headers []string) bool {
	if len(headers) == 0 {
		return strings.HasPrefix(msg, "the tarball's first entry: ")
	}
	for _, h := range headers {
		if strings.Contains(msg, "tarball entry "+strconv.Quote(h)+": ") || strings.HasPrefix(msg, "the tarball entry after "+strconv.Quote(h)+": ") || strings.Contains(msg, "too large to unpack: "+strconv.Quote(h)+" ") {
			return true
		}
	}
	return false
}

// withChecksums must find the headers tar.Reader finds, or the fuzzer mutates names in vain.
func TestWithChecksums(t *testing.T) {
	const p = "linux-6.12.1/"
	data := tarOf(tar.Header{Name: p, Typeflag: tar.TypeDir}, tar.Header{Name: p + "Makefile", Typeflag: tar.TypeReg}, tar.Header{Name: p + "b", Typeflag: tar.TypeReg})
	mutated := bytes.Clone(data)
	mutated[512+len(p)] = 'm'   // Makefile → makefile, in the second header
	mutated[3*512+len(p)] = 'c' // b → c, in the third (after Makefile's body)
	if _, _, err := readModel(mutated, p); err == nil {
		t.Fatal("a changed header still reads: the test does not test")
	}
	model, _, err := readModel(withChecksums(mutated), p)
	if err != nil {
		t.Fatalf("withChecksums(mutated tar) does not read: %v", err)
	}
	if _, ok := model["makefile"]; !ok {
		t.Errorf("withChecksums(mutated tar) holds %v, want makefile", model)
	}
	if _, ok := model["c"]; !ok {
		t.Errorf("withChecksums(mutated tar) holds %v, want c", model)
	}
	if !bytes.Equal(withChecksums(data), data) {
		t.Error("withChecksums changed a tar whose checksums were right")
	}
}
