package bls

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"sync"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// batchVerify is BatchVerify's implementation, built from herumi's group
// and pairing primitives rather than its MultiVerify, which has two bugs in
// bls-eth-go-binary v1.36.4 (bls/eth.go):
//
//   - its work split skips every item after the first 16·(n/16) when
//     16 <= n < 16·NumCPU, so an invalid signature there is accepted;
//   - it keeps Go pointers in uintptr variables and converts them back,
//     which is invalid under the Go pointer rules and aborts any program
//     built with -race (checkptr) on its first call.
//
// It checks, with random non-zero 63-bit coefficients r_i drawn after the
// inputs are fixed,
//
//	e(-G1, sum r_i·sig_i) · prod e(r_i·pk_i, H(m_i)) == 1
//
// which holds for all valid triples and fails, except with probability
// about 2^-63, if any triple is invalid. The Miller loops, the costly part,
// run in parallel over the CPUs; one final exponentiation ends the check.
func batchVerify(keys []*PublicKey, msgs [][32]byte, sigs []*Signature) bool {
	n := len(keys)
	rnd := make([]byte, 8*n)
	if _, err := rand.Read(rnd); err != nil {
		return false
	}
	frs := make([]herumi.Fr, n)
	g2 := make([]herumi.G2, n)
	for i := range n {
		r := int64(binary.LittleEndian.Uint64(rnd[8*i:]) >> 1) // 63 random bits
		if r == 0 {
			r = 1
		}
		frs[i].SetInt64(r)
		g2[i] = *herumi.CastFromSign(&sigs[i].v)
	}
	var agg herumi.G2
	herumi.G2MulVec(&agg, g2, frs)

	// Slot 0 pairs -G1 with the combined signature; slot i+1 pairs
	// r_i·pk_i with H(m_i).
	xs := make([]herumi.G1, n+1)
	ys := make([]herumi.G2, n+1)
	var gen herumi.PublicKey
	herumi.GetGeneratorOfPublicKey(&gen)
	herumi.G1Neg(&xs[0], herumi.CastFromPublicKey(&gen))
	ys[0] = agg

	workers := min(runtime.NumCPU(), (n+15)/16)
	partial := make([]herumi.GT, workers)
	ok := make([]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*(n+1)/workers, (w+1)*(n+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := max(lo, 1); j < hi; j++ {
				i := j - 1
				herumi.G1Mul(&xs[j], herumi.CastFromPublicKey(&keys[i].v), &frs[i])
				m := msgs[i]
				h := herumi.HashAndMapToSignature(m[:])
				if h == nil {
					return
				}
				ys[j] = *herumi.CastFromSign(h)
			}
			herumi.MillerLoopVec(&partial[w], xs[lo:hi], ys[lo:hi])
			ok[w] = true
		}()
	}
	wg.Wait()
	var e herumi.GT
	e.SetInt64(1)
	for w := range workers {
		if !ok[w] {
			return false
		}
		herumi.GTMul(&e, &e, &partial[w])
	}
	herumi.FinalExp(&e, &e)
	return e.IsOne()
}
