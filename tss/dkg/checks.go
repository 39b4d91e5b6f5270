package dkg

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss/internal/batch"
)

// Batched verification. Checking each of a dealer's proofs with its own
// pairing, and each received share with its own Feldman evaluation, is too
// slow for a thousand validators. Instead this participant draws random
// coefficients after every input is fixed and checks one random linear
// combination: if any single item is wrong, the combination fails except
// with probability about 2^-255. Only when it fails are items checked one by
// one, to name the culprit.

// randomScalars draws n verification coefficients.
func (p *Participant) randomScalars(n int) ([]bls.Scalar, error) {
	r, err := batch.RandomScalars(p.rand, n)
	if err != nil {
		return nil, fmt.Errorf("dkg: drawing verification coefficients: %w", err)
	}
	return r, nil
}

// checkProofs verifies every proof of possession of dealer d and returns
// the first validator whose proof is invalid, or -1. All of a dealer's
// proofs sign one message m, so sum(r_v·pop_v) must verify under
// sum(r_v·C_v0): one pairing check for the whole dealer.
func (p *Participant) checkProofs(d int) (int, error) {
	c := p.comms[d]
	m := popMessage(p.ceremony, p.l.ids[d], p.l, p.raw[KindCommitments][d][headerLen:])
	r, err := p.randomScalars(p.l.validators)
	if err != nil {
		return 0, err
	}
	keys := make([]*bls.PublicKey, p.l.validators)
	for v := range keys {
		keys[v] = c.coeffs[v][0]
	}
	aggKey, errK := bls.PublicKeyLinearCombination(keys, r)
	aggSig, errS := bls.SignatureLinearCombination(c.pops, r)
	if errK == nil && errS == nil && aggKey.Verify(m, aggSig) {
		return -1, nil
	}
	for v := range keys {
		if !keys[v].Verify(m, c.pops[v]) {
			return v, nil
		}
	}
	// Every proof verifies; the combination hit infinity by chance.
	return -1, nil
}

// checkShares verifies the shares addressed to this participant from the
// given dealers against their commitments and returns, per dealer, the
// validators whose share does not match. One check covers all dealers and
// validators:
//
//	(sum r_dv·s_dv)·G1 == sum over d, v, k of (r_dv·x^k)·C_dvk
//
// where x is this participant's id. On failure each dealer is checked the
// same way alone, and a failing dealer's shares one by one.
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
			if !p.shareMatches(d, v, p.me, &p.received[d].values[v]) {
				bad[d] = append(bad[d], uint32(v))
			}
		}
	}
	return bad, nil
}

func (p *Participant) combinedShareCheck(dealers []int) (bool, error) {
	l := p.l
	count := len(dealers) * l.validators
	r, err := p.randomScalars(count)
	if err != nil {
		return false, err
	}
	pow := p.pow[p.me]
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
			for k := range l.t {
				points = append(points, p.comms[d].coeffs[v][k])
				scalars = append(scalars, r[i].Mul(&pow[k]))
			}
			i++
		}
	}
	left, err := bls.PublicKeyFromScalar(&lhs)
	if err != nil {
		return false, nil // zero: cannot match a non-trivial combination
	}
	right, err := bls.PublicKeyLinearCombination(points, scalars)
	if err != nil {
		return false, nil
	}
	return left.Equal(right), nil
}

// shareMatches reports whether s is dealer d's share for validator v at
// participant index at: s·G1 == sum_k at^k·C_dvk.
func (p *Participant) shareMatches(d, v, at int, s *bls.Scalar) bool {
	left, err := bls.PublicKeyFromScalar(s)
	if err != nil {
		return false
	}
	right, err := bls.PublicKeyLinearCombination(p.comms[d].coeffs[v], p.pow[at])
	return err == nil && left.Equal(right)
}

// checkOwnShares verifies, with one random linear combination, that this
// participant's summed shares match the component keys computed from the
// commitments. Both follow from verified data, so a failure is a fault in
// this participant: the ceremony aborts rather than keep a share that
// cannot sign.
func (p *Participant) checkOwnShares(own []bls.Scalar, out *output) error {
	r, err := p.randomScalars(len(own))
	if err != nil {
		return err
	}
	keys := make([]*bls.PublicKey, len(own))
	for v := range own {
		keys[v] = out.validators[v].Account.Components[p.me].PublicKey
	}
	if !batch.SharesMatchKeys(own, keys, r) {
		return fmt.Errorf("%w: own shares do not match own component keys", ErrAborted)
	}
	return nil
}
