package upstream

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// A tarball or pack is unpacked before its signature can hold, so a bomb (gigabytes of zeros
// compressed to a few MB, a sparse file declaring 20 GiB, a delta declaring a huge result) must
// be stopped by a cap, early, and leave nothing behind. The tests set small caps and feed
// streams that would go far past them.

// paxRecord is one record of a PAX extended header: "<length> <key>=<value>\n".
func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	n := len(s) + 1
	for len(fmt.Sprint(n))+len(s) != n {
		n = len(fmt.Sprint(n)) + len(s)
	}
	return fmt.Sprint(n) + s
}

// sparseTar is the 20 GiB sparse bomb: one PAX sparse entry (GNU tar --sparse --format=pax)
// declaring 20 GiB, holding one byte. Go's writer will not write GNU.sparse records, so the
// extended header is written as a regular entry and its type changed to 'x'.
func sparseTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rec := paxRecord("GNU.sparse.major", "0") + paxRecord("GNU.sparse.minor", "1") + paxRecord("GNU.sparse.numblocks", "1") +
		paxRecord("GNU.sparse.size", "21474836480") + paxRecord("GNU.sparse.map", "21474836479,1") + paxRecord("GNU.sparse.name", "linux-6.12.1/zero")
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "linux-6.12.1/", Mode: 0o755, Format: tar.FormatUSTAR})
	start := buf.Len()
	tw.WriteHeader(&tar.Header{Name: "PaxHeaders/zero", Typeflag: tar.TypeReg, Size: int64(len(rec)), Format: tar.FormatUSTAR})
	tw.Write([]byte(rec))
	tw.WriteHeader(&tar.Header{Name: "linux-6.12.1/zero", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644, Format: tar.FormatUSTAR})
	tw.Write([]byte{0})
	tw.Close()
	b := buf.Bytes()
	hdr := b[start : start+512]
	hdr[156] = tar.TypeXHeader
	copy(hdr[148:156], "        ") // the checksum is summed with its own field as spaces
	sum := 0
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// zeros is a tar entry of n zero bytes.
func zeros(name string, n int) entry {
	return entry{name: "linux-6.12.1/" + name, body: string(make([]byte, n)), typ: tar.TypeReg, mode: 0o644}
}

func TestExtractTarballStopsBombs(t *testing.T) {
	testtool.Need(t, "xz")
	key := newKey(t, "stable")
	small := Limits{MaxUnpacked: 2 << 20, MaxEntry: 1 << 20}
	withTree := func(extra ...entry) []byte {
		return makeTar(t, append(tree1[:len(tree1):len(tree1)], extra...))
	}
	trailing := append(makeTar(t, tree1), make([]byte, 2<<20)...)
	for _, tc := range []struct {
		name    string
		tarball []byte
		lim     Limits
		want    string
	}{
		{"one file past the cap for one", withTree(zeros("big", 1<<20+1)), small, `"linux-6.12.1/big" declares 1.0 MiB, over the cap of 1.0 MiB for one file`},
		{"files together past the total cap", withTree(zeros("a", 900<<10), zeros("b", 900<<10), zeros("c", 900<<10)), small, `"linux-6.12.1/c" would take what is unpacked to 2.6 MiB, over the cap of 2.0 MiB`},
		{"a sparse file", sparseTar(t), Limits{}, `"linux-6.12.1/zero": a sparse file (declaring 20.0 GiB)`},
		{"endless bytes after the end", trailing, small, "more than 1.0 MiB after the end of the tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := kernelOrg(t, key, tc.tarball, tc.tarball)
			dest := filepath.Join(t.TempDir(), "linux-6.12.1")
			_, err := ExtractTarball(context.Background(), runner.Exec{}, "file://"+base, release("6.12.1"), Trust{Keyring: keyring(t, key)}, tc.lim, dest)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ExtractTarball = %v; want %q", err, tc.want)
			}
			if tc.name != "a sparse file" && !errors.Is(err, ErrTooLarge) {
				t.Errorf("ExtractTarball = %v; want it to wrap ErrTooLarge", err)
			}
			if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 0 {
				t.Errorf("a refused tarball left %v", left)
			}
		})
	}
}

