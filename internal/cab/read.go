package cab

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Entry is a file read from a cabinet.
type Entry struct {
	Name     string // as stored, backslash-separated
	Data     []byte
	Modified time.Time // from the MS-DOS date and time, as UTC
}

// Read reads a whole cabinet: every file of every folder, checking each block's checksum.
// It reads what Write writes (uncompressed or MSZIP folders, no reserved areas, one cabinet).
func Read(data []byte) ([]Entry, error) {
	if len(data) < headerSize || string(data[:4]) != "MSCF" {
		return nil, fmt.Errorf("cab: not a cabinet (no MSCF signature)")
	}
	u16 := func(off int) uint16 { return binary.LittleEndian.Uint16(data[off:]) }
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(data[off:]) }
	if int(u32(8)) != len(data) {
		return nil, fmt.Errorf("cab: the header says %d bytes, the file has %d", u32(8), len(data))
	}
	if flags := u16(30); flags != 0 {
		return nil, fmt.Errorf("cab: flags %#x (multi-cabinet sets and reserved areas are not supported)", flags)
	}
	nFolders, nFiles := int(u16(26)), int(u16(28))
	if headerSize+folderSize*nFolders > len(data) {
		return nil, fmt.Errorf("cab: %d folders do not fit the file", nFolders)
	}
	folders := make([][]byte, nFolders)
	for i := range folders {
		off := headerSize + folderSize*i
		start, blocks, method := int(u32(off)), int(u16(off+4)), u16(off+6)
		content, err := readFolder(data, start, blocks, method)
		if err != nil {
			return nil, fmt.Errorf("cab: folder %d: %w", i, err)
		}
		folders[i] = content
	}
	var entries []Entry
	off := int(u32(16))
	for i := 0; i < nFiles; i++ {
		if off+fileFixed > len(data) {
			return nil, fmt.Errorf("cab: file entry %d is past the end", i)
		}
		size, uoff, folder := int(u32(off)), int(u32(off+4)), int(u16(off+8))
		date, clock := u16(off+10), u16(off+12)
		end := bytes.IndexByte(data[off+fileFixed:], 0)
		if end < 0 {
			return nil, fmt.Errorf("cab: file entry %d: unterminated name", i)
		}
		name := string(data[off+fileFixed : off+fileFixed+end])
		off += fileFixed + end + 1
		if folder >= nFolders || uoff+size > len(folders[folder]) || uoff+size < uoff {
			return nil, fmt.Errorf("cab: %s: bytes %d+%d are outside folder %d", name, uoff, size, folder)
		}
		entries = append(entries, Entry{
			Name: name,
			Data: folders[folder][uoff : uoff+size],
			Modified: time.Date(1980+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
				int(clock>>11), int(clock>>5&0x3F), int(clock&0x1F)*2, 0, time.UTC),
		})
	}
	return entries, nil
}

// readFolder decodes a folder's blocks into its uncompressed stream.
func readFolder(data []byte, off, blocks int, method uint16) ([]byte, error) {
	var out bytes.Buffer
	var dict []byte
	for b := 0; b < blocks; b++ {
		if off+dataFixed > len(data) {
			return nil, fmt.Errorf("block %d is past the end", b)
		}
		csum := binary.LittleEndian.Uint32(data[off:])
		cbData := int(binary.LittleEndian.Uint16(data[off+4:]))
		cbUncomp := int(binary.LittleEndian.Uint16(data[off+6:]))
		if off+dataFixed+cbData > len(data) {
			return nil, fmt.Errorf("block %d is past the end", b)
		}
		payload := data[off+dataFixed : off+dataFixed+cbData]
		if csum != 0 && csum != checksum(data[off+4:off+8], checksum(payload, 0)) {
			return nil, fmt.Errorf("block %d: checksum mismatch", b)
		}
		var block []byte
		switch method & 0xF {
		case compressNone:
			block = payload
		case compressMSZIP:
			if len(payload) < 2 || payload[0] != 'C' || payload[1] != 'K' {
				return nil, fmt.Errorf("block %d: no MSZIP CK signature", b)
			}
			// A block may refer back into the previous one (the preset dictionary).
			fr := flate.NewReaderDict(bytes.NewReader(payload[2:]), dict)
			var err error
			if block, err = io.ReadAll(io.LimitReader(fr, blockSize+1)); err != nil {
				return nil, fmt.Errorf("block %d: %w", b, err)
			}
		default:
			return nil, fmt.Errorf("compression type %d is not supported (none, MSZIP)", method&0xF)
		}
		if len(block) != cbUncomp {
			return nil, fmt.Errorf("block %d: %d bytes, the header says %d", b, len(block), cbUncomp)
		}
		out.Write(block)
		dict = block
		off += dataFixed + cbData
	}
	return out.Bytes(), nil
}
