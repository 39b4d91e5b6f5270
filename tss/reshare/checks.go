package reshare

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss/internal/batch"
)

// Batched verification, as in package dkg: one random linear combination
// over every dealer and validator, drawn after every input is fixed; only
// when it fails are items checked one by one, to name the culprit.

// randomScalars draws n verification coefficients.
func (p *Participant) randomScalars(n int) ([]bls.Scalar, error) {
	r, err := batch.RandomScalars(p.rand, n)
	if err != nil {
		return nil, fmt.Errorf("reshare: drawing verification coefficients: %w", err)
	}
	return r, nil
}

// checkShares verifies the sub-shares addressed to this member from the
// given dealers against their commitments and returns, per dealer, the
// validators whose sub-share does not match.
func (p *Participant) checkShares(dealers []int) (map[int][]uint32, error) {
	bad := map[int][]uint32{}
	if len(dealers) == 0 {
		return bad, nil
	}
	ok, err := p.combinedShareCheck(dealers)
	if err != nil || ok {
		return bad, err
	}
	for _, d := range dealers {
		ok, err := p.combinedShareCheck([]int{d})
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		for v := range p.l.validators {
			if !p.shareMatches(d, v, p.member, &p.received[d].values[v]) {
				bad[d] = append(bad[d], uint32(v))
			}
		}
	}
	return bad, nil
}

// combinedShareCheck checks (sum r_dv·s_dv)·G1 == sum r_dv·x^k·C_dvk over
// the given dealers, every validator and every non-identity coefficient.
func (p *Participant) combinedShareCheck(dealers []int) (bool, error) {
	l := p.l
	count := len(dealers) * l.validators
	r, err := p.randomScalars(count)
	if err != nil {
		return false, err
	}
	pow := p.pow[p.member]
	points := make([]*bls.PublicKey, 0, count*l.t)
	scalars := make([]bls.Scalar, 0, count*l.t)
	var lhs bls.Scalar
	defer lhs.Zero()
	i := 0
	for _, d := range dealers {
		for v := range l.validators {
			term := r[i].Mul(&p.received[d].values[v])
			lhs = lhs.Add(&term)
			term.Zero()
			for k, c := range p.comms[d].coeffs[v] {
				if c == nil {
					continue // a refresh's constant term: the identity
				}
				points = append(points, c)
				scalars = append(scalars, r[i].Mul(&pow[k]))
			}
			i++
		}
	}
	left, err := bls.PublicKeyFromScalar(&lhs)
	if err != nil {
		return false, nil
	}
	right, err := bls.PublicKeyLinearCombination(points, scalars)
	if err != nil {
		return false, nil
	}
	return left.Equal(right), nil
}

// shareMatches reports whether s is dealer d's sub-share for validator v
// at new member m: s·G1 == sum_k x_m^k·C_dvk.
func (p *Participant) shareMatches(d, v, m int, s *bls.Scalar) bool {
	left, err := bls.PublicKeyFromScalar(s)
	if err != nil {
		return false
	}
	var pts []*bls.PublicKey
	var sc []bls.Scalar
	for k, c := range p.comms[d].coeffs[v] {
		if c != nil {
			pts = append(pts, c)
			sc = append(sc, p.pow[m][k])
		}
	}
	right, err := bls.PublicKeyLinearCombination(pts, sc)
	return err == nil && left.Equal(right)
}

// checkOwnShares verifies, with one random linear combination, that this
// member's new shares match its new component keys. Both follow from
// verified data, so a failure is a fault here: the session aborts rather
// than keep a share that cannot sign.
func (p *Participant) checkOwnShares(own []bls.Scalar, out *output) error {
	r, err := p.randomScalars(len(own))
	if err != nil {
		return err
	}
	keys := make([]*bls.PublicKey, len(own))
	for v := range own {
		keys[v] = out.validators[v].Account.Components[p.member].PublicKey
	}
	if !batch.SharesMatchKeys(own, keys, r) {
		return fmt.Errorf("%w: own new shares do not match own new component keys", ErrAborted)
	}
	return nil
}
