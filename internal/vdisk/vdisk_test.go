package vdisk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// image is a disk image made of runs of one byte over zeros, so a test can describe a 4 GiB disk
// without writing it anywhere.
type image struct {
	size int64
	runs []run
}

type run struct {
	off, n int64
	b      byte
}

func (im image) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	end := off + int64(len(p))
	for _, r := range im.runs {
		for i := max(r.off, off); i < min(r.off+r.n, end); i++ {
			p[i-off] = r.b
		}
	}
	return len(p), nil
}

func (im image) bytes() []byte {
	b := make([]byte, im.size)
	im.ReadAt(b, 0)
	return b
}

var images = []struct {
	name    string
	im      image
	present int // blocks the VHDX must store
}{
	{"data, a hole, and a partial last block", image{3*mib + 5*512, []run{{0, 4096, 0x5a}, {2*mib + 100, 3 * 512, 0xc3}, {3 * mib, 5 * 512, 0x11}}}, 3},
	{"only zeros", image{2 * mib, nil}, 0},
	{"every block full", image{2 * mib, []run{{0, 2 * mib, 0xff}}}, 2},
	{"one byte in the middle of a block", image{4 * mib, []run{{mib + mib/2, 1, 1}}}, 1},
}

func writeFile(t *testing.T, name string, write func(f *os.File) error) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f); err != nil {
		t.Fatalf("writing %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func qemuImg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// virtualSize is the disk size qemu-img info reads from a file of format.
func virtualSize(t *testing.T, format, path string) int64 {
	t.Helper()
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	if err := json.Unmarshal([]byte(qemuImg(t, "info", "-f", format, "--output=json", path)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Format != format {
		t.Errorf("qemu-img info: format %q, want %q", info.Format, format)
	}
	return info.VirtualSize
}

// backToRaw converts path (of format) back to a raw image with qemu-img and returns its bytes.
func backToRaw(t *testing.T, format, path string) []byte {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "back.img")
	qemuImg(t, "convert", "-f", format, "-O", "raw", path, raw)
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// qemu-img accepts the VHDX (check, info) and converts it back to the image's exact bytes; the
// zero blocks are left out of the file.
func TestWriteVHDXReadsBackExactly(t *testing.T) {
	testtool.Need(t, "qemu-img")
	for _, tc := range images {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "disk.vhdx", func(f *os.File) error { return WriteVHDX(f, tc.im, tc.im.size, []byte("seed")) })
			if out := qemuImg(t, "check", "-f", "vhdx", p); !strings.Contains(out, "No errors were found") {
				t.Errorf("qemu-img check:\n%s", out)
			}
			if got := virtualSize(t, "vhdx", p); got != tc.im.size {
				t.Errorf("virtual size %d, want %d", got, tc.im.size)
			}
			if !bytes.Equal(backToRaw(t, "vhdx", p), tc.im.bytes()) {
				t.Error("qemu-img convert -O raw gives other bytes than the image")
			}
			info, _ := os.Stat(p)
			if want := int64(4*mib + tc.present*BlockSize); info.Size() != want {
				t.Errorf("file of %d bytes, want %d (4 MiB of headers, metadata and BAT, %d blocks)", info.Size(), want, tc.present)
			}
		})
	}
}

// A disk of more than 4096 blocks has a sector bitmap entry after every 4096 payload entries in
// its BAT: blocks beyond it must land where readers look for them.
func TestWriteVHDXBeyondTheFirstChunk(t *testing.T) {
	testtool.Need(t, "qemu-img", "qemu-io")
	im := image{(chunkRatio + 2) * BlockSize, []run{{0, 512, 0x21}, {chunkRatio * BlockSize, BlockSize, 0x42}, {(chunkRatio+1)*BlockSize + 512, 512, 0x63}}}
	p := writeFile(t, "big.vhdx", func(f *os.File) error { return WriteVHDX(f, im, im.size, []byte("big")) })
	if out := qemuImg(t, "check", "-f", "vhdx", p); !strings.Contains(out, "No errors were found") {
		t.Errorf("qemu-img check:\n%s", out)
	}
	// What was written, and zeros around it (reading all 4 GiB of zeros takes qemu-io 20 s).
	zeros := []run{{512, mib - 512, 0}, {(chunkRatio - 1) * BlockSize, BlockSize, 0}, {(chunkRatio + 1) * BlockSize, 512, 0}}
	for _, r := range append(im.runs, zeros...) {
		cmd := fmt.Sprintf("read -P 0x%02x %d %d", r.b, r.off, r.n)
		out, err := exec.Command("qemu-io", "-r", "-f", "vhdx", "-c", cmd, p).CombinedOutput()
		if err != nil || strings.Contains(string(out), "Pattern verification failed") {
			t.Errorf("qemu-io -c %q: %v\n%s", cmd, err, out)
		}
	}
}

// The same image and seed give the same bytes; another seed, or another byte in the image,
// changes the GUIDs.
func TestWriteVHDXIsDeterministic(t *testing.T) {
	im := images[0].im
	changed := im
	changed.runs = append([]run{{2*mib + 7, 1, 0x01}}, im.runs...) // one byte more
	write := func(im image, seed string) []byte {
		p := writeFile(t, "disk.vhdx", func(f *os.File) error { return WriteVHDX(f, im, im.size, []byte(seed)) })
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, again := write(im, "one"), write(im, "one")
	if !bytes.Equal(a, again) {
		t.Fatal("two VHDXs of the same image and seed differ")
	}
	dataWriteGUID := func(b []byte) []byte { return b[header1Offset+32 : header1Offset+48] }
	for name, other := range map[string][]byte{"another seed": write(im, "two"), "another image": write(changed, "one")} {
		if bytes.Equal(dataWriteGUID(a), dataWriteGUID(other)) {
			t.Errorf("%s: the same DataWriteGuid %x", name, dataWriteGUID(a))
		}
	}
	if !bytes.Equal(a[batOffset:], write(im, "two")[batOffset:]) {
		t.Error("another seed changed the BAT or the payload")
	}
	if g := dataWriteGUID(a); g[7]>>4 != 4 || g[8]>>6 != 2 {
		t.Errorf("DataWriteGuid %x is not a version 4, RFC 4122 GUID", g)
	}
}

// qemu-img accepts the fixed VHD, reads its size from the footer and converts it back to the
// image's exact bytes, even where the CHS geometry would round the size down.
func TestWriteFixedVHDReadsBackExactly(t *testing.T) {
	testtool.Need(t, "qemu-img")
	when := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range images {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "disk.vhd", func(f *os.File) error { return WriteFixedVHD(f, tc.im, tc.im.size, []byte("seed"), when) })
			if got := virtualSize(t, "vpc", p); got != tc.im.size {
				t.Errorf("virtual size %d, want %d", got, tc.im.size)
			}
			if !bytes.Equal(backToRaw(t, "vpc", p), tc.im.bytes()) {
				t.Error("qemu-img convert -f vpc -O raw gives other bytes than the image")
			}
			data, _ := os.ReadFile(p)
			footer := data[len(data)-512:]
			if int64(len(data)) != tc.im.size+512 || string(footer[:8]) != "conectix" {
				t.Fatalf("file of %d bytes ending %q, want the image then a conectix footer", len(data), footer[:8])
			}
			if got, want := binary.BigEndian.Uint32(footer[64:]), vhdChecksum(footer); got != want {
				t.Errorf("footer checksum %#x, want %#x", got, want)
			}
			if got := binary.BigEndian.Uint32(footer[24:]); got != uint32(when.Sub(vhdEpoch).Seconds()) {
				t.Errorf("time stamp %d, want %s", got, when)
			}
		})
	}
}

