package cab

import "math/bits"

// deflateFixed compresses one MSZIP block (at most 32 KiB) as a single final deflate block with
// the fixed Huffman codes of RFC 1951 3.2.6, or stored when that is smaller.
//
// Why not compress/flate: for a block with at most one distance in use (zeros, fill patterns)
// Go writes a dynamic block whose distance code is a single 1-bit code. RFC 1951 allows that
// incomplete code, and zlib's inflate accepts it, but libmspack (cabextract, and the cabinet
// readers built on it) rejects any incomplete Huffman table, so such a cabinet fails to extract.
// zlib's deflate never writes one, which is why gcab's cabinets work. The fixed codes are
// complete by definition; the cost is a few percent of size on text, nothing on zeros or on
// already-compressed data (stored either way).
func deflateFixed(dst, data []byte) []byte {
	var w bitWriter
	w.out = dst
	w.write(0b011, 3) // BFINAL=1, BTYPE=01 (fixed Huffman)
	const (
		hashBits  = 15
		minMatch  = 3
		maxMatch  = 258
		maxChain  = 64
		window    = 1 << 15
		noPos     = -1
		hashShift = 5
	)
	var head [1 << hashBits]int32
	for i := range head {
		head[i] = noPos
	}
	prev := make([]int32, len(data))
	hash := func(i int) int {
		return int((uint32(data[i])<<(2*hashShift) ^ uint32(data[i+1])<<hashShift ^ uint32(data[i+2])) & (1<<hashBits - 1))
	}
	insert := func(i int) {
		if i+minMatch <= len(data) {
			h := hash(i)
			prev[i] = head[h]
			head[h] = int32(i)
		}
	}
	for i := 0; i < len(data); {
		bestLen, bestDist := 0, 0
		if i+minMatch <= len(data) {
			limit := min(maxMatch, len(data)-i)
			for cand, chain := head[hash(i)], 0; cand != noPos && chain < maxChain && i-int(cand) <= window; cand, chain = prev[cand], chain+1 {
				c := int(cand)
				if data[c+bestLen] != data[i+bestLen] && bestLen > 0 {
					continue
				}
				n := 0
				for n < limit && data[c+n] == data[i+n] {
					n++
				}
				if n > bestLen {
					bestLen, bestDist = n, i-c
					if n == limit {
						break
					}
				}
			}
		}
		if bestLen >= minMatch {
			w.length(bestLen)
			w.distance(bestDist)
			for k := 0; k < bestLen; k++ {
				insert(i + k)
			}
			i += bestLen
		} else {
			w.literal(int(data[i]))
			insert(i)
			i++
		}
	}
	w.literal(256) // end of block
	w.flush()
	if len(w.out)-len(dst) <= len(data)+5 {
		return w.out
	}
	// Stored: BFINAL=1, BTYPE=00, aligned, LEN, NLEN, the bytes.
	n := uint16(len(data))
	out := append(dst, 0x01, byte(n), byte(n>>8), byte(^n), byte(^n>>8))
	return append(out, data...)
}

// bitWriter writes deflate's LSB-first bit stream.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.nbits
	w.nbits += n
	for w.nbits >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nbits -= 8
	}
}

func (w *bitWriter) flush() {
	if w.nbits > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.nbits = 0, 0
	}
}

// code writes a Huffman code: most significant bit first, so reversed into the LSB-first stream.
func (w *bitWriter) code(c uint32, n uint) {
	w.write(bits.Reverse32(c)>>(32-n), n)
}

// literal writes a literal/length symbol with its fixed code.
func (w *bitWriter) literal(sym int) {
	switch {
	case sym < 144:
		w.code(uint32(0x30+sym), 8)
	case sym < 256:
		w.code(uint32(0x190+sym-144), 9)
	case sym < 280:
		w.code(uint32(sym-256), 7)
	default:
		w.code(uint32(0xC0+sym-280), 8)
	}
}

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

func (w *bitWriter) length(n int) {
	i := 28
	for lengthBase[i] > n {
		i--
	}
	w.literal(257 + i)
	w.write(uint32(n-lengthBase[i]), lengthExtra[i])
}

func (w *bitWriter) distance(d int) {
	i := 29
	for distBase[i] > d {
		i--
	}
	w.code(uint32(i), 5)
	w.write(uint32(d-distBase[i]), distExtra[i])
}
