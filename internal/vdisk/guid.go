// Package vdisk writes a raw disk image as a Hyper-V virtual disk, deterministically: VHDX
// (MS-VHDX, dynamic) for .wslconfig's kernelModules=, and fixed VHD (a raw image plus a 512-byte
// footer) for the NuGet package's modules.vhd. Every identifier the formats carry is derived
// from a caller-given seed, so the same image and seed give the same bytes, run after run.
package vdisk

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
)

// guid is a GUID in its on-disk form: Data1, Data2 and Data3 little-endian, Data4 as bytes,
// which is how both MS-VHDX and Windows store them.
type guid [16]byte

// parseGUID turns the text form "2DC27766-F623-4200-9D64-115E9BFD4A08" into its on-disk form.
// Only the format's fixed identifiers go through it, so bad text is a programming error.
func parseGUID(s string) guid {
	var hex [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		hex[n/2] = hex[n/2]<<4 | unhex(s[i])
		n++
	}
	if n != 32 {
		panic("vdisk: bad GUID " + s)
	}
	var g guid
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(hex[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(hex[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(hex[6:]))
	copy(g[8:], hex[8:])
	return g
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	panic("vdisk: bad GUID digit " + string(c))
}

// derivedGUID is a version 4 (random-looking) GUID made from seed and what it is for, so each
// identifier in a file differs from the others yet all follow from the seed.
func derivedGUID(seed []byte, purpose string) guid {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	var g guid
	copy(g[:], h.Sum(nil))
	g[7] = g[7]&0x0f | 0x40 // version 4, in Data3's high nibble (little-endian: byte 7)
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g
}

// crc32c is the CRC-32C (Castagnoli) MS-VHDX uses for headers, region tables and log entries.
func crc32c(p []byte) uint32 {
	return crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli))
}
