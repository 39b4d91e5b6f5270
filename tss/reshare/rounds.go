package reshare

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// finishDeal runs when every dealer's commitments (and, at a new member,
// sub-shares) are in: it checks every dealer's constant terms against the
// current configuration and, at a new member, every sub-share addressed to
// it, and echoes what it saw.
func (p *Participant) finishDeal() (*Message, error) {
	nd := len(p.l.dealers)
	p.commHash = make([][32]byte, nd)
	p.constFailure = make([]int, nd)
	var dealers []int
	for d, id := range p.l.dealers {
		p.commHash[d] = hashOf(p.raw[KindCommitments][p.l.at[id]])
		p.constFailure[d] = p.checkConstants(d)
		if p.constFailure[d] < 0 && d != p.dealer {
			dealers = append(dealers, d)
		}
	}
	p.phase = dkg.PhaseEcho
	if p.member < 0 {
		return nil, nil
	}
	badShares, err := p.checkShares(dealers)
	if err != nil {
		p.phase = dkg.PhaseDeal
		return nil, err
	}
	e := &echo{hashes: p.commHash}
	for _, d := range dealers {
		if vs := badShares[d]; len(vs) > 0 {
			e.complaints = append(e.complaints, complaint{dealer: p.l.dealers[d], validators: vs})
		}
	}
	p.echoes[p.member] = e
	return p.broadcast(KindEcho, appendEcho(nil, e)), nil
}

// checkConstants returns the first validator whose commitment's constant
// term is not what dealer d must sub-share, or -1. In a redistribution it
// must be the dealer's public share (component key) in the current
// configuration: a dealer cannot sub-share anything but its share. In a
// refresh it is the identity, which parsing already checked.
func (p *Participant) checkConstants(d int) int {
	return p.wrongConstant(p.l.dealers[d], p.comms[d])
}

// wrongConstant returns the first validator whose constant term in
// dealer's commitments c is not dealer's public share, or -1.
func (p *Participant) wrongConstant(dealer tss.ID, c *commitments) int {
	switch p.l.mode {
	case ModeRefresh:
		return -1
	case ModeRepair:
		// The masking polynomial must be zero at the repaired index:
		// sum_k r^k·C_k is the identity.
		for v := range p.l.validators {
			if _, err := bls.PublicKeyLinearCombination(c.coeffs[v], p.powR); !errors.Is(err, bls.ErrInfinity) {
				return v
			}
		}
		return -1
	}
	for v := range p.l.validators {
		want, ok := p.cfg.Accounts[v].PublicKey(dealer)
		if !ok || !c.coeffs[v][0].Equal(want) {
			return v
		}
	}
	return -1
}

// finishEcho runs when every new member's echo is in: a dealer whose
// commitments hash differs in any echo showed different commitments to
// different members; a dealer whose constant term is wrong sub-shared
// something else than its share. Both are disqualified. Then a dealer
// answers every complaint against it.
func (p *Participant) finishEcho() (*Message, error) {
	p.disqualified = make([]*Evidence, len(p.l.dealers))
	for d := range p.l.dealers {
		if v := p.constFailure[d]; v >= 0 {
			p.disqualify(d, EvidenceWrongConstant, p.self, v)
		}
		for m, e := range p.echoes {
			if e.hashes[d] != p.commHash[d] {
				p.disqualify(d, EvidenceEquivocation, p.l.members[m], -1)
				break
			}
		}
	}
	p.phase = dkg.PhaseJustify
	if p.dealer < 0 {
		return nil, nil
	}
	j := &justification{}
	for m, e := range p.echoes {
		for _, c := range e.complaints {
			if c.dealer != p.self {
				continue
			}
			a := answer{complainer: p.l.members[m], validators: c.validators}
			for _, v := range c.validators {
				a.shares = append(a.shares, p.dealt[m][v])
			}
			j.answers = append(j.answers, a)
		}
	}
	p.justs[p.dealer] = j
	return p.broadcast(KindJustification, appendJustification(nil, j)), nil
}

