package moddisk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// mke2fs -d copies each file's change time (ctime) from the tree it reads, and nothing can set a
// file's ctime but the clock: two runs on the same modules at different times differ in every
// inode's ctime and checksum (measured: 750 bytes for a 60-file tree). E2FSPROGS_FAKE_TIME fixes
// the times mke2fs makes up, not the ones it copies. It copies owners too: modules installed by
// a user come out owned by that user's uid. pinInodes sets every time of every inode in use to
// one value and every owner to root, after the fact, and recomputes the inode checksums
// (metadata_csum); the rest of the file system is already reproducible.

// ext4 superblock and group descriptor fields we use (offsets from the kernel's struct
// ext4_super_block and struct ext4_group_desc).
const (
	superblockOffset = 1024
	ext4Magic        = 0xEF53

	incompat64Bit        = 0x80
	incompatCsumSeed     = 0x2000
	roCompatMetadataCsum = 0x400
	bgInodeUninit        = 0x1

	inodeChecksumLo = 0x7C
	inodeChecksumHi = 0x82
	inodeExtraIsize = 0x80
	inodeGeneration = 0x64
)

// ext4Layout is what pinInodes needs to know of a file system to find its inodes.
type ext4Layout struct {
	blockSize      int64
	inodeSize      int
	inodesPerGroup int
	groups         int64
	descSize       int
	descTable      int64 // byte offset of the group descriptor table
	metadataCsum   bool
	csumSeed       uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw is the kernel's crc32c_le: CRC-32C without Go's inversion before and after, as
// ext4's checksums chain it.
func crc32cRaw(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

func readExt4Layout(f io.ReaderAt, name string) (ext4Layout, error) {
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, superblockOffset); err != nil {
		return ext4Layout{}, fmt.Errorf("%s: reading the ext4 superblock: %w", name, err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != ext4Magic {
		return ext4Layout{}, fmt.Errorf("%s: no ext4 superblock at byte 1024 (magic %#x): not an ext4 image", name, le.Uint16(sb[0x38:]))
	}
	incompat, roCompat := le.Uint32(sb[0x60:]), le.Uint32(sb[0x64:])
	l := ext4Layout{
		blockSize:      1024 << le.Uint32(sb[0x18:]),
		inodeSize:      int(le.Uint16(sb[0x58:])),
		inodesPerGroup: int(le.Uint32(sb[0x28:])),
		descSize:       32,
		metadataCsum:   roCompat&roCompatMetadataCsum != 0,
	}
	firstData, perGroup := int64(le.Uint32(sb[0x14:])), int64(le.Uint32(sb[0x20:]))
	blocks := int64(le.Uint32(sb[0x04:]))
	if incompat&incompat64Bit != 0 {
		blocks |= int64(le.Uint32(sb[0x150:])) << 32
		l.descSize = int(le.Uint16(sb[0xFE:]))
	}
	if l.inodeSize < 128 || perGroup == 0 {
		return ext4Layout{}, fmt.Errorf("%s: ext4 superblock with inode size %d, %d blocks per group: damaged", name, l.inodeSize, perGroup)
	}
	l.groups = (blocks - firstData + perGroup - 1) / perGroup
	l.descTable = (firstData + 1) * l.blockSize
	if incompat&incompatCsumSeed != 0 {
		l.csumSeed = le.Uint32(sb[0x270:])
	} else {
		l.csumSeed = crc32cRaw(^uint32(0), sb[0x68:0x78]) // of the file system UUID
	}
	return l, nil
}

// pinInodes sets the access, change, modification and creation times of every inode in use in
// the ext4 image at path to when (nanoseconds zero), its owner and group to root (0), and
// recomputes their checksums. It checks
// each checksum before it changes an inode, so an image it misreads is an error, not damage.
func pinInodes(path string, when time.Time) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	l, err := readExt4Layout(f, path)
	if err != nil {
		return err
	}
	descs := make([]byte, l.groups*int64(l.descSize))
	if _, err := f.ReadAt(descs, l.descTable); err != nil {
		return fmt.Errorf("%s: reading the group descriptors: %w", path, err)
	}
	for g := int64(0); g < l.groups; g++ {
		if err := l.pinGroup(f, path, g, descs[g*int64(l.descSize):][:l.descSize], when); err != nil {
			return err
		}
	}
	return f.Sync()
}

// pinGroup does pinInodes' work for block group g, whose descriptor is desc.
func (l ext4Layout) pinGroup(f *os.File, path string, g int64, desc []byte, when time.Time) error {
	le := binary.LittleEndian
	if le.Uint16(desc[0x12:])&bgInodeUninit != 0 {
		return nil // no inode of this group was ever used
	}
	bitmapAt, tableAt := int64(le.Uint32(desc[0x04:])), int64(le.Uint32(desc[0x08:]))
	if l.descSize >= 64 {
		bitmapAt |= int64(le.Uint32(desc[0x24:])) << 32
		tableAt |= int64(le.Uint32(desc[0x28:])) << 32
	}
	bitmap := make([]byte, (l.inodesPerGroup+7)/8)
	table := make([]byte, l.inodesPerGroup*l.inodeSize)
	if _, err := f.ReadAt(bitmap, bitmapAt*l.blockSize); err != nil {
		return fmt.Errorf("%s: reading group %d's inode bitmap: %w", path, g, err)
	}
	if _, err := f.ReadAt(table, tableAt*l.blockSize); err != nil {
		return fmt.Errorf("%s: reading group %d's inode table: %w", path, g, err)
	}
	for i := 0; i < l.inodesPerGroup; i++ {
		if bitmap[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		ino := uint32(g)*uint32(l.inodesPerGroup) + uint32(i) + 1
		if err := l.pinInode(table[i*l.inodeSize:][:l.inodeSize], ino, when); err != nil {
			return fmt.Errorf("%s: inode %d: %w", path, ino, err)
		}
	}
	_, err := f.WriteAt(table, tableAt*l.blockSize)
	return err
}

// pinInode sets the times, owner and checksum of one inode (raw, numbered ino).
func (l ext4Layout) pinInode(raw []byte, ino uint32, when time.Time) error {
	le := binary.LittleEndian
	if l.metadataCsum {
		if got, want := l.storedChecksum(raw), l.inodeChecksum(raw, ino); got != want {
			return fmt.Errorf("checksum %#x where its bytes give %#x: the image is damaged or not what mke2fs wrote; run e2fsck -fn on it", got, want)
		}
	}
	lo, extra := ext4Time(when)
	for _, off := range []int{0x08, 0x0C, 0x10} { // atime, ctime, mtime
		le.PutUint32(raw[off:], lo)
	}
	fits := func(off int) bool { return len(raw) > 128 && off+4 <= 128+int(le.Uint16(raw[inodeExtraIsize:])) }
	for _, off := range []int{0x84, 0x88, 0x8C, 0x94} { // ctime, mtime, atime, crtime: extra
		if fits(off) {
			le.PutUint32(raw[off:], extra)
		}
	}
	if fits(0x90) {
		le.PutUint32(raw[0x90:], lo) // crtime
	}
	for _, off := range []int{0x02, 0x18, 0x78, 0x7A} { // uid, gid, and their high halves
		le.PutUint16(raw[off:], 0)
	}
	if l.metadataCsum {
		sum := l.inodeChecksum(raw, ino)
		le.PutUint16(raw[inodeChecksumLo:], uint16(sum))
		if l.hasChecksumHi(raw) {
			le.PutUint16(raw[inodeChecksumHi:], uint16(sum>>16))
		}
	}
	return nil
}

// ext4Time is t in ext4's form: the low 32 bits of the seconds, and the extra word holding the
// two epoch bits beyond them (nanoseconds zero).
func ext4Time(t time.Time) (lo, extra uint32) {
	s := t.Unix()
	lo = uint32(s)
	return lo, uint32((s-int64(int32(lo)))>>32) & 3
}

func (l ext4Layout) hasChecksumHi(raw []byte) bool {
	return len(raw) > 128 && int(binary.LittleEndian.Uint16(raw[inodeExtraIsize:])) >= 4
}

func (l ext4Layout) storedChecksum(raw []byte) uint32 {
	sum := uint32(binary.LittleEndian.Uint16(raw[inodeChecksumLo:]))
	if l.hasChecksumHi(raw) {
		sum |= uint32(binary.LittleEndian.Uint16(raw[inodeChecksumHi:])) << 16
	}
	return sum
}

// inodeChecksum is the kernel's ext4_inode_csum: CRC-32C of the inode number, its generation and
// the inode with its checksum fields zeroed, seeded by the file system's checksum seed; only the
// low 16 bits when the inode has no room for the high half.
func (l ext4Layout) inodeChecksum(raw []byte, ino uint32) uint32 {
	var num [4]byte
	binary.LittleEndian.PutUint32(num[:], ino)
	sum := crc32cRaw(l.csumSeed, num[:])
	sum = crc32cRaw(sum, raw[inodeGeneration:inodeGeneration+4])
	c := append([]byte(nil), raw...)
	c[inodeChecksumLo], c[inodeChecksumLo+1] = 0, 0
	hi := l.hasChecksumHi(raw)
	if hi {
		c[inodeChecksumHi], c[inodeChecksumHi+1] = 0, 0
	}
	sum = crc32cRaw(sum, c)
	if !hi {
		sum &= 0xFFFF
	}
	return sum
}
