package tss

import (
	"encoding/hex"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// TestVectorPolynomial checks the share evaluation against the distributed
// profile's vector polynomial f(x) = 1 + 2x: shares 3, 5, 7 at ids 1, 2, 3.
func TestVectorPolynomial(t *testing.T) {
	coeffs := []bls.Scalar{bls.ScalarFromUint64(1), bls.ScalarFromUint64(2)}
	for id, want := range map[ID]uint64{1: 3, 2: 5, 3: 7} {
		got := evaluate(coeffs, id)
		w := bls.ScalarFromUint64(want)
		if !got.Equal(&w) {
			b := got.Bytes()
			t.Errorf("f(%d) = %s, want %d", id, hex.EncodeToString(b[:]), want)
		}
	}
}

// TestLagrangeAtZeroInterpolatesConstant checks that the coefficients sum
// to one (they interpolate the constant polynomial 1) and reproduce f(0)
// from shares of a degree-2 polynomial.
func TestLagrangeAtZeroInterpolatesConstant(t *testing.T) {
	coeffs := []bls.Scalar{bls.ScalarFromUint64(42), bls.ScalarFromUint64(7), bls.ScalarFromUint64(9)}
	for _, ids := range [][]ID{{1, 2, 3}, {2, 4, 5}, {1, 7, ^ID(0)}} {
		lambdas, err := lagrangeAtZero(ids)
		if err != nil {
			t.Fatal(err)
		}
		var sum, rec bls.Scalar
		for i, l := range lambdas {
			sum = sum.Add(&l)
			y := evaluate(coeffs, ids[i])
			term := l.Mul(&y)
			rec = rec.Add(&term)
		}
		one := bls.ScalarFromUint64(1)
		if !sum.Equal(&one) {
			t.Errorf("ids %v: coefficients do not sum to one", ids)
		}
		if !rec.Equal(&coeffs[0]) {
			t.Errorf("ids %v: interpolation does not recover f(0)", ids)
		}
	}
	if _, err := lagrangeAtZero([]ID{3, 3}); err == nil {
		t.Error("duplicate ids accepted")
	}
}