// finishJustify runs when every dealer's justification is in: every
// complaint against a still qualified dealer must be answered with
// sub-shares that match its commitments, or the dealer is disqualified.
// With at least the old threshold of qualified dealers it computes the new
// configuration, checks it shares the validator keys, and (at a new
// member) confirms it with its new shares.
func (p *Participant) finishJustify() (*Message, error) {
	for m, e := range p.echoes {
		complainer := p.l.members[m]
		for _, c := range e.complaints {
			d := p.l.dealerAt[c.dealer]
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
				if !p.shareMatches(d, int(v), m, &s) {
					p.disqualify(d, EvidenceInvalidJustification, complainer, int(v))
					answered = false
					break
				}
			}
			if !answered {
				continue
			}
			p.evidence = append(p.evidence, Evidence{Against: complainer, Kind: EvidenceAnsweredComplaint, Reporter: c.dealer, Validator: int(c.validators[0])})
			if m == p.member {
				for _, v := range c.validators {
					s, _ := p.justs[d].share(complainer, v)
					p.received[d].values[v] = s
				}
			}
		}
	}
	p.qualified = p.qualified[:0]
	for d := range p.l.dealers {
		if p.disqualified[d] == nil {
			p.qualified = append(p.qualified, d)
		}
	}
	if len(p.qualified) < p.l.tOld {
		return nil, fmt.Errorf("%w: %w: %d qualified, old threshold %d", ErrAborted, ErrNotEnoughQualified, len(p.qualified), p.l.tOld)
	}
	if p.l.mode == ModeRepair {
		return p.finishJustifyRepair()
	}
	out, err := p.computeOutput()
	if err != nil {
		return nil, err
	}
	p.out = out
	p.transcript = p.transcriptHash()
	p.configuration = p.configurationHash()
	p.phase = dkg.PhaseConfirm
	if p.member < 0 {
		return nil, nil
	}
	var sum bls.Scalar
	defer sum.Zero()
	for _, v := range out.validators {
		x := v.Share.Bytes()
		s, err := bls.ScalarFromBytes(x[:])
		clear(x[:])
		if err != nil {
			return nil, fmt.Errorf("%w: own new share does not decode: %w", ErrAborted, err)
		}
		sum = sum.Add(&s)
		s.Zero()
	}
	sk, err := bls.SecretKeyFromScalar(&sum)
	if err != nil {
		return nil, fmt.Errorf("%w: the sum of own new shares is zero", ErrAborted)
	}
	c := &confirmation{transcript: p.transcript, configuration: p.configuration, sig: sk.Sign(confirmMessage(p.session, p.self, p.transcript, p.configuration))}
	sk.Zero()
	p.confs[p.member] = c
	return p.broadcast(KindConfirmation, appendConfirmation(nil, c)), nil
}

// finishConfirm runs when every new member's confirmation is in: each must
// name this member's transcript and configuration and verify under the
// sum of the confirmer's new component keys, which proves it holds shares
// that match them.
func (p *Participant) finishConfirm() error {
	if p.l.mode == ModeRepair {
		return p.finishRepair()
	}
	for m, id := range p.l.members {
		if m == p.member {
			continue
		}
		c := p.confs[m]
		if c.transcript != p.transcript || c.configuration != p.configuration {
			return fmt.Errorf("%w: %w: member %s", ErrAborted, ErrTranscriptMismatch, id)
		}
		if !p.out.sums[m].Verify(confirmMessage(p.session, id, p.transcript, p.configuration), c.sig) {
			return fmt.Errorf("%w: %w: member %s", ErrAborted, ErrBadConfirmation, id)
		}
	}
	r := &Result{SessionID: p.session, Transcript: p.transcript, Configuration: p.configuration, Validators: p.out.validators}
	for _, d := range p.qualified {
		r.Qualified = append(r.Qualified, p.l.dealers[d])
	}
	for _, e := range p.disqualified {
		if e != nil {
			r.Disqualified = append(r.Disqualified, *e)
		}
	}
	// The sub-shares stay until Zero: a snapshot taken now must resume
	// to this same result.
	p.result = r
	p.phase = dkg.PhaseDone
	return nil
}