// Our geometry is the one qemu-img computes for a VHD. qemu-img rounds a size up to whole
// cylinders before it computes (the spec rounds down), so the sizes asked of it are the ones our
// geometry spans exactly; there the two must agree, and the size's own geometry must not move.
func TestGeometryOfMatchesQemu(t *testing.T) {
	testtool.Need(t, "qemu-img")
	for _, asked := range []int64{3 * mib, 32 * mib, 300 * mib, 1 << 30, 3 << 30, 40 << 30, 200 << 30} {
		g := GeometryOf(asked)
		size := int64(g.Cylinders) * int64(g.Heads) * int64(g.SectorsPerTrack) * 512
		if GeometryOf(size) != g {
			t.Errorf("GeometryOf(%d) = %+v but GeometryOf(%d), the size it spans, = %+v", asked, g, size, GeometryOf(size))
		}
		p := filepath.Join(t.TempDir(), "q.vhd")
		qemuImg(t, "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", p, fmt.Sprint(size))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := data[:512] // a dynamic VHD starts with a copy of its footer
		want := Geometry{binary.BigEndian.Uint16(f[56:]), f[58], f[59]}
		if got := GeometryOf(size); got != want {
			t.Errorf("GeometryOf(%d) = %+v, qemu-img says %+v", size, got, want)
		}
	}
}

func TestWritersRejectWhatTheFormatCannotHold(t *testing.T) {
	im := image{size: 1000}
	var b bytes.Buffer
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.vhdx"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, err := range map[string]error{
		"VHDX of 1000 bytes":    WriteVHDX(f, im, 1000, nil),
		"VHD of 1000 bytes":     WriteFixedVHD(&b, im, 1000, nil, time.Now()),
		"VHD dated 1999":        WriteFixedVHD(&b, image{size: 512}, 512, nil, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)),
		"VHDX of nothing":       WriteVHDX(f, im, 0, nil),
		"VHDX of a short image": WriteVHDX(f, shortReader{}, 1024, nil),
		"VHD of a short image":  WriteFixedVHD(&b, shortReader{}, 1024, nil, time.Now()),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

type shortReader struct{}

func (shortReader) ReadAt(p []byte, off int64) (int, error) { return 0, os.ErrClosed }