// endlessTar is a tar stream of files of size bytes each, without end.
func endlessTar(size int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for i := 0; ; i++ {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("linux-6.12.1/f%d", i), Typeflag: tar.TypeReg, Size: size, Mode: 0o644}); err != nil {
				return
			}
			if _, err := io.CopyN(tw, zeroReader{}, size); err != nil {
				return
			}
		}
	}()
	return pr
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// The caps stop the stream itself: a 20 GiB file is refused on its header, and files of a
// sensible size stop once they reach the total, not at the stream's end (which never comes).
func TestExtractTarStopsReadingAtTheCap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int64
		lim      Limits
		maxRead  int64
		wantText string
	}{
		{"20 GiB in one file", 20 << 30, Limits{}, 64 << 10, "declares 20.0 GiB, over the cap of 256.0 MiB for one file"},
		{"endless small files", 256 << 10, Limits{MaxUnpacked: 4 << 20, MaxEntry: 1 << 20}, 5 << 20, "over the cap of 4.0 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &countingReader{r: endlessTar(tc.size)}
			_, err := extractTar(context.Background(), in, t.TempDir(), "linux-6.12.1/", newBudget(tc.lim, tarballHint))
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("extractTar = %v; want ErrTooLarge, %q", err, tc.wantText)
			}
			if n := in.n.Load(); n > tc.maxRead {
				t.Errorf("extractTar read %d bytes before it stopped, want at most %d", n, tc.maxRead)
			}
		})
	}
}

// A signature by a key the keyring lacks is refused before the tarball is asked for: nothing is
// downloaded, nothing unpacked.
func TestExtractTarballRefusesAnUnknownKeyBeforeDownloading(t *testing.T) {
	key, mallory := newKey(t, "stable"), newKey(t, "mallory")
	tarball := makeTar(t, append(tree1[:len(tree1):len(tree1)], zeros("big", 1<<20)))
	base := kernelOrg(t, mallory, tarball, tarball)
	var asked atomic.Int64
	files := http.FileServer(http.Dir(base))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".tar.xz") {
			asked.Add(1)
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dest := filepath.Join(t.TempDir(), "linux-6.12.1")
	_, err := ExtractTarball(context.Background(), runner.Exec{}, srv.URL, release("6.12.1"), Trust{Keyring: keyring(t, key)}, Limits{}, dest)
	want := "linux-6.12.1.tar.xz is signed by key " + fingerprint(mallory) + ", which is not in the keyring"
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) {
		t.Fatalf("ExtractTarball = %v; want ErrUntrusted, %q", err, want)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the tarball was asked for %d times, want never", n)
	}
	if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 0 {
		t.Errorf("a refused tarball left %v", left)
	}
}

