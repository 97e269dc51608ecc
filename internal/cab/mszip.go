package cab

import (
	"encoding/binary"
	"math/bits"
)

// deflateBlock appends data (at most 32 KiB) deflated as one final deflate block, whose matches
// may reach back into dict (the previous block of the folder, as MSZIP allows): dynamic Huffman
// codes, the fixed codes, or stored, whichever is smallest.
//
// Why not compress/flate: for a block with at most one distance in use (zeros, fill patterns)
// Go writes a dynamic block whose distance code is a single 1-bit code. RFC 1951 allows that
// incomplete code, and zlib's inflate accepts it, but libmspack (cabextract, and the cabinet
// readers built on it) rejects any incomplete Huffman table, so such a cabinet fails to extract.
// Our codes are always complete (huffmanLengths), as zlib's are. Our own encoder also keeps a
// cabinet's bytes fixed across Go releases, which a reproducible build needs.
func deflateBlock(dst, dict, data []byte, m *matcher) []byte {
	tokens := m.tokens(dict, data)
	var litFreq [numLitLen]uint32
	var distFreq [numDist]uint32
	extra := 0
	for _, t := range tokens {
		if !t.isMatch() {
			litFreq[t]++
			continue
		}
		lc, dc := int(lengthCode[t.length()-minMatch]), distCode(t.dist())
		litFreq[257+lc]++
		distFreq[dc]++
		extra += int(lengthExtra[lc] + distExtra[dc])
	}
	litFreq[endOfBlock] = 1
	dyn := newDynamicHeader(litFreq[:], distFreq[:])
	dynBits := dyn.bits + dyn.lit.cost(litFreq[:]) + dyn.dist.cost(distFreq[:])
	fixedBits := 3 + fixedLit.cost(litFreq[:]) + fixedDist.cost(distFreq[:])
	if 8*(len(data)+5) <= min(dynBits, fixedBits)+extra {
		// Stored: BFINAL=1, BTYPE=00, aligned, LEN, NLEN, the bytes.
		n := uint16(len(data))
		out := append(dst, 0x01, byte(n), byte(n>>8), byte(^n), byte(^n>>8))
		return append(out, data...)
	}
	w := bitWriter{out: dst}
	lit, dist := fixedLit, fixedDist
	if dynBits < fixedBits {
		dyn.write(&w)
		lit, dist = dyn.lit, dyn.dist
	} else {
		w.write(0b011, 3) // BFINAL=1, BTYPE=01 (fixed Huffman)
	}
	w.tokens(tokens, lit, dist)
	w.flush()
	return w.out
}

const (
	numLitLen  = 286 // literal/length symbols a block may use (RFC 1951 3.2.5)
	numDist    = 30
	endOfBlock = 256
)

// The fixed codes of RFC 1951 3.2.6: they are the canonical codes of these lengths, over all
// 288 literal/length symbols (286 and 287, never used, still take two of the 8-bit codes).
var fixedLit, fixedDist = func() (huffCode, huffCode) {
	lit := make([]uint8, 288)
	for s := range lit {
		switch {
		case s < 144, s >= 280:
			lit[s] = 8
		case s < 256:
			lit[s] = 9
		default:
			lit[s] = 7
		}
	}
	dist := make([]uint8, numDist)
	for s := range dist {
		dist[s] = 5
	}
	return canonical(lit), canonical(dist)
}()

// dynamicHeader is a dynamic block's codes and the header that describes them (RFC 1951 3.2.7).
type dynamicHeader struct {
	lit, dist   huffCode
	nlit, ndist int      // literal/length and distance lengths sent
	runs        []clSym  // those lengths in the code-length alphabet
	cl          huffCode // the code-length code
	ncl         int      // code-length code lengths sent, in clOrder
	bits        int      // header size, the 3 block-type bits included
}

// clSym is a code-length symbol: 0-15 a length, 16 repeats the previous 3-6 times, 17 and 18
// give 3-10 and 11-138 zeros; extra is the value of its extra bits.
type clSym struct{ sym, extra uint8 }

var (
	clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
	clExtra = [19]uint8{16: 2, 17: 3, 18: 7}
)

