// Package batch holds the random linear combinations with which the DKG
// (tss/dkg) and the resharing (tss/reshare) verify many items in one check.
// The coefficients are drawn after every input is fixed, so a single wrong
// item makes the combination fail except with probability about 2^-255.
package batch

import (
	"io"

	"github.com/rampart-signer/rampart/internal/bls"
)

// RandomScalars draws n verification coefficients from rand. Its error is
// the random source's, unwrapped: callers name their protocol.
func RandomScalars(rand io.Reader, n int) ([]bls.Scalar, error) {
	out := make([]bls.Scalar, n)
	for i := range out {
		s, err := bls.RandomScalar(rand)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// SharesMatchKeys reports whether (sum r_v·own_v)·G1 == sum r_v·keys_v: with
// r drawn by [RandomScalars], whether every secret share own_v belongs to
// the public key keys_v. The secret sum is zeroed before it returns.
func SharesMatchKeys(own []bls.Scalar, keys []*bls.PublicKey, r []bls.Scalar) bool {
	var lhs bls.Scalar
	defer lhs.Zero()
	for v := range own {
		term := r[v].Mul(&own[v])
		lhs = lhs.Add(&term)
		term.Zero()
	}
	left, errL := bls.PublicKeyFromScalar(&lhs)
	right, errR := bls.PublicKeyLinearCombination(keys, r)
	return errL == nil && errR == nil && left.Equal(right)
}