// Ctrl-C inside one large file stops within a second, and the partial tree is removed.
func TestExtractTarballStopsInsideAFile(t *testing.T) {
	testtool.Need(t, "xz")
	key := newKey(t, "stable")
	const size = 64 << 20 // written at disk speed: seconds here, under load
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		tw.WriteHeader(&tar.Header{Name: "linux-6.12.1/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: "linux-6.12.1/big", Typeflag: tar.TypeReg, Size: size, Mode: 0o644})
		io.CopyN(tw, zeroReader{}, size)
		tw.Close()
		pw.Close()
	}()
	cmd := exec.Command("xz", "-0", "--compress", "--stdout")
	cmd.Stdin = pr
	xzed, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "v6.x"), 0o755)
	os.WriteFile(filepath.Join(base, "v6.x/linux-6.12.1.tar.xz"), xzed, 0o644)
	os.WriteFile(filepath.Join(base, "v6.x/linux-6.12.1.tar.sign"), sign(t, key, []byte("not checked: the stop comes first")), 0o644)
	dest := filepath.Join(t.TempDir(), "linux-6.12.1")

	ctx, watch := newStopWatch()
	go func() { // stop once 4 MiB of the file is written
		for ctx.Err() == nil {
			if big, _ := filepath.Glob(dest + ".tmp-*/big"); len(big) == 1 {
				if info, err := os.Stat(big[0]); err == nil && info.Size() >= 4<<20 {
					watch.stop()
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err = ExtractTarball(ctx, runner.Exec{}, "file://"+base, release("6.12.1"), Trust{Keyring: keyring(t, key)}, Limits{}, dest)
	watch.returned(t, "ExtractTarball", err)
	if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 0 {
		t.Errorf("a cancelled ExtractTarball left %v", left)
	}
}

// encodeObject is one object of a pack as git writes it: its type and size header, then (for an
// OFS delta) the distance back to its base, then the zlib-compressed content.
func encodeObject(typ plumbing.ObjectType, size int64, back int64, content []byte) []byte {
	var b []byte
	c := byte(typ)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		b = append(b, c|0x80)
		c, size = byte(size&0x7f), size>>7
	}
	b = append(b, c)
	if typ == plumbing.OFSDeltaObject {
		b = append(b, byte(back)) // under 128: one byte
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(content)
	zw.Close()
	return append(b, z.Bytes()...)
}

// packStream is a pack's header for count objects followed by objs, and then, unless end is
// nil, what end yields (an endless stream of zeros: the rest a bomb would send).
func packStream(count uint32, end io.Reader, objs ...[]byte) io.Reader {
	head := []byte("PACK\x00\x00\x00\x02")
	head = binary.BigEndian.AppendUint32(head, count)
	for _, o := range objs {
		head = append(head, o...)
	}
	if end == nil {
		return bytes.NewReader(head)
	}
	return io.MultiReader(bytes.NewReader(head), end)
}

// deltaHeader is a delta's start: the base's size and the result's, as git writes them.
func deltaHeader(base, result uint64) []byte {
	var b []byte
	for _, n := range []uint64{base, result} {
		for n >= 0x80 {
			b = append(b, byte(n)|0x80)
			n >>= 7
		}
		b = append(b, byte(n))
	}
	return b
}

func TestReceiverStopsBombs(t *testing.T) {
	blob := []byte("a small base\n")
	inflating := make([]byte, 4<<20) // 4 MiB of zeros, in a header that says 16 bytes
	small := Limits{MaxUnpacked: 2 << 20, MaxEntry: 1 << 20}
	base := encodeObject(plumbing.BlobObject, int64(len(blob)), 0, blob)
	deltaBody := append(deltaHeader(uint64(len(blob)), 2<<30), 0x01, 'x') // then: insert "x"
	delta := encodeObject(plumbing.OFSDeltaObject, int64(len(deltaBody)), int64(len(base)), deltaBody)
	for _, tc := range []struct {
		name  string
		lim   Limits
		count uint32
		objs  [][]byte
		want  string
		is    error
	}{
		{"a 2 GiB blob", Limits{}, 1, [][]byte{encodeObject(plumbing.BlobObject, 2<<30, 0, nil)},
			"object 1 of 1 (offset 12) declares 2.0 GiB, over the cap of 256.0 MiB for one object", ErrTooLarge},
		{"a delta to 2 GiB", Limits{}, 2, [][]byte{base, delta}, "a delta whose result declares 2.0 GiB, over the cap of 256.0 MiB", ErrTooLarge},
		{"an object inflating past its header", Limits{}, 1, [][]byte{encodeObject(plumbing.BlobObject, 16, 0, inflating)},
			"object 1 of 1 at offset 12", packfile.ErrInflatedSizeMismatch},
		{"objects together past the total", small, 3, [][]byte{
			encodeObject(plumbing.BlobObject, 900<<10, 0, make([]byte, 900<<10)),
			encodeObject(plumbing.BlobObject, 900<<10, 0, append(make([]byte, 900<<10-1), 1)),
			encodeObject(plumbing.BlobObject, 900<<10, 0, append(make([]byte, 900<<10-1), 2)),
		}, "would take what is unpacked to 2.6 MiB, over the cap of 2.0 MiB", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &countingReader{r: packStream(tc.count, zeroReader{}, tc.objs...)}
			packDir, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
			os.MkdirAll(tree, 0o755)
			rc := newReceiver(plumbing.ZeroHash, tree, nil)
			rc.limit = newBudget(tc.lim, gitHint)
			_, err := rc.receive(context.Background(), in, packDir, 2)
			rc.close()
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("receive = %v; want %v, %q", err, tc.is, tc.want)
			}
			if n := in.n.Load(); n > 8<<20 {
				t.Errorf("receive read %d bytes before it stopped, want at most 8 MiB", n)
			}
			if left, _ := os.ReadDir(packDir); len(left) != 0 {
				t.Errorf("a refused pack left %v", left)
			}
		})
	}
}

// One blob may be named by many paths: what is written to disk is bounded by the total too,
// though the pack inflates only one copy.
func TestReceiverBoundsWhatItWrites(t *testing.T) {
	testtool.Need(t, "git")
	dir := filepath.Join(t.TempDir(), "linux")
	os.MkdirAll(dir, 0o755)
	gitCmd(t, dir, "init", "-q")
	body := bytes.Repeat([]byte("static int x;\n"), 300<<10/14)
	for i := range 10 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("copy%d.c", i)), body, 0o644)
	}
	gitCmd(t, dir, "add", ".")
	gitCmd(t, dir, "commit", "-q", "-m", "ten copies")
	gitCmd(t, dir, "tag", "-a", "-m", "Linux 6.12.1", "v6.12.1")
	cmd := exec.Command("git", "pack-objects", "--revs", "--stdout", "-q")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader("v6.12.1\n")
	pack, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	packDir, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(tree, 0o755)
	rc := newReceiver(plumbing.NewHash(gitCmd(t, dir, "rev-parse", "v6.12.1")), tree, nil)
	rc.limit = newBudget(Limits{MaxUnpacked: 2 << 20, MaxEntry: 1 << 20}, gitHint)
	_, err = rc.receive(context.Background(), bytes.NewReader(pack), packDir, 2)
	rc.close()
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "would take the files written to") {
		t.Fatalf("receive = %v; want ErrTooLarge for the files written", err)
	}
	if left, _ := os.ReadDir(packDir); len(left) != 0 {
		t.Errorf("a refused pack left %v", left)
	}
}

