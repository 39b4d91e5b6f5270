package bls

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"sync"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// batchVerify checks sum over i of r_i·e(pk_i, H(m_i)) against
// e(G1, sum r_i·sig_i) with fresh random 64-bit coefficients r_i, grouping
// keys that sign the same message so each distinct message is hashed and
// paired once. It is written on herumi's group primitives instead of
// herumi.MultiVerify, which (v1.36.4) skips the tail of batches of 16 to
// 16·NumCPU items and trips Go's checkptr under -race.
func batchVerify(keys []*PublicKey, msgs [][32]byte, sigs []*Signature) bool {
	n := len(keys)
	coeffs := make([]herumi.Fr, n)
	var buf [8]byte
	for i := range coeffs {
		if _, err := rand.Read(buf[:]); err != nil {
			return false
		}
		// Odd, hence non-zero: a zero coefficient would drop an item.
		coeffs[i].SetInt64(int64(binary.LittleEndian.Uint64(buf[:])>>2 | 1))
	}
	sigPts := make([]herumi.G2, n)
	for i, s := range sigs {
		sigPts[i] = *herumi.CastFromSign(&s.v)
	}
	var aggSig herumi.G2
	herumi.G2MulVec(&aggSig, sigPts, coeffs)

	// One G1 point per distinct message: sum of r_i·pk_i over its signers.
	index := make(map[[32]byte]int, n)
	var order [][32]byte
	var keySums []herumi.G1
	for i, k := range keys {
		var p herumi.G1
		herumi.G1Mul(&p, herumi.CastFromPublicKey(&k.v), &coeffs[i])
		j, ok := index[msgs[i]]
		if !ok {
			index[msgs[i]] = len(order)
			order = append(order, msgs[i])
			keySums = append(keySums, p)
			continue
		}
		herumi.G1Add(&keySums[j], &keySums[j], &p)
	}

	// Pairs: (-G1, aggSig) and (keySum_j, H(m_j)) for each distinct message.
	m := len(order) + 1
	xs := make([]herumi.G1, m)
	ys := make([]herumi.G2, m)
	var gen herumi.PublicKey
	herumi.GetGeneratorOfPublicKey(&gen)
	herumi.G1Neg(&xs[0], herumi.CastFromPublicKey(&gen))
	ys[0] = aggSig
	copy(xs[1:], keySums)

	workers := min(runtime.NumCPU(), (m+31)/32)
	if workers < 1 {
		workers = 1
	}
	partial := make([]herumi.GT, workers)
	hashOK := make([]bool, workers)
	var wg sync.WaitGroup
	chunk := (m + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, m)
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			for j := max(lo, 1); j < hi; j++ {
				msg := order[j-1] // a plain array copy handed to C
				if err := ys[j].HashAndMapTo(msg[:]); err != nil {
					return
				}
			}
			herumi.MillerLoopVec(&partial[w], xs[lo:hi], ys[lo:hi])
			hashOK[w] = true
		}(w, lo, hi)
	}
	wg.Wait()
	acc := partial[0]
	for w := 0; w < workers; w++ {
		if !hashOK[w] {
			return false
		}
		if w > 0 {
			herumi.GTMul(&acc, &acc, &partial[w])
		}
	}
	var e herumi.GT
	herumi.FinalExp(&e, &acc)
	return e.IsOne()
}
