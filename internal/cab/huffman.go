package cab

import (
	"math/bits"
	"slices"
)

// huffCode is a canonical Huffman code (RFC 1951 3.2.2): each symbol's length and its code,
// bit-reversed for deflate's least-significant-bit-first stream.
type huffCode struct {
	lens  []uint8
	codes []uint16
}

// canonical assigns the codes of lens in symbol order, as the decoder does.
func canonical(lens []uint8) huffCode {
	var count, next [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	for b, code := 1, uint16(0); b <= maxCodeBits; b++ {
		code = (code + count[b-1]) << 1
		next[b] = code
	}
	codes := make([]uint16, len(lens))
	for s, l := range lens {
		if l > 0 {
			codes[s] = bits.Reverse16(next[l]) >> (16 - l)
			next[l]++
		}
	}
	return huffCode{lens, codes}
}

// cost is the bits freq takes in code c.
func (c huffCode) cost(freq []uint32) int {
	n := 0
	for s, f := range freq {
		n += int(f) * int(c.lens[s])
	}
	return n
}

const maxCodeBits = 15 // longest literal/length or distance code

// huffmanLengths gives optimal code lengths for freq, none longer than maxBits, and always a
// complete code: at least two symbols get a code (unused ones are given a count of one when fewer
// are used). A decoder built on libmspack (cabextract, many cabinet readers) rejects an
// incomplete table, such as RFC 1951's one-bit code for a single distance, which compress/flate
// writes for a block of zeros; zlib forces two codes the same way.
func huffmanLengths(freq []uint32, maxBits uint8) []uint8 {
	f := slices.Clone(freq)
	used := len(f) - countZero(f)
	for s := 0; used < 2; s++ {
		if f[s] == 0 {
			f[s], used = 1, used+1
		}
	}
	for {
		lens := huffmanTree(f)
		if slices.Max(lens) <= maxBits {
			return lens
		}
		// Flatten the counts until the tree fits: halving (never to zero) converges on equal
		// counts, whose tree is balanced (9 bits for 286 symbols).
		for s := range f {
			if f[s] > 0 {
				f[s] = (f[s] + 1) / 2
			}
		}
	}
}

func countZero(f []uint32) int {
	n := 0
	for _, v := range f {
		if v == 0 {
			n++
		}
	}
	return n
}

// huffmanTree gives each used symbol its depth in a Huffman tree of freq, built with two queues
// over the leaves sorted by count (ties in symbol order, so the result is deterministic).
func huffmanTree(freq []uint32) []uint8 {
	var syms []int
	for s, f := range freq {
		if f > 0 {
			syms = append(syms, s)
		}
	}
	slices.SortStableFunc(syms, func(a, b int) int { return int(freq[a]) - int(freq[b]) })
	n := len(syms)
	weight := make([]uint64, n, 2*n-1)
	for k, s := range syms {
		weight[k] = uint64(freq[s])
	}
	parent := make([]int, 2*n-1)
	leaf, node := 0, n
	pick := func() int {
		if leaf < n && (node == len(weight) || weight[leaf] <= weight[node]) {
			leaf++
			return leaf - 1
		}
		node++
		return node - 1
	}
	for len(weight) < 2*n-1 {
		a, b := pick(), pick()
		parent[a], parent[b] = len(weight), len(weight)
		weight = append(weight, weight[a]+weight[b])
	}
	depth := make([]uint8, 2*n-1)
	for k := 2*n - 3; k >= 0; k-- {
		depth[k] = depth[parent[k]] + 1
	}
	lens := make([]uint8, len(freq))
	for k, s := range syms {
		lens[s] = depth[k]
	}
	return lens
}