// endlessDeflate is a pack of one blob whose zlib stream is empty stored blocks without end: it
// inflates to nothing, so no cap on what objects inflate to ever stops it.
func endlessDeflate() io.Reader {
	head := []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x01")
	head = append(head, 0x30|0x0a, 0x78, 0x01) // a blob of 10 bytes, as its header says; zlib's header
	empty := bytes.Repeat([]byte{0x00, 0x00, 0x00, 0xff, 0xff}, 1<<16)
	return io.MultiReader(bytes.NewReader(head), &repeater{block: empty})
}

type repeater struct {
	block []byte
	at    int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.at:])
	r.at = (r.at + n) % len(r.block)
	return n, nil
}

// What a pack sends is capped as it arrives, on both ways a pack comes in: the first fetch's
// receiver and go-git's own fetch.
func TestAPackThatNeverEndsIsCapped(t *testing.T) {
	lim := Limits{MaxUnpacked: 4 << 20, MaxEntry: 1 << 20}
	spool, err := os.CreateTemp(t.TempDir(), "spool")
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	if err := checkPack(endlessDeflate(), spool, newBudget(lim, gitHint)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over the wire") {
		t.Errorf("checkPack = %v; want ErrTooLarge for the bytes on the wire", err)
	}
	if info, _ := spool.Stat(); info.Size() > 5<<20 {
		t.Errorf("the spool holds %d bytes past a cap of 4 MiB", info.Size())
	}
	packDir, tree := t.TempDir(), filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(tree, 0o755)
	rc := newReceiver(plumbing.ZeroHash, tree, nil)
	rc.limit = newBudget(lim, gitHint)
	_, err = rc.receive(context.Background(), rc.limit.wire(endlessDeflate()), packDir, 2)
	rc.close()
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over the wire") {
		t.Errorf("receive = %v; want ErrTooLarge for the bytes on the wire", err)
	}
}
