package upstream

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

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

// Whatever a tarball holds, extracting it writes nothing beside the tree: the folder that holds
// the tree keeps only the tree and the file that was there, unchanged.
func FuzzExtractTar(f *testing.F) {
	const p = "linux-6.12.1/"
	f.Add(tarOf(tar.Header{Name: p, Typeflag: tar.TypeDir}, tar.Header{Name: p + "Makefile", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "../outside", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: "/etc/x", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "link", Typeflag: tar.TypeSymlink, Linkname: ".."}, tar.Header{Name: p + "link/outside", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "a", Typeflag: tar.TypeReg}, tar.Header{Name: p + "a/b", Typeflag: tar.TypeReg}))
	f.Add(tarOf(tar.Header{Name: p + "hard", Typeflag: tar.TypeLink, Linkname: "../outside"}))
	f.Add(tarOf(tar.Header{Name: p + ".git/config", Typeflag: tar.TypeReg}))
	f.Fuzz(func(t *testing.T, data []byte) {
		base, err := os.MkdirTemp("", "fuzz-extract-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		outside := filepath.Join(base, "outside")
		if err = os.WriteFile(outside, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		root := filepath.Join(base, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		extractTar(context.Background(), bytes.NewReader(data), root, p, newBudget(Limits{MaxUnpacked: 1 << 20, MaxEntry: 256 << 10}, tarballHint))
		entries, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("beside the tree: %v", entries)
		}
		if got, err := os.ReadFile(outside); err != nil || string(got) != "mine" {
			t.Fatalf("the file beside the tree now holds %q (%v)", got, err)
		}
	})
}
