package dkg

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// finishDeal runs when every dealer's commitments and shares are in: it
// checks every proof of possession and every share addressed to this
// participant, and echoes what it saw.
func (p *Participant) finishDeal() (*Message, error) {
	n := p.l.n
	p.commHash = make([][32]byte, n)
	p.popFailure = make([]int, n)
	var dealers []int
	for d := range n {
		p.commHash[d] = hashOf(p.raw[KindCommitments][d])
		p.popFailure[d] = -1
		if d == p.me {
			continue // its own dealing needs no checking
		}
		bad, err := p.checkProofs(d)
		if err != nil {
			return nil, err
		}
		p.popFailure[d] = bad
		if bad < 0 {
			dealers = append(dealers, d)
		}
	}
	badShares, err := p.checkShares(dealers)
	if err != nil {
		return nil, err
	}
	e := &echo{hashes: p.commHash}
	for _, d := range dealers {
		if vs := badShares[d]; len(vs) > 0 {
			e.complaints = append(e.complaints, complaint{dealer: p.l.ids[d], validators: vs})
		}
	}
	p.echoes[p.me] = e
	p.phase = PhaseEcho
	return p.broadcast(KindEcho, appendEcho(nil, e)), nil
}

// finishEcho runs when every echo is in: a dealer whose commitments hash
// differs in any echo showed different commitments to different
// participants; a dealer whose proof failed made a rogue-key contribution.
// Both are disqualified. Then this participant answers every complaint
// against it.
func (p *Participant) finishEcho() (*Message, error) {
	n := p.l.n
	p.disqualified = make([]*Evidence, n)
	for d := range n {
		if v := p.popFailure[d]; v >= 0 {
			p.disqualify(d, EvidenceInvalidProof, p.self, v)
		}
		for k, e := range p.echoes {
			if e.hashes[d] != p.commHash[d] {
				p.disqualify(d, EvidenceEquivocation, p.l.ids[k], -1)
				break
			}
		}
	}
	j := &justification{}
	for k, e := range p.echoes {
		for _, c := range e.complaints {
			if c.dealer != p.self {
				continue
			}
			a := answer{complainer: p.l.ids[k], validators: c.validators}
			for _, v := range c.validators {
				a.shares = append(a.shares, p.dealt[k][v])
			}
			j.answers = append(j.answers, a)
		}
	}
	p.justs[p.me] = j
	p.phase = PhaseJustify
	return p.broadcast(KindJustification, appendJustification(nil, j)), nil
}

// finishJustify runs when every justification is in: every complaint
// against a still qualified dealer must be answered with shares that match
// the dealer's commitments, or the dealer is disqualified. A valid answer
// to this participant's own complaint replaces the bad share. With at least
// threshold qualified dealers it computes the keys and confirms the
// transcript.
func (p *Participant) finishJustify() (*Message, error) {
	for k, e := range p.echoes {
		complainer := p.l.ids[k]
		for _, c := range e.complaints {
			d := p.l.index[c.dealer]
			p.evidence = append(p.evidence, Evidence{Against: c.dealer, Kind: EvidenceBadShare, Reporter: complainer, Validator: int(c.validators[0])})
			if p.disqualified[d] != nil {
				continue
			}
			answered := true
			for _, v := range c.validators {
				s, ok := p.justs[d].share(complainer, v)
				if !ok {
					p.disqualify(d, EvidenceUnanswered, complainer, int(v))
					answered = false
					break
				}
				if !p.shareMatches(d, int(v), k, &s) {
					p.disqualify(d, EvidenceInvalidJustification, complainer, int(v))
					answered = false
					break
				}
			}
			if !answered {
				continue
			}
			p.evidence = append(p.evidence, Evidence{Against: complainer, Kind: EvidenceAnsweredComplaint, Reporter: c.dealer, Validator: int(c.validators[0])})
			if k == p.me {
				for _, v := range c.validators {
					s, _ := p.justs[d].share(complainer, v)
					p.received[d].values[v] = s
				}
			}
		}
	}
	p.qualified = p.qualified[:0]
	for d := range p.l.n {
		if p.disqualified[d] == nil {
			p.qualified = append(p.qualified, d)
		}
	}
	if len(p.qualified) < p.l.t {
		return nil, fmt.Errorf("%w: %w: %d qualified, threshold %d", ErrAborted, ErrNotEnoughQualified, len(p.qualified), p.l.t)
	}
	out, err := p.computeOutput()
	if err != nil {
		return nil, err
	}
	p.out = out
	p.transcript = p.transcriptHash()
	var sum bls.Scalar
	for _, v := range out.validators {
		x := v.Share.Bytes()
		s, err := bls.ScalarFromBytes(x[:])
		clear(x[:])
		if err != nil {
			return nil, fmt.Errorf("%w: own share does not decode: %w", ErrAborted, err)
		}
		sum = sum.Add(&s)
		s.Zero()
	}
	sk, err := bls.SecretKeyFromScalar(&sum)
	sum.Zero()
	if err != nil {
		return nil, fmt.Errorf("%w: the sum of own shares is zero", ErrAborted)
	}
	c := &confirmation{transcript: p.transcript, sig: sk.Sign(confirmMessage(p.ceremony, p.self, p.transcript))}
	sk.Zero()
	p.confs[p.me] = c
	p.phase = PhaseConfirm
	return p.broadcast(KindConfirmation, appendConfirmation(nil, c)), nil
}