// disqualify excludes dealer d, keeping the first reason.
func (p *Participant) disqualify(d int, kind EvidenceKind, reporter tss.ID, validator int) {
	e := Evidence{Against: p.l.dealers[d], Kind: kind, Reporter: reporter, Validator: validator}
	p.evidence = append(p.evidence, e)
	if p.disqualified[d] == nil {
		p.disqualified[d] = &e
	}
}

// computeOutput combines the qualified dealers' commitments into every
// validator's new public polynomial and component keys, and (at a new
// member) their sub-shares into this member's new shares.
//
// Redistribution (Desmedt-Jajodia): with lambda_d the Lagrange
// coefficients at zero over the qualified dealers' ids, the new polynomial
// is sum lambda_d·g_d, whose constant term sum lambda_d·s_d is the key
// since every s_d is a point of the current polynomial; a new member's
// share is sum lambda_d·g_d(j).
//
// Refresh (Herzberg et al.): the new polynomial is the current one plus
// sum g_d, each g_d(0) = 0; a member's share is its current share plus
// sum g_d(j), its component key the current one plus sum g_d(j)·G1.
//
// Before anything is returned, each new account must validate: component
// keys on one polynomial of degree t-1 whose value at zero is the
// validator key.
func (p *Participant) computeOutput() (*output, error) {
	l := p.l
	nm := len(l.members)
	out := &output{sums: make([]*bls.PublicKey, nm)}
	q := len(p.qualified)
	var lambdas []bls.Scalar
	ones := make([]bls.Scalar, q)
	for i := range ones {
		ones[i] = bls.ScalarFromUint64(1)
	}
	weights := ones
	if l.mode == ModeRedistribute {
		ids := make([]tss.ID, q)
		for i, d := range p.qualified {
			ids[i] = l.dealers[d]
		}
		var err error
		if lambdas, err = lagrangeAtZero(ids); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAborted, err)
		}
		weights = lambdas
	}
	var own []bls.Scalar
	if p.member >= 0 {
		own = make([]bls.Scalar, l.validators)
		defer zeroScalars(own)
	}
	first := 0
	if l.mode == ModeRefresh {
		first = 1
	}
	for v := range l.validators {
		cur := &p.cfg.Accounts[v]
		// poly[k] for k >= first: the combined commitments.
		poly := make([]*bls.PublicKey, l.t)
		for k := first; k < l.t; k++ {
			pts := make([]*bls.PublicKey, q)
			for i, d := range p.qualified {
				pts[i] = p.comms[d].coeffs[v][k]
			}
			pk, err := bls.PublicKeyLinearCombination(pts, weights)
			if err != nil {
				return nil, fmt.Errorf("%w: %w: validator %d: coefficient %d of the new polynomial is the identity", ErrAborted, ErrKeyChanged, v, k)
			}
			poly[k] = pk
		}
		if l.mode == ModeRedistribute && !poly[0].Equal(cur.Composite) {
			return nil, fmt.Errorf("%w: %w: validator %d: the new polynomial's constant term is not the validator key", ErrAborted, ErrKeyChanged, v)
		}
		acct := tss.Account{Composite: cur.Composite, Threshold: l.t, Components: make([]tss.Component, nm)}
		for i, id := range l.members {
			pk, err := bls.PublicKeyLinearCombination(poly[first:], p.pow[i][first:])
			if err == nil && l.mode == ModeRefresh {
				old, _ := cur.PublicKey(id)
				pk, err = old.Add(pk)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %w: validator %d: new component key of member %s is the identity", ErrAborted, ErrKeyChanged, v, id)
			}
			acct.Components[i] = tss.Component{ID: id, PublicKey: pk}
			if out.sums[i] == nil {
				out.sums[i] = pk
			} else if out.sums[i], err = out.sums[i].Add(pk); err != nil {
				return nil, fmt.Errorf("%w: sum of new component keys of member %s is the identity", ErrAborted, id)
			}
		}
		if err := acct.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w: validator %d: %w", ErrAborted, ErrKeyChanged, v, err)
		}
		if own != nil {
			if l.mode == ModeRefresh {
				own[v] = p.old[v]
			}
			for i, d := range p.qualified {
				term := weights[i].Mul(&p.received[d].values[v])
				own[v] = own[v].Add(&term)
				term.Zero()
			}
		}
		out.validators = append(out.validators, dkg.Validator{Account: acct})
	}
	if own == nil {
		return out, nil
	}
	if err := p.checkOwnShares(own, out); err != nil {
		return nil, err
	}
	for v := range out.validators {
		sk, err := bls.SecretKeyFromScalar(&own[v])
		if err != nil {
			return nil, fmt.Errorf("%w: own new share of validator %d is zero", ErrAborted, v)
		}
		share, err := tss.NewShare(p.self, sk)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAborted, err)
		}
		out.validators[v].Share = share
	}
	return out, nil
}

