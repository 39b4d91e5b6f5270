package bls

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"

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
//	e(-G1, sum r_i·sig_i) · prod over distinct messages m of e(sum over i with m_i = m of r_i·pk_i, H(m)) == 1
//
// which holds for all valid triples and fails, except with probability
// about 2^-63, if any triple is invalid. Grouping by message is exact
// (bilinearity) and pays off for a slot's attestations, where whole
// committees sign one root: one hash to G2 and one Miller loop per distinct
// root instead of per item. The per-item multiplications, the hashes and
// the Miller loops run in parallel over the CPUs; one final exponentiation
// ends the check.
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

	weighted := make([]herumi.G1, n)
	_ = forEach(n, func(i int) error {
		herumi.G1Mul(&weighted[i], herumi.CastFromPublicKey(&keys[i].v), &frs[i])
		return nil
	})
	return pairingCheck(agg, weighted, msgs)
}

// pairingCheck reports whether
//
//	e(-G1, sig) · prod over i of e(keys[i], H(msgs[i])) == 1,
//
// the check of the specification's CoreAggregateVerify. Keys of one message
// are added first (exact, by bilinearity): one hash to G2 and one Miller
// loop per distinct message. A pair with a point at infinity contributes
// 1 and is left out, so the infinity signature, or keys of one message that
// sum to infinity, are handled as the specification's arithmetic handles
// them, whatever herumi's Miller loop does with infinity. The hashes and
// the Miller loops run in parallel over the CPUs; one final exponentiation
// ends the check.
func pairingCheck(sig herumi.G2, keys []herumi.G1, msgs [][32]byte) bool {
	// Slot 0 pairs -G1 with the signature; slot g+1 pairs the summed keys
	// of message group g with its hash.
	index := map[[32]byte]int{}
	var roots [][32]byte
	xs := []herumi.G1{{}}
	for i, m := range msgs {
		g, seen := index[m]
		if !seen {
			g = len(roots)
			index[m] = g
			roots = append(roots, m)
			xs = append(xs, keys[i])
			continue
		}
		herumi.G1Add(&xs[g+1], &xs[g+1], &keys[i])
	}
	var gen herumi.PublicKey
	herumi.GetGeneratorOfPublicKey(&gen)
	herumi.G1Neg(&xs[0], herumi.CastFromPublicKey(&gen))
	// Drop the pairs that contribute 1 and keep each group's root beside
	// its key sum.
	type slot struct {
		x    herumi.G1
		root [32]byte
		sig  bool
	}
	var slots []slot
	if !sig.IsZero() {
		slots = append(slots, slot{x: xs[0], sig: true})
	}
	for g, r := range roots {
		if !xs[g+1].IsZero() {
			slots = append(slots, slot{x: xs[g+1], root: r})
		}
	}
	if len(slots) == 0 {
		return true
	}
	xv := make([]herumi.G1, len(slots))
	yv := make([]herumi.G2, len(slots))
	workers := min(runtime.NumCPU(), (len(slots)+15)/16)
	partial := make([]herumi.GT, workers)
	ok := make([]bool, workers)
	inChunks(len(slots), workers, func(w, lo, hi int) {
		for j := lo; j < hi; j++ {
			xv[j] = slots[j].x
			if slots[j].sig {
				yv[j] = sig
				continue
			}
			m := slots[j].root
			h := herumi.HashAndMapToSignature(m[:])
			if h == nil {
				return
			}
			yv[j] = *herumi.CastFromSign(h)
		}
		herumi.MillerLoopVec(&partial[w], xv[lo:hi], yv[lo:hi])
		ok[w] = true
	})
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
