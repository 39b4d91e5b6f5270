package signing_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// A deliberately naive SSZ hash-tree-root, written from the SSZ
// specification (simple-serialize.md, "Merkleization") and sharing no code
// with package signing or go-eth2-client, so that it can prove a published
// root wrong independently.

type chunk = [32]byte

func hashPair(a, b chunk) chunk {
	return sha256.Sum256(append(a[:], b[:]...))
}

// merkleize pads chunks with zero chunks to the next power of two of
// max(len(chunks), limit) and hashes pairwise up to the root.
func merkleize(chunks []chunk, limit int) chunk {
	n := max(len(chunks), limit, 1)
	width := 1 << bits.Len(uint(n-1))
	layer := make([]chunk, width)
	copy(layer, chunks)
	for len(layer) > 1 {
		next := make([]chunk, len(layer)/2)
		for i := range next {
			next[i] = hashPair(layer[2*i], layer[2*i+1])
		}
		layer = next
	}
	return layer[0]
}

func mixInLength(root chunk, n uint64) chunk {
	var l chunk
	binary.LittleEndian.PutUint64(l[:8], n)
	return hashPair(root, l)
}

func uint64Chunk(v uint64) chunk {
	var c chunk
	binary.LittleEndian.PutUint64(c[:8], v)
	return c
}

// pack splits bytes into zero-padded chunks.
func pack(b []byte) []chunk {
	out := make([]chunk, (len(b)+31)/32)
	for i := range out {
		copy(out[i][:], b[32*i:])
	}
	return out
}

// bytesRoot is the root of a fixed-size byte vector.
func bytesRoot(b []byte) chunk { return merkleize(pack(b), (len(b)+31)/32) }

// bitlistRoot is the root of an SSZ bitlist (with its length bit) whose
// limit is maxBits.
func bitlistRoot(list []byte, maxBits int) chunk {
	last := list[len(list)-1]
	length := 8*(len(list)-1) + bits.Len8(last) - 1
	data := append([]byte(nil), list...)
	data[len(data)-1] &^= 1 << (bits.Len8(last) - 1)
	data = data[:(length+7)/8]
	return mixInLength(merkleize(pack(data), (maxBits+255)/256), uint64(length))
}

func container(fields ...chunk) chunk { return merkleize(fields, len(fields)) }

// domainOf is compute_domain written out.
func domainOf(domainType [4]byte, version [4]byte, gvr chunk) chunk {
	var v chunk
	copy(v[:], version[:])
	forkDataRoot := container(v, gvr)
	var d chunk
	copy(d[:4], domainType[:])
	copy(d[4:], forkDataRoot[:28])
	return d
}

// signingRootOf is compute_signing_root written out.
func signingRootOf(object, domain chunk) chunk { return container(object, domain) }