// lagrangeAtZero returns the Lagrange basis coefficients at zero over ids
// (distinct, non-zero): public values.
func lagrangeAtZero(ids []tss.ID) ([]bls.Scalar, error) {
	return lagrangeAt(ids, bls.Scalar{})
}

// lagrangeAt returns the Lagrange basis coefficients at x over ids:
// lambda_i = product over j != i of (x_j - x) / (x_j - x_i).
func lagrangeAt(ids []tss.ID, x bls.Scalar) ([]bls.Scalar, error) {
	out := make([]bls.Scalar, len(ids))
	for i := range ids {
		xi := bls.ScalarFromUint64(uint64(ids[i]))
		num, den := bls.ScalarFromUint64(1), bls.ScalarFromUint64(1)
		for j := range ids {
			if j == i {
				continue
			}
			xj := bls.ScalarFromUint64(uint64(ids[j]))
			a := xj.Sub(&x)
			num = num.Mul(&a)
			diff := xj.Sub(&xi)
			den = den.Mul(&diff)
		}
		inv, err := den.Inverse()
		if err != nil {
			return nil, fmt.Errorf("dealer %s appears twice", ids[i])
		}
		out[i] = num.Mul(&inv)
	}
	return out, nil
}

// transcriptHash binds everything the new members must agree on: the
// session, the qualified dealers and their commitments, every echo and
// every justification.
func (p *Participant) transcriptHash() [32]byte {
	h := sha256.New()
	h.Write([]byte(tagTranscript))
	h.Write(p.session[:])
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(p.qualified))))
	for _, d := range p.qualified {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(p.l.dealers[d])))
		h.Write(p.commHash[d][:])
	}
	for _, id := range p.l.members {
		e := hashOf(p.raw[KindEcho][p.l.at[id]])
		h.Write(e[:])
	}
	for _, id := range p.l.dealers {
		j := hashOf(p.raw[KindJustification][p.l.at[id]])
		h.Write(j[:])
	}
	var t [32]byte
	h.Sum(t[:0])
	return t
}

// configurationHash identifies the new configuration: the session, the new
// threshold and members, and every validator's key and new component keys.
func (p *Participant) configurationHash() [32]byte {
	h := sha256.New()
	h.Write([]byte(tagConfiguration))
	h.Write(p.session[:])
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(p.l.t)))
	h.Write(appendIDs(nil, p.l.members))
	for _, v := range p.out.validators {
		k := v.Account.Composite.Bytes()
		h.Write(k[:])
		for _, c := range v.Account.Components {
			k := c.PublicKey.Bytes()
			h.Write(k[:])
		}
	}
	var c [32]byte
	h.Sum(c[:0])
	return c
}

// confirmMessage is what a new member signs with the sum of its new shares.
func confirmMessage(session [32]byte, signer tss.ID, transcript, configuration [32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagConfirm))
	h.Write(session[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(signer)))
	h.Write(transcript[:])
	h.Write(configuration[:])
	var m [32]byte
	h.Sum(m[:0])
	return m
}
