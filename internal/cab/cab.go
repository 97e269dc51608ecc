// Package cab writes and reads Microsoft Cabinet files ([MS-CAB]), the container Windows Update
// ships payloads in: one folder compressed with MSZIP (deflate in 32 KiB blocks, each with its
// checksum), deterministic for the same files and date.
package cab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const (
	blockSize = 32 << 10 // uncompressed bytes per CFDATA block, as MSZIP requires
	maxBlocks = 0xFFFF   // CFDATA blocks in one folder (cCFData is 16 bits)
	maxFiles  = 0xFFFF

	headerSize = 36
	folderSize = 8
	fileFixed  = 16 // CFFILE before the name
	dataFixed  = 8  // CFDATA before the data

	compressNone  = 0
	compressMSZIP = 1

	attrArchive = 0x20
	attrUTF8    = 0x80 // _A_NAME_IS_UTF: the name is UTF-8, not the code page
)

// File is one file to store: its name in the cabinet (backslashes or slashes for folders) and
// contents.
type File struct {
	Name string
	Data []byte
}

// Write writes a cabinet of files, in the order given, into one MSZIP folder (more when they
// exceed what one folder can index), every file dated when (DOS time: even seconds, 1980-2107).
func Write(w io.Writer, files []File, when time.Time) error {
	if len(files) == 0 {
		return errors.New("cab: no files")
	}
	if len(files) > maxFiles {
		return fmt.Errorf("cab: %d files; a cabinet holds at most %d", len(files), maxFiles)
	}
	date, clock, err := dosTime(when)
	if err != nil {
		return err
	}
	names, err := storedNames(files)
	if err != nil {
		return err
	}

	folders, fileFolder, fileOffset := cutFolders(files)
	if len(folders) > 0xFFFF {
		return errors.New("cab: too many folders")
	}
	compressFolders(folders)

	// Lay out: header, folders, files, then each folder's data blocks.
	filesStart := headerSize + folderSize*len(folders)
	dataStart := filesStart
	for _, n := range names {
		dataStart += fileFixed + len(n)
	}
	total := dataStart
	for _, fo := range folders {
		for _, b := range fo.blocks {
			total += len(b)
		}
	}
	if total > 0x7FFFFFFF {
		return fmt.Errorf("cab: %d bytes; a cabinet must be under 2 GiB", total)
	}
	var hdr bytes.Buffer
	le := func(v any) { binary.Write(&hdr, binary.LittleEndian, v) }
	hdr.WriteString("MSCF")
	le(uint32(0))            // reserved1
	le(uint32(total))        // cbCabinet
	le(uint32(0))            // reserved2
	le(uint32(filesStart))   // coffFiles
	le(uint32(0))            // reserved3
	le([2]uint8{3, 1})       // versionMinor, versionMajor
	le(uint16(len(folders))) // cFolders
	le(uint16(len(files)))   // cFiles
	le(uint16(0))            // flags: no previous or next cabinet, no reserve
	le(uint16(0))            // setID
	le(uint16(0))            // iCabinet
	off := dataStart
	for _, fo := range folders {
		le(uint32(off))
		le(uint16(len(fo.blocks)))
		le(uint16(compressMSZIP))
		for _, b := range fo.blocks {
			off += len(b)
		}
	}
	for i, f := range files {
		attr := uint16(attrArchive)
		if !isASCII(names[i]) {
			attr |= attrUTF8
		}
		le(uint32(len(f.Data)))
		le(fileOffset[i])
		le(uint16(fileFolder[i]))
		le(date)
		le(clock)
		le(attr)
		hdr.Write(names[i])
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	for _, fo := range folders {
		for _, b := range fo.blocks {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// storedNames is each file's name as stored, NUL-terminated, after checking that names are
// unique (cabinets compare them without case) and files under 2 GiB.
func storedNames(files []File) ([][]byte, error) {
	seen := map[string]bool{}
	var names [][]byte
	for _, f := range files {
		name, err := cabName(f.Name)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(name)] {
			return nil, fmt.Errorf("cab: %s is in the cabinet twice (names are case-insensitive)", f.Name)
		}
		seen[strings.ToLower(name)] = true
		if int64(len(f.Data)) > 0x7FFF8000 {
			return nil, fmt.Errorf("cab: %s is %d bytes; a cabinet file must be under 2 GiB", f.Name, len(f.Data))
		}
		names = append(names, append([]byte(name), 0))
	}
	return names, nil
}

// folder is one CFFOLDER: its files' bytes as one stream, cut into 32 KiB blocks.
type folder struct {
	raw    [][]byte // uncompressed blocks: slices of a file, or copies where a block spans files
	blocks [][]byte // CFDATA records, each complete with its header
}

// cutFolders cuts the files' bytes into blocks, in as few folders as their block counts allow,
// and gives each file its folder and offset in that folder's stream.
func cutFolders(files []File) (folders []*folder, fileFolder []int, fileOffset []uint32) {
	fileFolder, fileOffset = make([]int, len(files)), make([]uint32, len(files))
	var cur *folder
	var pending []byte // the start of a block that spans files
	var uoff uint32
	for i, f := range files {
		// A new folder when this file's blocks would overflow the current one's count.
		need := (len(pending) + len(f.Data) + blockSize - 1) / blockSize
		if cur == nil || len(cur.raw)+need > maxBlocks {
			if cur != nil && len(pending) > 0 {
				cur.raw = append(cur.raw, pending)
			}
			cur = &folder{}
			folders = append(folders, cur)
			pending, uoff = nil, 0
		}
		fileFolder[i], fileOffset[i] = len(folders)-1, uoff
		uoff += uint32(len(f.Data))
		data := f.Data
		if len(pending) > 0 {
			n := min(blockSize-len(pending), len(data))
			pending, data = append(pending, data[:n]...), data[n:]
			if len(pending) == blockSize {
				cur.raw, pending = append(cur.raw, pending), nil
			}
		}
		for ; len(data) >= blockSize; data = data[blockSize:] {
			cur.raw = append(cur.raw, data[:blockSize])
		}
		pending = append(pending, data...)
	}
	if len(pending) > 0 {
		cur.raw = append(cur.raw, pending)
	}
	return folders, fileFolder, fileOffset
}

// compressFolders makes every folder's CFDATA records, on all CPUs. A block's dictionary is the
// previous block's raw bytes, not any compressor state, so blocks compress independently and the
// cabinet's bytes do not depend on the number of CPUs or the order the work is done in.
func compressFolders(folders []*folder) {
	type job struct {
		fo *folder
		k  int
	}
	var jobs []job
	for _, fo := range folders {
		fo.blocks = make([][]byte, len(fo.raw))
		for k := range fo.raw {
			jobs = append(jobs, job{fo, k})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &matcher{}
			for j := int(next.Add(1) - 1); j < len(jobs); j = int(next.Add(1) - 1) {
				fo, k := jobs[j].fo, jobs[j].k
				var dict []byte
				if k > 0 {
					dict = fo.raw[k-1]
				}
				fo.blocks[k] = dataRecord(fo.raw[k], dict, m)
			}
		}()
	}
	wg.Wait()
}

// dataRecord is a CFDATA record of MSZIP: header, "CK", then data deflated as one complete
// stream, whose matches may reach into dict (the folder's previous block, as MSZIP allows).
func dataRecord(data, dict []byte, m *matcher) []byte {
	rec := make([]byte, dataFixed, dataFixed+2+len(data)+len(data)/8+64)
	rec = deflateBlock(append(rec, 'C', 'K'), dict, data, m)
	binary.LittleEndian.PutUint16(rec[4:], uint16(len(rec)-dataFixed))
	binary.LittleEndian.PutUint16(rec[6:], uint16(len(data)))
	binary.LittleEndian.PutUint32(rec[0:], checksum(rec[4:8], checksum(rec[dataFixed:], 0)))
	return rec
}

// checksum is the cabinet checksum ([MS-CAB] 2.5): the data XORed as little-endian 32-bit words,
// the 1 to 3 bytes left over taken most significant first.
func checksum(data []byte, seed uint32) uint32 {
	csum := seed
	n := len(data) / 4 * 4
	for i := 0; i < n; i += 4 {
		csum ^= binary.LittleEndian.Uint32(data[i:])
	}
	var ul uint32
	for _, b := range data[n:] {
		ul = ul<<8 | uint32(b)
	}
	return csum ^ ul
}

// cabName is the stored name: backslash-separated, relative, without empty or dot parts.
func cabName(name string) (string, error) {
	n := strings.ReplaceAll(name, "/", `\`)
	if n == "" || !utf8.ValidString(n) {
		return "", fmt.Errorf("cab: file name %q is empty or not UTF-8", name)
	}
	for _, part := range strings.Split(n, `\`) {
		if part == "" || part == "." || part == ".." || strings.ContainsRune(part, 0) {
			return "", fmt.Errorf("cab: file name %q must be a relative path without empty, . or .. parts", name)
		}
	}
	if len(n) > 255 {
		return "", fmt.Errorf("cab: file name %q is longer than 255 bytes", name)
	}
	return n, nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// dosTime is when as MS-DOS date and time (local fields as given, 2-second resolution).
func dosTime(when time.Time) (date, clock uint16, err error) {
	if when.Year() < 1980 || when.Year() > 2107 {
		return 0, 0, fmt.Errorf("cab: %s cannot be stored as an MS-DOS date (1980 to 2107)", when)
	}
	date = uint16(when.Year()-1980)<<9 | uint16(when.Month())<<5 | uint16(when.Day())
	clock = uint16(when.Hour())<<11 | uint16(when.Minute())<<5 | uint16(when.Second()/2)
	return date, clock, nil
}
