package cab

import (
	"encoding/binary"
	"math/bits"
)

const (
	minMatch  = 3
	maxMatch  = 258
	window    = 1 << 15 // farthest a match reaches back: the whole previous block
	hashBits  = 15
	maxChain  = 32  // candidates tried per position: 128 (zlib's level 6) gains 0.8% of size for 40% more time
	lazyMatch = 16  // a match shorter than this is deferred if the next position has a longer one
	niceMatch = 128 // a match this long ends the search
	noPos     = -1
	skipShift = 6 // after 64 positions without a match, look at every other one; after 128, every third...
)

// token is a literal byte (below 256) or a match: flag bit 31, length in bits 16-24, distance
// in bits 0-15 (32768 fits: distances count from 1).
type token uint32

func matchToken(length, dist int) token { return token(1<<31 | length<<16 | dist) }
func (t token) isMatch() bool           { return t&(1<<31) != 0 }
func (t token) length() int             { return int(t>>16) & 0x1FF }
func (t token) dist() int               { return int(t & 0xFFFF) }

// matcher finds LZ77 matches with hash chains, lazily as zlib does. One serves one goroutine;
// it keeps its tables between blocks so a block costs no allocation.
type matcher struct {
	head [1 << hashBits]int32
	prev []int32
	buf  []byte // the dictionary, then the block
	next int    // the first position not yet in the chains
	out  []token
}

// tokens parses data into literals and matches, which may reach back into dict.
func (m *matcher) tokens(dict, data []byte) []token {
	if len(dict) > window {
		dict = dict[len(dict)-window:]
	}
	m.buf = append(append(m.buf[:0], dict...), data...)
	if cap(m.prev) < len(m.buf) {
		m.prev = make([]int32, len(m.buf))
	}
	m.prev = m.prev[:len(m.buf)]
	for i := range m.head {
		m.head[i] = noPos
	}
	m.next, m.out = 0, m.out[:0]
	misses := 0
	for i := len(dict); i < len(m.buf); {
		n, d := m.find(i)
		if n < minMatch {
			// Far from any match (compressed data: a bzImage, an initrd), look ever more rarely.
			step := min(1+misses>>skipShift, len(m.buf)-i)
			for _, b := range m.buf[i : i+step] {
				m.out = append(m.out, token(b))
			}
			misses, i = misses+1, i+step
			if step > 1 {
				m.next = i - 1
			}
			continue
		}
		misses = 0
		// Lazy: while the next position has a longer match, this byte goes as a literal.
		for n < lazyMatch && i+1 < len(m.buf) {
			n2, d2 := m.find(i + 1)
			if n2 <= n {
				break
			}
			m.out = append(m.out, token(m.buf[i]))
			i, n, d = i+1, n2, d2
		}
		m.out = append(m.out, matchToken(n, d))
		i += n
	}
	return m.out
}

func (m *matcher) hash(i int) uint32 {
	v := uint32(m.buf[i]) | uint32(m.buf[i+1])<<8 | uint32(m.buf[i+2])<<16
	return (v * 0x9E3779B1) >> (32 - hashBits)
}

// find gives the longest match for position i among the last maxChain positions of its hash
// chain, after chaining every position before i.
func (m *matcher) find(i int) (length, dist int) {
	m.chainUpTo(i)
	buf, prev := m.buf, m.prev
	if i+minMatch > len(buf) {
		return 0, 0
	}
	cur := buf[i:min(i+maxMatch, len(buf))]
	stop := min(len(cur), niceMatch)
	best, bestDist := minMatch-1, 0
	for cand, chain := m.head[m.hash(i)], 0; cand != noPos && chain < maxChain && i-int(cand) <= window; cand, chain = prev[cand], chain+1 {
		c := int(cand)
		if buf[c+best] != cur[best] {
			continue
		}
		if n := matchLen(buf[c:c+len(cur)], cur); n > best {
			best, bestDist = n, i-c
			if n >= stop {
				break
			}
		}
	}
	if bestDist == 0 {
		return 0, 0
	}
	return best, bestDist
}

// chainUpTo puts every position before i at the head of its hash chain.
func (m *matcher) chainUpTo(i int) {
	buf, prev := m.buf, m.prev
	for p := m.next; p < i && p+minMatch <= len(buf); p++ {
		h := m.hash(p)
		prev[p] = m.head[h]
		m.head[h] = int32(p)
	}
	m.next = max(m.next, i)
}

// matchLen is how many leading bytes a and b (of equal length) share, compared 8 at a time.
func matchLen(a, b []byte) int {
	n := 0
	for ; n+8 <= len(a); n += 8 {
		if x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:]); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
	}
	for ; n < len(a) && a[n] == b[n]; n++ {
	}
	return n
}