func newDynamicHeader(litFreq, distFreq []uint32) dynamicHeader {
	var h dynamicHeader
	h.lit = canonical(huffmanLengths(litFreq, maxCodeBits))
	h.dist = canonical(huffmanLengths(distFreq, maxCodeBits))
	h.nlit = max(257, lastNonZero(h.lit.lens)+1)
	h.ndist = max(1, lastNonZero(h.dist.lens)+1)
	h.runs = codeLengthRuns(append(append([]uint8(nil), h.lit.lens[:h.nlit]...), h.dist.lens[:h.ndist]...))
	var clFreq [19]uint32
	for _, r := range h.runs {
		clFreq[r.sym]++
	}
	h.cl = canonical(huffmanLengths(clFreq[:], 7))
	h.ncl = 4
	for i, s := range clOrder {
		if h.cl.lens[s] > 0 {
			h.ncl = max(h.ncl, i+1)
		}
	}
	h.bits = 3 + 5 + 5 + 4 + 3*h.ncl
	for _, r := range h.runs {
		h.bits += int(h.cl.lens[r.sym] + clExtra[r.sym])
	}
	return h
}

func (h *dynamicHeader) write(w *bitWriter) {
	w.write(0b101, 3) // BFINAL=1, BTYPE=10 (dynamic Huffman)
	w.write(uint32(h.nlit-257), 5)
	w.write(uint32(h.ndist-1), 5)
	w.write(uint32(h.ncl-4), 4)
	for _, s := range clOrder[:h.ncl] {
		w.write(uint32(h.cl.lens[s]), 3)
	}
	for _, r := range h.runs {
		w.write(uint32(h.cl.codes[r.sym]), uint(h.cl.lens[r.sym]))
		w.write(uint32(r.extra), uint(clExtra[r.sym]))
	}
}

func lastNonZero(lens []uint8) int {
	for i := len(lens) - 1; i >= 0; i-- {
		if lens[i] != 0 {
			return i
		}
	}
	return -1
}

// codeLengthRuns writes lens in the code-length alphabet, runs of zeros and repeats shortened.
func codeLengthRuns(lens []uint8) []clSym {
	var out []clSym
	for i := 0; i < len(lens); {
		l, run := lens[i], 1
		for i+run < len(lens) && lens[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for ; run >= 11; run -= min(run, 138) {
				out = append(out, clSym{18, uint8(min(run, 138) - 11)})
			}
			if run >= 3 {
				out, run = append(out, clSym{17, uint8(run - 3)}), 0
			}
		} else {
			out, run = append(out, clSym{l, 0}), run-1
			for ; run >= 3; run -= min(run, 6) {
				out = append(out, clSym{16, uint8(min(run, 6) - 3)})
			}
		}
		for ; run > 0; run-- {
			out = append(out, clSym{l, 0})
		}
	}
	return out
}

// bitWriter writes deflate's LSB-first bit stream.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

// write appends the n (at most 16) low bits of v, a 32-bit word at a time.
func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.nbits
	w.nbits += n
	if w.nbits >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.nbits -= 32
	}
}

// flush writes the bits left, the last byte padded with zeros.
func (w *bitWriter) flush() {
	for ; w.nbits > 0; w.nbits -= min(w.nbits, 8) {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
	}
	w.acc = 0
}

// tokens writes the block's symbols and the end of block in the codes given.
func (w *bitWriter) tokens(tokens []token, lit, dist huffCode) {
	for _, t := range tokens {
		if !t.isMatch() {
			w.write(uint32(lit.codes[t]), uint(lit.lens[t]))
			continue
		}
		n, d := t.length(), t.dist()
		lc, dc := int(lengthCode[n-minMatch]), distCode(d)
		w.write(uint32(lit.codes[257+lc]), uint(lit.lens[257+lc]))
		w.write(uint32(n-lengthBase[lc]), uint(lengthExtra[lc]))
		w.write(uint32(dist.codes[dc]), uint(dist.lens[dc]))
		w.write(uint32(d-distBase[dc]), uint(distExtra[dc]))
	}
	w.write(uint32(lit.codes[endOfBlock]), uint(lit.lens[endOfBlock]))
}

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	// lengthCode is the length code (symbol - 257) of each match length less minMatch.
	lengthCode = func() (c [maxMatch - minMatch + 1]uint8) {
		code := 0
		for n := minMatch; n <= maxMatch; n++ {
			for code < 28 && lengthBase[code+1] <= n {
				code++
			}
			c[n-minMatch] = uint8(code)
		}
		return c
	}()
)

// distCode is the distance code of d (1 to 32768): codes 0-3 are the distances 1-4, then each
// power of two is split in two codes.
func distCode(d int) int {
	if d <= 4 {
		return d - 1
	}
	nb := bits.Len32(uint32(d-1)) - 1
	return 2*nb + int((d-1)>>(nb-1)&1)
}
