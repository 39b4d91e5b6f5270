package tss

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
)

// lagrangeAt returns the Lagrange basis coefficients that interpolate, at
// x, the polynomial through points whose x-coordinates are ids:
//
//	lambda_i(x) = product over j != i of (x - x_j) / (x_i - x_j)
//
// At x = 0 this is the distributed profile's recovery coefficient. The ids
// must be distinct and non-zero (checked by the callers). The coefficients
// are public: they depend on ids only.
func lagrangeAt(ids []ID, x bls.Scalar) ([]bls.Scalar, error) {
	xs := make([]bls.Scalar, len(ids))
	for i, id := range ids {
		xs[i] = id.scalar()
	}
	out := make([]bls.Scalar, len(ids))
	for i := range xs {
		num, den := bls.ScalarFromUint64(1), bls.ScalarFromUint64(1)
		for j := range xs {
			if j == i {
				continue
			}
			a := x.Sub(&xs[j])
			num = num.Mul(&a)
			b := xs[i].Sub(&xs[j])
			den = den.Mul(&b)
		}
		inv, err := den.Inverse()
		if err != nil {
			// Only equal ids give a zero denominator.
			return nil, fmt.Errorf("%w: participant %s appears twice", ErrDuplicateID, ids[i])
		}
		out[i] = num.Mul(&inv)
	}
	return out, nil
}

// lagrangeAtZero is lagrangeAt(ids, 0).
func lagrangeAtZero(ids []ID) ([]bls.Scalar, error) {
	return lagrangeAt(ids, bls.Scalar{})
}

// evaluate returns f(x) for f with the given coefficients (constant term
// first), by Horner's rule.
func evaluate(coeffs []bls.Scalar, x ID) bls.Scalar {
	xs := x.scalar()
	var acc bls.Scalar
	for k := len(coeffs) - 1; k >= 0; k-- {
		acc = acc.Mul(&xs)
		acc = acc.Add(&coeffs[k])
	}
	return acc
}

// interpolateKeys returns, at x, the G1 polynomial through the given
// component keys.
func interpolateKeys(components []Component, x bls.Scalar) (*bls.PublicKey, error) {
	ids := make([]ID, len(components))
	keys := make([]*bls.PublicKey, len(components))
	for i, c := range components {
		ids[i], keys[i] = c.ID, c.PublicKey
	}
	lambdas, err := lagrangeAt(ids, x)
	if err != nil {
		return nil, err
	}
	return bls.PublicKeyLinearCombination(keys, lambdas)
}
