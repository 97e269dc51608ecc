package vdisk

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// vhdEpoch is where a VHD footer's time stamp counts from.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Geometry is a disk's cylinders, heads and sectors per track, as the VHD specification
// computes them from its size (Virtual Hard Disk Image Format Specification, appendix).
type Geometry struct {
	Cylinders       uint16
	Heads           uint8
	SectorsPerTrack uint8
}

// GeometryOf computes the CHS geometry the VHD specification gives a disk of size bytes. Sizes
// beyond what CHS can express (about 127 GiB) get the largest geometry.
func GeometryOf(size int64) Geometry {
	total := size / 512
	total = min(total, 65535*16*255)
	var spt, heads, cylTimesHeads int64
	if total >= 65535*16*63 {
		spt, heads = 255, 16
		cylTimesHeads = total / spt
	} else {
		spt = 17
		cylTimesHeads = total / spt
		heads = max((cylTimesHeads+1023)/1024, 4)
		if cylTimesHeads >= heads*1024 || heads > 16 {
			spt, heads = 31, 16
			cylTimesHeads = total / spt
		}
		if cylTimesHeads >= heads*1024 {
			spt, heads = 63, 16
			cylTimesHeads = total / spt
		}
	}
	return Geometry{Cylinders: uint16(cylTimesHeads / heads), Heads: uint8(heads), SectorsPerTrack: uint8(spt)}
}

// WriteFixedVHD writes the first size bytes of src to w as a fixed VHD: the bytes themselves,
// then the 512-byte footer. The footer's unique id derives from the image's content and seed
// (which may be nil) and its time stamp is when, so the same image, seed and time give the same
// file.
//
// The creator application is "win ", what Hyper-V writes: readers (qemu among them) then take the
// disk's size from the footer, as Hyper-V does, not from the CHS geometry, which rounds most
// sizes down and would cut the image's end off.
func WriteFixedVHD(w io.Writer, src io.ReaderAt, size int64, seed []byte, when time.Time) error {
	if size <= 0 || size%512 != 0 {
		return fmt.Errorf("vdisk: a VHD of %d bytes: the size must be a positive multiple of 512 (pad the image)", size)
	}
	if when.Before(vhdEpoch) {
		return fmt.Errorf("vdisk: a VHD time stamp of %s: VHD time starts in 2000; pass a later time", when.UTC().Format(time.RFC3339))
	}
	fp := newFingerprint(seed, size)
	err := eachBlock(src, size, func(b []byte) error {
		fp.add(b)
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	footer := vhdFooter(size, derivedGUID(fp.sum(), "vhd unique id"), uint32(when.Sub(vhdEpoch)/time.Second))
	_, err = w.Write(footer)
	return err
}

// vhdFooter is the 512-byte, big-endian footer of a fixed disk of size bytes.
func vhdFooter(size int64, id guid, stamp uint32) []byte {
	f := make([]byte, 512)
	be := binary.BigEndian
	copy(f, "conectix")
	be.PutUint32(f[8:], 2)           // Features: the reserved bit, always set
	be.PutUint32(f[12:], 0x10000)    // File Format Version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // Data Offset: none, for a fixed disk
	be.PutUint32(f[24:], stamp)
	copy(f[28:], "win ")          // Creator Application (see WriteFixedVHD)
	be.PutUint32(f[32:], 0x10000) // Creator Version
	copy(f[36:], "Wi2k")          // Creator Host OS: Windows
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	g := GeometryOf(size)
	be.PutUint16(f[56:], g.Cylinders)
	f[58], f[59] = g.Heads, g.SectorsPerTrack
	be.PutUint32(f[60:], 2) // Disk Type: fixed
	copy(f[68:], id[:])
	be.PutUint32(f[64:], vhdChecksum(f))
	return f
}

// vhdChecksum is the one's complement of the sum of the footer's bytes, its checksum field
// (64-67) left out.
func vhdChecksum(f []byte) uint32 {
	var sum uint32
	for i, b := range f {
		if i < 64 || i >= 68 {
			sum += uint32(b)
		}
	}
	return ^sum
}
