package cab

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

var released = time.Date(2026, 11, 21, 12, 56, 2, 0, time.UTC)

// payload is shaped like a WSL kernel payload: a compressible config, an incompressible image
// over several blocks, an empty file and a file in a folder.
func payload(t testing.TB) []File {
	random := make([]byte, 3*blockSize+123)
	rand.Read(random)
	config := bytes.Repeat([]byte("CONFIG_HYPERV=y\n# CONFIG_SOUND is not set\n"), 4000)
	mixed := append(bytes.Repeat([]byte{0}, 50000), random[:40000]...)
	mixed = append(mixed, config[:70000]...)
	return []File{
		{Name: "kernel", Data: random},
		{Name: "config", Data: config},
		{Name: "empty", Data: nil},
		{Name: "modules.vhd", Data: mixed},
		{Name: `tools/update.json`, Data: []byte(`{"schema":1}` + "\n")},
	}
}

func write(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, files, released); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripAndDeterminism(t *testing.T) {
	files := payload(t)
	data := write(t, files)
	if again := write(t, files); !bytes.Equal(data, again) {
		t.Errorf("two writes of the same files differ")
	}
	got, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(files) {
		t.Fatalf("read %d files, wrote %d", len(got), len(files))
	}
	for i, f := range files {
		if got[i].Name != strings.ReplaceAll(f.Name, "/", `\`) || !bytes.Equal(got[i].Data, f.Data) || !got[i].Modified.Equal(released) {
			t.Errorf("file %d: %s, %d bytes, %s; wrote %s, %d bytes", i, got[i].Name, len(got[i].Data), got[i].Modified, f.Name, len(f.Data))
		}
	}
	// A flipped byte in a data block is caught by its checksum.
	bad := bytes.Clone(data)
	bad[len(bad)-5] ^= 0xFF
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("Read(corrupted) = %v", err)
	}
}

// The checksum of [MS-CAB] 2.5: whole words XORed little-endian, the tail most significant first.
func TestChecksum(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want uint32
	}{
		{[]byte{1, 2, 3, 4}, 0x04030201},
		{[]byte{1, 2, 3, 4, 5}, 0x04030201 ^ 0x05},
		{[]byte{1, 2, 3, 4, 5, 6, 7}, 0x04030201 ^ 0x050607},
		{nil, 0},
	} {
		if got := checksum(c.data, 0); got != c.want {
			t.Errorf("checksum(%v) = %#x, want %#x", c.data, got, c.want)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		files []File
		when  time.Time
		want  string
	}{
		{nil, released, "no files"},
		{[]File{{Name: "../kernel"}}, released, `"../kernel" must be a relative path`},
		{[]File{{Name: `a\\b`}}, released, "must be a relative path"},
		{[]File{{Name: "Kernel"}, {Name: "kernel"}}, released, "kernel is in the cabinet twice"},
		{[]File{{Name: "kernel"}}, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "cannot be stored as an MS-DOS date"},
	} {
		if err := Write(&bytes.Buffer{}, c.files, c.when); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Write(%v) = %v, want %q", c.files, err, c.want)
		}
	}
}

// cabextract and gcab, the tools a packager checks a cabinet with, accept ours and extract the
// same bytes.
func TestCabextractAndGcabReadIt(t *testing.T) {
	files := payload(t)
	dir := t.TempDir()
	cab := filepath.Join(dir, "kernel.cab")
	os.WriteFile(cab, write(t, files), 0o644)
	testtool.Need(t, "cabextract")
	if out, err := exec.Command("cabextract", "-t", cab).CombinedOutput(); err != nil || !strings.Contains(string(out), "All done, no errors") {
		t.Fatalf("cabextract -t: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "x")
	if msg, err := exec.Command("cabextract", "-q", "-d", out, cab).CombinedOutput(); err != nil {
		t.Fatalf("cabextract: %v\n%s", err, msg)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Name)))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("cabextract's %s: %d bytes, %v; want %d bytes", f.Name, len(got), err, len(f.Data))
		}
	}
	testtool.Need(t, "gcab")
	list, err := exec.Command("gcab", "-l", "-v", cab).CombinedOutput()
	if err != nil {
		t.Fatalf("gcab -l: %v\n%s", err, list)
	}
	for _, want := range []string{"kernel", "config", `tools\update.json`, "2026-11-21 12:56:02"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("gcab -l lacks %q:\n%s", want, list)
		}
	}
}

// FuzzRoundTrip writes random file sets and reads them back, with our reader and (when the
// fuzzer finds a new shape, on the seed corpus at least) cabextract.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("kernel"), []byte("hello"), uint16(3), uint8(2))
	f.Add(bytes.Repeat([]byte{0}, 70000), []byte{}, uint16(1), uint8(7))
	f.Fuzz(func(t *testing.T, a, b []byte, repeat uint16, n uint8) {
		var files []File
		for i := 0; i < int(n%8)+1; i++ {
			data := append(bytes.Repeat(a, int(repeat%40)), b...)
			if i%2 == 1 {
				data = b
			}
			files = append(files, File{Name: "f" + string(rune('a'+i)) + "/x", Data: data})
		}
		var buf bytes.Buffer
		if err := Write(&buf, files, released); err != nil {
			t.Fatal(err)
		}
		got, err := Read(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for i := range files {
			if !bytes.Equal(got[i].Data, files[i].Data) {
				t.Fatalf("file %d: read %d bytes, wrote %d", i, len(got[i].Data), len(files[i].Data))
			}
		}
	})
}

// Blocks of every shape: all zeros (one distance in use: compress/flate's single-code distance
// tree, which cabextract rejects, was the trap), random (stored), text, and mixtures across
// block boundaries. cabextract must extract each byte for byte.
func TestCabextractAcceptsEveryShape(t *testing.T) {
	testtool.Need(t, "cabextract")
	random := make([]byte, 100000)
	rand.Read(random)
	zeros := make([]byte, 100000)
	text := bytes.Repeat([]byte("CONFIG_HYPERV=y\n# CONFIG_SOUND is not set\n"), 4000)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	var files []File
	for i, data := range [][]byte{zeros[:32768], zeros[:32769], zeros[:65546], random[:40000], text[:100000],
		cat(zeros[:50000], random[:40000]), cat(text[:40000], zeros[:40000]), cat(random[:40000], zeros[:40000]),
		bytes.Repeat([]byte{0xAB, 0xCD}, 40000), {7}} {
		files = append(files, File{Name: string(rune('a' + i)), Data: data})
	}
	dir := t.TempDir()
	cab := filepath.Join(dir, "shapes.cab")
	os.WriteFile(cab, write(t, files), 0o644)
	if msg, err := exec.Command("cabextract", "-q", "-d", filepath.Join(dir, "x"), cab).CombinedOutput(); err != nil {
		t.Fatalf("cabextract: %v\n%s", err, msg)
	}
	for _, f := range files {
		if got, err := os.ReadFile(filepath.Join(dir, "x", f.Name)); err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s: cabextract gave %d bytes, %v; want %d", f.Name, len(got), err, len(f.Data))
		}
	}
}

// deflateBlock's output is standard deflate: the standard library inflates it, with the same
// dictionary, to the input. The seeds cover each block type: stored (short), fixed, dynamic, and
// matches reaching into the dictionary.
func FuzzDeflateBlock(f *testing.F) {
	f.Add([]byte("hello"), []byte("hello hello hello hello"))
	f.Add([]byte{}, make([]byte, 40000))
	f.Add(bytes.Repeat([]byte("CONFIG_HYPERV=y\n"), 3000), bytes.Repeat([]byte("CONFIG_HYPERV=m\n# CONFIG_SOUND is not set\n"), 900))
	m := &matcher{}
	f.Fuzz(func(t *testing.T, dict, data []byte) {
		dict, data = dict[:min(len(dict), blockSize)], data[:min(len(data), blockSize)]
		got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(deflateBlock(nil, dict, data, m)), dict))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("inflate: %d bytes, %v; want %d", len(got), err, len(data))
		}
	})
}

// Blocks are compressed in parallel; the cabinet must not depend on how many CPUs did it.
func TestSameBytesOnAnyCPUCount(t *testing.T) {
	files := payload(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first []byte
	for _, cpus := range []int{1, 2, 7} {
		runtime.GOMAXPROCS(cpus)
		got := write(t, files)
		if first == nil {
			first = got
		} else if !bytes.Equal(got, first) {
			t.Errorf("Write with GOMAXPROCS=%d differs from GOMAXPROCS=1", cpus)
		}
	}
}

// On compressible files (Go's own sources, the test binary, which is an ELF executable, and a
// zero-filled image) our cabinet is no bigger than gcab -c -z's, which deflates each block
// with zlib at its default level; and cabextract still tests it clean.
func TestNoBiggerThanGcab(t *testing.T) {
	testtool.Need(t, "gcab")
	testtool.Need(t, "cabextract")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	elf, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	httpSrc := filepath.Join(strings.TrimSpace(string(goroot)), "src", "net", "http")
	var src []byte
	sources, _ := filepath.Glob(filepath.Join(httpSrc, "*.go"))
	for _, p := range sources {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	if len(src) < 1<<20 {
		t.Fatalf("%d bytes of Go source in %s; want at least 1 MiB to compare on", len(src), httpSrc)
	}
	image := make([]byte, 3<<20)
	copy(image[1<<20:], src[:1<<20])
	files := []File{{"kernel", elf[:min(len(elf), 4<<20)]}, {"source.go", src}, {"modules.vhd", image}}
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f.Name))
		if err := os.WriteFile(paths[len(paths)-1], f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	theirs := filepath.Join(dir, "gcab.cab")
	if out, err := exec.Command("gcab", append([]string{"-c", "-z", "-n", theirs}, paths...)...).CombinedOutput(); err != nil {
		t.Fatalf("gcab -c -z: %v\n%s", err, out)
	}
	info, err := os.Stat(theirs)
	if err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "ours.cab")
	data := write(t, files)
	os.WriteFile(ours, data, 0o644)
	if len(data) > int(info.Size()) {
		t.Errorf("our cabinet is %d bytes, gcab's %d: %.3fx", len(data), info.Size(), float64(len(data))/float64(info.Size()))
	}
	if out, err := exec.Command("cabextract", "-t", ours).CombinedOutput(); err != nil || !strings.Contains(string(out), "All done, no errors") {
		t.Errorf("cabextract -t: %v\n%s", err, out)
	}
	t.Logf("ours %d bytes, gcab -c -z %d: %.3fx", len(data), info.Size(), float64(len(data))/float64(info.Size()))
}

// huffmanLengths always gives a complete code within the length limit: the Kraft sum of the
// lengths is exactly 1, which libmspack requires of every table.
func TestHuffmanLengthsComplete(t *testing.T) {
	fib := make([]uint32, 30)
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	for _, c := range []struct {
		name    string
		freq    []uint32
		maxBits uint8
	}{
		{"none used", make([]uint32, 30), 15},
		{"one used", []uint32{0, 0, 0, 9, 0}, 15},
		{"symbol 0 only", []uint32{5, 0, 0}, 7},
		{"two", []uint32{1, 1000}, 15},
		{"fibonacci, deeper than 15 unlimited", fib, 15},
		{"fibonacci, code-length limit", fib[:19], 7},
		{"flat", slices.Repeat([]uint32{3}, 286), 15},
	} {
		lens := huffmanLengths(c.freq, c.maxBits)
		kraft, used := 0, 0
		for s, l := range lens {
			if l > c.maxBits {
				t.Errorf("%s: symbol %d has length %d, limit %d", c.name, s, l, c.maxBits)
			}
			if l > 0 {
				kraft += 1 << (maxCodeBits - l)
				used++
			}
			if c.freq[s] > 0 && l == 0 {
				t.Errorf("%s: used symbol %d has no code", c.name, s)
			}
		}
		if kraft != 1<<maxCodeBits || used < 2 {
			t.Errorf("huffmanLengths(%s) = %v: Kraft sum %d/%d over %d codes, want a complete code", c.name, lens, kraft, 1<<maxCodeBits, used)
		}
	}
}

// The fixed codes are RFC 1951 3.2.6's table, at each edge of its ranges.
func TestFixedCodes(t *testing.T) {
	for _, c := range []struct {
		sym       int
		code, len uint16
	}{
		{0, 0x30, 8}, {143, 0xBF, 8}, {144, 0x190, 9}, {182, 0x1B6, 9}, {255, 0x1FF, 9},
		{256, 0, 7}, {279, 0x17, 7}, {280, 0xC0, 8}, {285, 0xC5, 8},
	} {
		l := uint16(fixedLit.lens[c.sym])
		if code := bits.Reverse16(fixedLit.codes[c.sym]) >> (16 - l); l != c.len || code != c.code {
			t.Errorf("fixed code of %d = %#x in %d bits, want %#x in %d", c.sym, code, l, c.code, c.len)
		}
	}
	for d := range numDist {
		if l, code := fixedDist.lens[d], bits.Reverse16(fixedDist.codes[d])>>11; l != 5 || int(code) != d {
			t.Errorf("fixed distance code of %d = %#x in %d bits, want %#x in 5", d, code, l, d)
		}
	}
}

// A block's matches reach back into the previous block (MSZIP keeps the history across CFDATA
// blocks): random bytes repeated block after block cost one block, and cabextract, whose
// libmspack keeps that history too, extracts them.
func TestMatchesReachIntoThePreviousBlock(t *testing.T) {
	testtool.Need(t, "cabextract")
	random := make([]byte, blockSize)
	rand.Read(random)
	data := bytes.Repeat(random, 3)
	cab := write(t, []File{{Name: "repeated", Data: data}})
	if len(cab) > blockSize+2000 {
		t.Errorf("3 identical random blocks take %d bytes; want about one block (%d)", len(cab), blockSize)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "r.cab"), cab, 0o644)
	if msg, err := exec.Command("cabextract", "-q", "-d", dir, filepath.Join(dir, "r.cab")).CombinedOutput(); err != nil {
		t.Fatalf("cabextract: %v\n%s", err, msg)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "repeated")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("cabextract gave %d bytes, %v; want the %d written", len(got), err, len(data))
	}
}
