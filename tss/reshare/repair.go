package reshare

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Share repair (ModeRepair). The helpers run the deal, echo and justify
// rounds over masking polynomials that are zero at the repaired index r;
// then each qualified helper j sends r, privately, its share masked by the
// qualified helpers' sub-shares: m_j = s_j + sum_{d in Q} delta_d(j). The
// m_j lie on f + sum delta_d, which equals f at r, so r interpolates them
// at r; with one honest qualified helper the mask is uniformly random
// among polynomials zero at r, and the m_j reveal nothing but f(r). No
// other member's share changes.

// finishJustifyRepair runs once the qualified helpers are known: a
// qualified helper sends its masked shares to the repaired member and is
// done; the repaired member waits for them.
func (p *Participant) finishJustifyRepair() (*Message, error) {
	p.transcript = p.transcriptHash()
	p.out = &output{}
	for v := range p.l.validators {
		p.out.validators = append(p.out.validators, dkg.Validator{Account: p.cfg.Accounts[v]})
	}
	p.configuration = p.configurationHash()
	if p.self == p.l.repaired {
		p.phase = dkg.PhaseConfirm
		return nil, nil
	}
	var msg *Message
	if p.member >= 0 && p.disqualified[p.dealer] == nil {
		values := make([]bls.Scalar, p.l.validators)
		defer zeroScalars(values)
		for v := range values {
			values[v] = p.old[v]
			for _, d := range p.qualified {
				values[v] = values[v].Add(&p.received[d].values[v])
			}
		}
		b := appendHeader(nil, header{kind: KindConfirmation, session: p.session, from: p.self, to: p.l.repaired})
		b = append(b, p.transcript[:]...)
		b = appendShares(b, values)
		msg = &Message{To: p.l.repaired, Kind: KindConfirmation, Bytes: b}
	}
	p.finish()
	return msg, nil
}

// finishRepair runs at the repaired member when every qualified helper's
// masked shares are in: each helper's must name this member's transcript
// and match the public data, m_j·G1 = S_j + sum_{d in Q} sum_k j^k·C_dk;
// with at least the threshold of valid ones, their interpolation at r is
// the repaired share, which must match r's component key.
func (p *Participant) finishRepair() error {
	var valid []int
	for _, d := range p.qualified {
		id := p.l.dealers[d]
		m := p.masked[d]
		if m.transcript != p.transcript {
			return fmt.Errorf("%w: %w: helper %s", ErrAborted, ErrTranscriptMismatch, id)
		}
		ok, err := p.maskedMatches(d)
		if err != nil {
			return err
		}
		if !ok {
			p.evidence = append(p.evidence, Evidence{Against: id, Kind: EvidenceBadMaskedShare, Reporter: p.self, Validator: -1})
			continue
		}
		valid = append(valid, d)
	}
	if len(valid) < p.l.t {
		return fmt.Errorf("%w: %w: %d helpers sent valid masked shares, threshold %d", ErrAborted, ErrNotEnoughQualified, len(valid), p.l.t)
	}
	ids := make([]tss.ID, len(valid))
	for i, d := range valid {
		ids[i] = p.l.dealers[d]
	}
	lambdas, err := lagrangeAt(ids, bls.ScalarFromUint64(uint64(p.l.repaired)))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAborted, err)
	}
	for v := range p.l.validators {
		var s bls.Scalar
		for i, d := range valid {
			term := lambdas[i].Mul(&p.masked[d].values[v])
			s = s.Add(&term)
			term.Zero()
		}
		sk, err := bls.SecretKeyFromScalar(&s)
		s.Zero()
		if err != nil {
			return fmt.Errorf("%w: %w: validator %d: the repaired share is zero", ErrAborted, ErrKeyChanged, v)
		}
		want, _ := p.cfg.Accounts[v].PublicKey(p.self)
		if !sk.PublicKey().Equal(want) {
			sk.Zero()
			return fmt.Errorf("%w: %w: validator %d: the repaired share does not match this member's component key", ErrAborted, ErrKeyChanged, v)
		}
		share, err := tss.NewShare(p.self, sk)
		if err != nil {
			sk.Zero()
			return fmt.Errorf("%w: %w", ErrAborted, err)
		}
		p.out.validators[v].Share = share
	}
	p.finish()
	return nil
}

// maskedMatches checks helper d's masked shares against the public data,
// all validators in one random linear combination.
func (p *Participant) maskedMatches(d int) (bool, error) {
	l := p.l
	id := l.dealers[d]
	pow := powersOf(id, l.t)
	r, err := p.randomScalars(l.validators)
	if err != nil {
		return false, err
	}
	var lhs bls.Scalar
	defer lhs.Zero()
	var points []*bls.PublicKey
	var scalars []bls.Scalar
	for v := range l.validators {
		term := r[v].Mul(&p.masked[d].values[v])
		lhs = lhs.Add(&term)
		term.Zero()
		s, _ := p.cfg.Accounts[v].PublicKey(id)
		points = append(points, s)
		scalars = append(scalars, r[v])
		for _, q := range p.qualified {
			for k, c := range p.comms[q].coeffs[v] {
				points = append(points, c)
				scalars = append(scalars, r[v].Mul(&pow[k]))
			}
		}
	}
	left, errL := bls.PublicKeyFromScalar(&lhs)
	right, errR := bls.PublicKeyLinearCombination(points, scalars)
	return errL == nil && errR == nil && left.Equal(right), nil
}

// finish ends the session at this member with the result of p.out.
func (p *Participant) finish() {
	r := &Result{SessionID: p.session, Transcript: p.transcript, Configuration: p.configuration, Validators: p.out.validators}
	for _, d := range p.qualified {
		r.Qualified = append(r.Qualified, p.l.dealers[d])
	}
	for _, e := range p.disqualified {
		if e != nil {
			r.Disqualified = append(r.Disqualified, *e)
		}
	}
	p.result = r
	p.phase = dkg.PhaseDone
}
