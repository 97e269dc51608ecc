package vdisk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf16"
)

// The file's layout, as qemu-img and Hyper-V lay out a new dynamic VHDX: the 1 MiB header
// section (file identifier, two headers, two region tables, 64 KiB apiece), a 1 MiB log that
// nothing needs replayed (LogGuid zero), a 1 MiB metadata region, the BAT, then payload blocks.
const (
	kib = 1 << 10
	mib = 1 << 20

	header1Offset = 64 * kib
	header2Offset = 128 * kib
	region1Offset = 192 * kib
	region2Offset = 256 * kib
	logOffset     = 1 * mib
	logLength     = 1 * mib
	metaOffset    = 2 * mib
	metaLength    = 1 * mib
	batOffset     = 3 * mib

	// BlockSize is the payload block: the smallest MS-VHDX allows. Blocks holding only zeros
	// are left out of the file, so the finer the grain the smaller a sparse ext4 image's
	// VHDX (qemu-img's default 32 MiB blocks made a 32 MiB modules image a 40 MiB file;
	// 1 MiB blocks, 13 MiB), and a 1 MiB BAT still maps 128 GiB.
	BlockSize = 1 * mib
	// LogicalSectorSize is what the guest sees; 512 is what qemu-img and Hyper-V default to.
	LogicalSectorSize = 512
	// PhysicalSectorSize is the sector size reported to the guest as the device's own.
	PhysicalSectorSize = 4096

	// chunkRatio is the number of payload blocks between two sector bitmap entries in the
	// BAT: 2^23 sectors per bitmap block, over the sectors in a payload block.
	chunkRatio = (1 << 23) * LogicalSectorSize / BlockSize

	batPayloadFullyPresent = 6
	creator                = "wslkernel vdisk"
)

// The fixed identifiers MS-VHDX gives its regions and metadata items (section 2.2 and 2.6).
var (
	regionBAT          = parseGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	regionMetadata     = parseGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	metaFileParameters = parseGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	metaDiskSize       = parseGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	metaPage83         = parseGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	metaLogicalSector  = parseGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	metaPhysicalSector = parseGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
)

// WriteVHDX writes the first size bytes of src to w as a dynamic VHDX with 1 MiB blocks, leaving
// out the blocks that hold only zeros. Its GUIDs (file and data write, page 83 identity) derive
// from the image's content and seed (which may be nil), so the same image and seed always give
// the same file, and another image other GUIDs. size must be a positive multiple of 512.
//
// It reads the image once: the blocks go to their places first, the headers, metadata and BAT,
// which depend on all of them, last (w is written at offsets, as a file is).
func WriteVHDX(w io.WriterAt, src io.ReaderAt, size int64, seed []byte) error {
	if size <= 0 || size%LogicalSectorSize != 0 {
		return fmt.Errorf("vdisk: a VHDX of %d bytes: the size must be a positive multiple of %d (pad the image)", size, LogicalSectorSize)
	}
	present := make([]bool, 0, (size+BlockSize-1)/BlockSize)
	batLength := batLength(cap(present))
	next := int64(batOffset + batLength) // where the next present block goes
	zero := make([]byte, BlockSize)
	fp := newFingerprint(seed, size)
	err := eachBlock(src, size, func(b []byte) error {
		fp.add(b)
		ok := !bytes.Equal(b, zero[:len(b)])
		present = append(present, ok)
		if !ok {
			return nil
		}
		next += BlockSize
		_, err := w.WriteAt(b[:cap(b)], next-BlockSize) // the last block padded to a whole block
		return err
	})
	if err != nil {
		return err
	}
	id := fp.sum()
	head := make([]byte, batOffset+batLength)
	copy(head, fileIdentifier())
	putHeaders(head, id)
	putRegionTables(head, uint32(batLength))
	putMetadata(head[metaOffset:metaOffset+metaLength], size, derivedGUID(id, "page 83"))
	putBAT(head[batOffset:], present)
	_, err = w.WriteAt(head, 0)
	return err
}

// batLength is the length of the BAT of a disk of blocks payload blocks, in whole MiB: a
// sector bitmap entry follows every chunkRatio payload entries.
func batLength(blocks int) int {
	entries := blocks + (blocks-1)/chunkRatio
	return (entries*8 + mib - 1) / mib * mib
}

