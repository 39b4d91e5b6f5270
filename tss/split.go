package tss

import (
	"fmt"
	"io"

	"github.com/rampart-signer/rampart/internal/bls"
)

// Dealing is the output of [Split]: the public account and one share per
// participant, in the account's component order.
type Dealing struct {
	Account Account
	Shares  []*Share
}

// Zero zeroes every share.
func (d *Dealing) Zero() {
	if d == nil {
		return
	}
	for _, s := range d.Shares {
		s.Zero()
	}
}

// Split shares an existing secret key t-of-n among the participants ids (a
// trusted dealer, for importing a legacy key): it draws a random polynomial
// f of degree threshold-1 with f(0) = secret and gives participant i the
// share f(i). The polynomial's coefficients are zeroed before Split
// returns; the caller zeroes secret as soon as Split returns. The ids may be
// given in any order; the result lists them ascending.
func Split(rand io.Reader, secret *bls.SecretKey, threshold int, ids []ID) (*Dealing, error) {
	if secret == nil {
		return nil, fmt.Errorf("%w: no secret key to split", ErrInvalidInput)
	}
	if err := CheckIDs(ids); err != nil {
		return nil, err
	}
	if err := CheckThreshold(threshold, len(ids)); err != nil {
		return nil, err
	}
	ids = sortedIDs(ids)
	coeffs := make([]bls.Scalar, threshold)
	defer zeroScalars(coeffs)
	coeffs[0] = secret.Scalar()
	for k := 1; k < threshold; k++ {
		c, err := bls.RandomScalar(rand)
		if err != nil {
			return nil, fmt.Errorf("tss: drawing polynomial coefficient: %w", err)
		}
		coeffs[k] = c
	}
	d := &Dealing{Account: Account{Composite: secret.PublicKey(), Threshold: threshold}}
	for _, id := range ids {
		v := evaluate(coeffs, id)
		key, err := bls.SecretKeyFromScalar(&v)
		v.Zero()
		if err != nil {
			// f(id) = 0 happens with probability 2^-255; refuse rather
			// than hand out a share that cannot sign.
			d.Zero()
			return nil, fmt.Errorf("tss: share of participant %s is zero; split again", id)
		}
		share, err := NewShare(id, key)
		if err != nil {
			key.Zero()
			d.Zero()
			return nil, err
		}
		d.Shares = append(d.Shares, share)
		d.Account.Components = append(d.Account.Components, Component{ID: id, PublicKey: share.PublicKey()})
	}
	return d, nil
}

func zeroScalars(s []bls.Scalar) {
	for i := range s {
		s[i].Zero()
	}
}