// finishConfirm runs when every qualified participant's confirmation is
// in: each must name this participant's transcript and verify under the
// sum of the confirmer's component keys, which proves it holds shares that
// match them.
func (p *Participant) finishConfirm() error {
	for _, q := range p.qualified {
		if q == p.me {
			continue
		}
		c := p.confs[q]
		if c.transcript != p.transcript {
			return fmt.Errorf("%w: %w: participant %s", ErrAborted, ErrTranscriptMismatch, p.l.ids[q])
		}
		if !p.out.sums[q].Verify(confirmMessage(p.ceremony, p.l.ids[q], p.transcript), c.sig) {
			return fmt.Errorf("%w: %w: participant %s", ErrAborted, ErrBadConfirmation, p.l.ids[q])
		}
	}
	r := &Result{CeremonyID: p.ceremony, Transcript: p.transcript, Validators: p.out.validators}
	for _, q := range p.qualified {
		r.Qualified = append(r.Qualified, p.l.ids[q])
	}
	for _, e := range p.disqualified {
		if e != nil {
			r.Disqualified = append(r.Disqualified, *e)
		}
	}
	p.result = r
	p.phase = PhaseDone
	return nil
}

// disqualify excludes dealer d, keeping the first reason.
func (p *Participant) disqualify(d int, kind EvidenceKind, reporter tss.ID, validator int) {
	e := Evidence{Against: p.l.ids[d], Kind: kind, Reporter: reporter, Validator: validator}
	p.evidence = append(p.evidence, e)
	if p.disqualified[d] == nil {
		p.disqualified[d] = &e
	}
}

// computeOutput sums the qualified dealers' commitments per validator into
// the public polynomial, evaluates it at every participant (component keys)
// and at zero (composite key), and sums this participant's shares.
func (p *Participant) computeOutput() (*output, error) {
	l := p.l
	out := &output{sums: make([]*bls.PublicKey, l.n)}
	own := make([]bls.Scalar, l.validators)
	defer zeroScalars(own)
	for v := range l.validators {
		poly := make([]*bls.PublicKey, l.t)
		for k := range l.t {
			poly[k] = p.comms[p.qualified[0]].coeffs[v][k]
			for _, d := range p.qualified[1:] {
				sum, err := poly[k].Add(p.comms[d].coeffs[v][k])
				if err != nil {
					return nil, fmt.Errorf("%w: validator %d: coefficient %d of the joint polynomial is zero", ErrAborted, v, k)
				}
				poly[k] = sum
			}
		}
		acct := tss.Account{Composite: poly[0], Threshold: l.t, Components: make([]tss.Component, l.n)}
		for i, id := range l.ids {
			pk, err := bls.PublicKeyLinearCombination(poly, p.pow[i])
			if err != nil {
				return nil, fmt.Errorf("%w: validator %d: component key of participant %s is infinity", ErrAborted, v, id)
			}
			acct.Components[i] = tss.Component{ID: id, PublicKey: pk}
			if out.sums[i] == nil {
				out.sums[i] = pk
			} else if out.sums[i], err = out.sums[i].Add(pk); err != nil {
				return nil, fmt.Errorf("%w: sum of component keys of participant %s is infinity", ErrAborted, id)
			}
		}
		for _, d := range p.qualified {
			own[v] = own[v].Add(&p.received[d].values[v])
		}
		out.validators = append(out.validators, Validator{Account: acct})
	}
	if err := p.checkOwnShares(own, out); err != nil {
		return nil, err
	}
	for v := range out.validators {
		sk, err := bls.SecretKeyFromScalar(&own[v])
		if err != nil {
			return nil, fmt.Errorf("%w: own share of validator %d is zero", ErrAborted, v)
		}
		share, err := tss.NewShare(p.self, sk)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAborted, err)
		}
		out.validators[v].Share = share
	}
	return out, nil
}

// powers returns, per participant, its id's powers id^0 .. id^(t-1): the
// scalars that evaluate a committed polynomial at that id.
func powers(l layout) [][]bls.Scalar {
	out := make([][]bls.Scalar, l.n)
	for i, id := range l.ids {
		x := bls.ScalarFromUint64(uint64(id))
		out[i] = make([]bls.Scalar, l.t)
		out[i][0] = bls.ScalarFromUint64(1)
		for k := 1; k < l.t; k++ {
			out[i][k] = out[i][k-1].Mul(&x)
		}
	}
	return out
}

// transcriptHash binds everything the qualified participants must agree
// on: the ceremony, the qualified set, each qualified dealer's commitments
// and every participant's echo and justification. Commitments of
// disqualified dealers are left out: an equivocating dealer showed
// different ones to different participants, and agreeing to exclude it is
// all that matters.
func (p *Participant) transcriptHash() [32]byte {
	h := sha256.New()
	h.Write([]byte(tagTranscript))
	h.Write(p.ceremony[:])
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(p.qualified))))
	for _, d := range p.qualified {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(p.l.ids[d])))
		h.Write(p.commHash[d][:])
	}
	for i := range p.l.ids {
		e, j := hashOf(p.raw[KindEcho][i]), hashOf(p.raw[KindJustification][i])
		h.Write(e[:])
		h.Write(j[:])
	}
	var t [32]byte
	h.Sum(t[:0])
	return t
}