// putBAT fills the block allocation table: present blocks are stored in order after it, each at
// the next MiB; absent ones read as zeros (PAYLOAD_BLOCK_NOT_PRESENT, 0), and so do the sector
// bitmap entries a disk without a parent leaves unused.
func putBAT(bat []byte, present []bool) {
	nextMB := uint64(batOffset+len(bat)) / mib
	for i, ok := range present {
		if !ok {
			continue
		}
		slot := i + i/chunkRatio
		binary.LittleEndian.PutUint64(bat[slot*8:], nextMB<<20|batPayloadFullyPresent)
		nextMB += BlockSize / mib
	}
}

// fileIdentifier is the file's first 64 KiB: the signature and who wrote it, in UTF-16.
func fileIdentifier() []byte {
	b := make([]byte, 64*kib)
	copy(b, "vhdxfile")
	for i, c := range utf16.Encode([]rune(creator)) {
		binary.LittleEndian.PutUint16(b[8+2*i:], c)
	}
	return b
}

// putHeaders writes the two headers. Readers take the valid one with the higher sequence
// number; both are valid and agree on everything else.
func putHeaders(head []byte, seed []byte) {
	for seq, off := range []int{header1Offset, header2Offset} {
		h := head[off : off+4*kib]
		copy(h, "head")
		binary.LittleEndian.PutUint64(h[8:], uint64(seq))
		fileWrite, dataWrite := derivedGUID(seed, "file write"), derivedGUID(seed, "data write")
		copy(h[16:], fileWrite[:])
		copy(h[32:], dataWrite[:])
		// h[48:64], LogGuid, stays zero: there is no log to replay. LogVersion (64) is 0.
		binary.LittleEndian.PutUint16(h[66:], 1) // Version
		binary.LittleEndian.PutUint32(h[68:], logLength)
		binary.LittleEndian.PutUint64(h[72:], logOffset)
		binary.LittleEndian.PutUint32(h[4:], crc32c(h))
	}
}

// putRegionTables writes both copies of the region table: where the BAT and metadata are.
func putRegionTables(head []byte, batLength uint32) {
	for _, off := range []int{region1Offset, region2Offset} {
		t := head[off : off+64*kib]
		copy(t, "regi")
		binary.LittleEndian.PutUint32(t[8:], 2)
		putRegion(t[16:], regionBAT, batOffset, batLength)
		putRegion(t[48:], regionMetadata, metaOffset, metaLength)
		binary.LittleEndian.PutUint32(t[4:], crc32c(t))
	}
}

func putRegion(e []byte, id guid, offset uint64, length uint32) {
	copy(e, id[:])
	binary.LittleEndian.PutUint64(e[16:], offset)
	binary.LittleEndian.PutUint32(e[24:], length)
	binary.LittleEndian.PutUint32(e[28:], 1) // Required
}

// Metadata entry flags (MS-VHDX 2.6.1.2).
const (
	metaIsVirtualDisk = 1 << 1
	metaIsRequired    = 1 << 2
)

// putMetadata fills the metadata region: its table, then the five items every VHDX needs,
// packed from 64 KiB on.
func putMetadata(m []byte, size int64, page83 guid) {
	copy(m, "metadata")
	items := []struct {
		id    guid
		flags uint32
		value []byte
	}{
		{metaFileParameters, metaIsRequired, le32s(BlockSize, 0)}, // no LeaveBlocksAllocated, no parent
		{metaDiskSize, metaIsVirtualDisk | metaIsRequired, binary.LittleEndian.AppendUint64(nil, uint64(size))},
		{metaLogicalSector, metaIsVirtualDisk | metaIsRequired, le32s(LogicalSectorSize)},
		{metaPhysicalSector, metaIsVirtualDisk | metaIsRequired, le32s(PhysicalSectorSize)},
		{metaPage83, metaIsVirtualDisk | metaIsRequired, page83[:]},
	}
	binary.LittleEndian.PutUint16(m[10:], uint16(len(items)))
	at := 64 * kib
	for i, it := range items {
		e := m[32+32*i:]
		copy(e, it.id[:])
		binary.LittleEndian.PutUint32(e[16:], uint32(at))
		binary.LittleEndian.PutUint32(e[20:], uint32(len(it.value)))
		binary.LittleEndian.PutUint32(e[24:], it.flags)
		at += copy(m[at:], it.value)
	}
}

func le32s(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}
