package reshare

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Participant is one member's side of a resharing: a current member that
// deals, a new member that receives, or both. Like [dkg.Participant] it is
// a pure state machine: [New] deals, [Participant.Deliver] takes one
// message from an authenticated peer and returns the messages to send; the
// caller owns transport, timeouts and storage.
//
// A Participant is not safe for concurrent use.
type Participant struct {
	cfg     Config
	l       layout
	session [32]byte
	self    tss.ID
	me      int // index in l.all
	dealer  int // index in l.dealers, or -1
	member  int // index in l.members, or -1
	rand    io.Reader
	pow     [][]bls.Scalar // per new member: its id's powers 0..t-1
	powR    []bls.Scalar   // repair: the repaired id's powers 0..t-1
	old     []bls.Scalar   // this member's current shares, if it deals or refreshes

	phase dkg.Phase
	abort error

	// raw holds every accepted message by kind and sender (index in
	// l.all), exactly as received: the transcript hashes it.
	raw      [numKinds][][]byte
	comms    []*commitments   // by dealer
	received []*shares        // sub-shares addressed to this member, by dealer
	echoes   []*echo          // by new member
	justs    []*justification // by dealer
	confs    []*confirmation  // by new member
	masked   []*masked        // repair, at the repaired member: by dealer

	dealt    [][]bls.Scalar // this dealer's sub-shares, by new member
	sharesTo [][]byte       // this dealer's encoded sub-shares messages, by new member (own included)
	outbox   []Message
	evidence []Evidence

	commHash      [][32]byte  // by dealer
	constFailure  []int       // by dealer: first validator whose constant term is wrong, or -1
	disqualified  []*Evidence // by dealer
	qualified     []int       // dealer indexes
	transcript    [32]byte
	configuration [32]byte
	out           *output
	result        *Result
}

// output is what the justification round computes: every validator's new
// account, this member's new shares, and for each new member the sum of
// its new component keys (to check confirmations).
type output struct {
	validators []dkg.Validator
	sums       []*bls.PublicKey
}

// New starts self's side of the resharing described by cfg. old holds, per
// validator in cfg.Accounts order, self's current share: required when self
// is a dealer, or a member of a refresh; nil otherwise. Each must be the
// share of self's component key in the current configuration. New copies
// what it needs; the caller keeps old until the new configuration is
// active, then destroys it. A dealer deals right away, so
// [Participant.Outbox] holds the first messages to send. Once done and the
// new shares sealed, call [Participant.Zero].
func New(cfg Config, self tss.ID, old []*tss.Share, rand io.Reader) (*Participant, error) {
	p, err := newParticipant(cfg, self, old, rand)
	if err != nil {
		return nil, err
	}
	if p.dealer >= 0 {
		if err := p.deal(); err != nil {
			p.zeroSecrets()
			return nil, err
		}
	}
	if _, err := p.advance(); err != nil && !errors.Is(err, ErrAborted) {
		p.zeroSecrets()
		return nil, err
	}
	return p, nil
}

func newParticipant(cfg Config, self tss.ID, old []*tss.Share, rand io.Reader) (*Participant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rand == nil {
		return nil, fmt.Errorf("%w: no source of randomness", ErrConfig)
	}
	cfg.Dealers, cfg.NewMembers = slices.Clone(cfg.Dealers), slices.Clone(cfg.NewMembers)
	cfg.Accounts, cfg.Context = slices.Clone(cfg.Accounts), slices.Clone(cfg.Context)
	p := &Participant{cfg: cfg, l: newLayout(&cfg), session: cfg.SessionID(), self: self, rand: rand, phase: dkg.PhaseDeal, dealer: -1, member: -1}
	me, ok := p.l.at[self]
	if !ok {
		return nil, fmt.Errorf("%w: %s is neither a dealer nor a new member", ErrConfig, self)
	}
	p.me = me
	if i, ok := p.l.dealerAt[self]; ok {
		p.dealer = i
	}
	if i, ok := p.l.memberAt[self]; ok {
		p.member = i
	}
	if p.dealer >= 0 || cfg.Mode == ModeRefresh {
		if err := p.loadOld(old); err != nil {
			return nil, err
		}
	} else if old != nil {
		return nil, fmt.Errorf("%w: %s does not deal: give it no current shares", ErrConfig, self)
	}
	p.pow = powers(p.l)
	if p.l.repaired != 0 {
		p.powR = powersOf(p.l.repaired, p.l.t)
	}
	nd, nm := len(p.l.dealers), len(p.l.members)
	for k := range p.raw {
		p.raw[k] = make([][]byte, len(p.l.all))
	}
	p.comms, p.received, p.justs = make([]*commitments, nd), make([]*shares, nd), make([]*justification, nd)
	p.echoes, p.confs, p.masked = make([]*echo, nm), make([]*confirmation, nm), make([]*masked, nd)
	return p, nil
}

// loadOld copies self's current shares after checking each is the share of
// self's component key.
func (p *Participant) loadOld(old []*tss.Share) error {
	if len(old) != p.l.validators {
		return fmt.Errorf("%w: %d current shares given for %d validators", ErrConfig, len(old), p.l.validators)
	}
	p.old = make([]bls.Scalar, p.l.validators)
	for v, s := range old {
		want, ok := p.cfg.Accounts[v].PublicKey(p.self)
		var err error
		switch {
		case s == nil:
			err = fmt.Errorf("%w: no current share of validator %d", ErrConfig, v)
		case s.ID() != p.self:
			err = fmt.Errorf("%w: current share of validator %d belongs to member %s, not %s", ErrConfig, v, s.ID(), p.self)
		case !ok || !s.PublicKey().Equal(want):
			err = fmt.Errorf("%w: current share of validator %d is not the share of %s's component key", ErrConfig, v, p.self)
		}
		if err != nil {
			zeroScalars(p.old)
			p.old = nil
			return err
		}
		b := s.Bytes()
		x, e := bls.ScalarFromBytes(b[:])
		clear(b[:])
		if e != nil {
			zeroScalars(p.old)
			p.old = nil
			return fmt.Errorf("%w: current share of validator %d does not decode", ErrConfig, v)
		}
		p.old[v] = x
	}
	return nil
}

// deal draws, per validator, a polynomial of degree t_new-1 whose constant
// term is this dealer's current share (redistribution) or zero (refresh),
// commits to its coefficients and evaluates it at every new member.
func (p *Participant) deal() error {
	l := p.l
	c := &commitments{coeffs: make([][]*bls.PublicKey, l.validators)}
	p.dealt = make([][]bls.Scalar, len(l.members))
	for i := range p.dealt {
		p.dealt[i] = make([]bls.Scalar, l.validators)
	}
	coeffs := make([]bls.Scalar, l.t)
	defer zeroScalars(coeffs)
	xs := make([]bls.Scalar, len(l.members))
	for i, id := range l.members {
		xs[i] = bls.ScalarFromUint64(uint64(id))
	}
	for v := range l.validators {
		c.coeffs[v] = make([]*bls.PublicKey, l.t)
		if l.mode == ModeRedistribute {
			coeffs[0] = p.old[v]
			c.coeffs[v][0], _ = p.cfg.Accounts[v].PublicKey(p.self)
		} else {
			coeffs[0].Zero()
		}
		for k := 1; k < l.t; k++ {
			x, err := bls.RandomScalar(p.rand)
			if err != nil {
				return fmt.Errorf("reshare: drawing polynomial coefficient: %w", err)
			}
			coeffs[k] = x
			// The library's key path, not a multi-scalar multiplication:
			// the scalar is secret.
			pk, err := bls.PublicKeyFromScalar(&coeffs[k])
			if err != nil {
				return fmt.Errorf("reshare: committing to coefficient: %w", err)
			}
			c.coeffs[v][k] = pk
		}
		if l.mode == ModeRepair {
			// Zero at the repaired index: a_0 = -sum_k a_k·r^k.
			for k := 1; k < l.t; k++ {
				term := coeffs[k].Mul(&p.powR[k])
				coeffs[0] = coeffs[0].Sub(&term)
				term.Zero()
			}
			pk, err := bls.PublicKeyFromScalar(&coeffs[0])
			if err != nil {
				return fmt.Errorf("reshare: committing to the constant term: %w", err)
			}
			c.coeffs[v][0] = pk
		}
		for i := range xs {
			p.dealt[i][v] = horner(coeffs, &xs[i])
		}
	}
	body := appendCommitments(make([]byte, 0, l.commitmentsBodyLen()), c)
	msg := appendHeader(make([]byte, 0, headerLen+len(body)), header{kind: KindCommitments, session: p.session, from: p.self})
	msg = append(msg, body...)
	p.setDealing(msg, c)
	return nil
}

// setDealing installs this dealer's own dealing (commitments msg, parsed
// as c, and p.dealt): it is both sent and, at a new member, received by
// itself.
func (p *Participant) setDealing(msg []byte, c *commitments) {
	p.raw[KindCommitments][p.me] = msg
	p.comms[p.dealer] = c
	p.outbox = append(p.outbox, Message{Kind: KindCommitments, Bytes: msg})
	p.sharesTo = make([][]byte, len(p.l.members))
	for i, id := range p.l.members {
		b := appendHeader(nil, header{kind: KindShares, session: p.session, from: p.self, to: id})
		p.sharesTo[i] = appendShares(b, p.dealt[i])
		if id == p.self {
			p.received[p.dealer] = &shares{values: p.dealt[i]}
			continue
		}
		p.outbox = append(p.outbox, Message{To: id, Kind: KindShares, Bytes: p.sharesTo[i]})
	}
}

// horner evaluates the polynomial at x.
func horner(coeffs []bls.Scalar, x *bls.Scalar) bls.Scalar {
	var acc bls.Scalar
	for k := len(coeffs) - 1; k >= 0; k-- {
		acc = acc.Mul(x)
		acc = acc.Add(&coeffs[k])
	}
	return acc
}

// powers returns, per new member, its id's powers id^0 .. id^(t-1).
func powers(l layout) [][]bls.Scalar {
	out := make([][]bls.Scalar, len(l.members))
	for i, id := range l.members {
		out[i] = powersOf(id, l.t)
	}
	return out
}

func powersOf(id tss.ID, t int) []bls.Scalar {
	x := bls.ScalarFromUint64(uint64(id))
	out := make([]bls.Scalar, t)
	out[0] = bls.ScalarFromUint64(1)
	for k := 1; k < t; k++ {
		out[k] = out[k-1].Mul(&x)
	}
	return out
}

// Outbox returns every message this member has produced so far, in order.
// Re-sending is always harmless.
func (p *Participant) Outbox() []Message { return slices.Clone(p.outbox) }

// Phase returns the current phase.
func (p *Participant) Phase() dkg.Phase { return p.phase }

// SessionID returns the session's id.
func (p *Participant) SessionID() [32]byte { return p.session }

// Evidence returns every misbehaviour this member has seen so far.
func (p *Participant) Evidence() []Evidence { return slices.Clone(p.evidence) }

// Waiting returns the members whose message the current phase still needs.
func (p *Participant) Waiting() []tss.ID {
	var out []tss.ID
	switch p.phase {
	case dkg.PhaseDeal:
		for d, id := range p.l.dealers {
			if p.comms[d] == nil || (p.member >= 0 && p.received[d] == nil) {
				out = append(out, id)
			}
		}
	case dkg.PhaseEcho:
		out = p.missing(KindEcho, p.l.members)
	case dkg.PhaseJustify:
		out = p.missing(KindJustification, p.l.dealers)
	case dkg.PhaseConfirm:
		if p.l.mode != ModeRepair {
			out = p.missing(KindConfirmation, p.l.members)
			break
		}
		var q []tss.ID
		for _, d := range p.qualified {
			q = append(q, p.l.dealers[d])
		}
		out = p.missing(KindConfirmation, q)
	}
	return out
}

func (p *Participant) missing(k dkg.Kind, from []tss.ID) []tss.ID {
	var out []tss.ID
	for _, id := range from {
		if p.raw[k][p.l.at[id]] == nil {
			out = append(out, id)
		}
	}
	return out
}

// Abort ends the resharing without new shares, for a reason of the
// caller's (a member that stays silent, an operator's decision). The
// current configuration is untouched.
func (p *Participant) Abort(reason string) {
	if p.phase == dkg.PhaseDone || p.phase == dkg.PhaseAborted {
		return
	}
	p.fail(fmt.Errorf("%w: %s", ErrAborted, reason))
}

func (p *Participant) fail(err error) {
	if !errors.Is(err, ErrAborted) {
		err = fmt.Errorf("%w: %w", ErrAborted, err)
	}
	p.zeroSecrets()
	p.phase, p.abort, p.out = dkg.PhaseAborted, err, nil
}

// Zero overwrites every secret the member holds; it is unusable
// afterwards. Call it once the result's shares are sealed.
func (p *Participant) Zero() {
	if p.phase != dkg.PhaseAborted {
		p.fail(fmt.Errorf("%w: secrets zeroed", ErrAborted))
	}
}

// zeroSecrets drops every secret: current shares, sub-shares dealt and
// received, and the result's shares.
func (p *Participant) zeroSecrets() {
	zeroScalars(p.old)
	for _, s := range p.dealt {
		zeroScalars(s)
	}
	for _, s := range p.received {
		s.zero()
	}
	for _, b := range p.sharesTo {
		clear(b)
	}
	p.sharesTo = nil
	for i, m := range p.outbox {
		if m.Kind == KindShares {
			clear(p.outbox[i].Bytes)
			p.outbox[i].Bytes = nil
		}
	}
	for i, b := range p.raw[KindShares] {
		clear(b)
		p.raw[KindShares][i] = nil
	}
	if p.l.mode == ModeRepair {
		for _, m := range p.masked {
			if m != nil {
				zeroScalars(m.values)
			}
		}
		for i, b := range p.raw[KindConfirmation] {
			clear(b)
			p.raw[KindConfirmation][i] = nil
		}
		for i, m := range p.outbox {
			if m.Kind == KindConfirmation {
				clear(p.outbox[i].Bytes)
				p.outbox[i].Bytes = nil
			}
		}
	}
	if p.result != nil {
		p.result.Zero()
		p.result = nil
	}
}

// Result returns the new configuration once the resharing is done. Before
// that it returns [ErrNotFinished]; after an abort, the abort's error.
func (p *Participant) Result() (*Result, error) {
	switch p.phase {
	case dkg.PhaseDone:
		return p.result, nil
	case dkg.PhaseAborted:
		return nil, p.abort
	}
	return nil, fmt.Errorf("%w: in phase %s", ErrNotFinished, p.phase)
}

// Deliver hands the member one message that the transport received from
// the authenticated peer from, and returns the messages to send in
// response. A message is accepted once: an exact duplicate is ignored, a
// different message of the same kind from the same sender is refused with
// [ErrConflict] and kept as evidence. A refused message changes nothing
// else. Messages of later rounds are kept until their round comes.
func (p *Participant) Deliver(from tss.ID, msg []byte) ([]Message, error) {
	if p.phase == dkg.PhaseAborted {
		return nil, p.abort
	}
	h, r, err := parseHeader(msg)
	if err != nil {
		return nil, err
	}
	if err := p.checkHeader(from, h); err != nil {
		return nil, err
	}
	si := p.l.at[h.from]
	if prev := p.raw[h.kind][si]; prev != nil && bytes.Equal(prev, msg) {
		return p.advance()
	}
	if p.phase == dkg.PhaseDone && (h.kind == KindShares || p.raw[h.kind][si] == nil) {
		return nil, nil
	}
	if err := p.accept(h, r, si, msg); err != nil {
		return nil, err
	}
	return p.advance()
}

func (p *Participant) checkHeader(from tss.ID, h header) error {
	if h.session != p.session {
		return fmt.Errorf("%w: %s message from %s", ErrWrongCeremony, h.kind, h.from)
	}
	if h.from != from {
		return fmt.Errorf("%w: message claims sender %s but came from %s", ErrSender, h.from, from)
	}
	if _, ok := p.l.at[h.from]; !ok {
		return fmt.Errorf("%w: %s is not a member of this session", ErrSender, h.from)
	}
	if h.from == p.self {
		return fmt.Errorf("%w: message from this member itself", ErrSender)
	}
	_, isDealer := p.l.dealerAt[h.from]
	_, isMember := p.l.memberAt[h.from]
	switch h.kind {
	case KindCommitments, KindShares, KindJustification:
		if !isDealer {
			return fmt.Errorf("%w: %s is not a dealer and sent %s", ErrSender, h.from, h.kind)
		}
	case KindEcho:
		if !isMember {
			return fmt.Errorf("%w: %s is not a new member and sent %s", ErrSender, h.from, h.kind)
		}
	case KindConfirmation:
		if p.l.mode == ModeRepair && !isDealer {
			return fmt.Errorf("%w: %s is not a helper and sent masked shares", ErrSender, h.from)
		}
		if p.l.mode != ModeRepair && !isMember {
			return fmt.Errorf("%w: %s is not a new member and sent %s", ErrSender, h.from, h.kind)
		}
	}
	private := h.kind == KindShares || (h.kind == KindConfirmation && p.l.mode == ModeRepair)
	switch {
	case h.kind == KindShares && (h.to != p.self || p.member < 0):
		return fmt.Errorf("%w: sub-shares for member %s", ErrWrongRecipient, h.to)
	case h.kind == KindConfirmation && private && (h.to != p.self || p.self != p.l.repaired):
		return fmt.Errorf("%w: masked shares for member %s", ErrWrongRecipient, h.to)
	case !private && h.to != 0:
		return fmt.Errorf("%w: %s message must be broadcast but names member %s", ErrWrongRecipient, h.kind, h.to)
	}
	return nil
}

// accept parses the body and stores the message, or refuses it.
func (p *Participant) accept(h header, r *reader, si int, msg []byte) error {
	var store func()
	switch h.kind {
	case KindCommitments:
		c, err := p.l.parseCommitments(r)
		if err != nil {
			return err
		}
		store = func() { p.comms[p.l.dealerAt[h.from]] = c }
	case KindShares:
		s, err := p.l.parseShares(r)
		if err != nil {
			return err
		}
		if p.raw[h.kind][si] != nil {
			s.zero()
		}
		store = func() { p.received[p.l.dealerAt[h.from]] = s }
	case KindEcho:
		e, err := p.l.parseEcho(r, h.from)
		if err != nil {
			return err
		}
		store = func() { p.echoes[p.l.memberAt[h.from]] = e }
	case KindJustification:
		j, err := p.l.parseJustification(r, h.from)
		if err != nil {
			return err
		}
		store = func() { p.justs[p.l.dealerAt[h.from]] = j }
	case KindConfirmation:
		if p.l.mode == ModeRepair {
			m, err := p.l.parseMasked(r)
			if err != nil {
				return err
			}
			if p.raw[h.kind][si] != nil {
				zeroScalars(m.values)
			}
			store = func() { p.masked[p.l.dealerAt[h.from]] = m }
			break
		}
		c, err := parseConfirmation(r)
		if err != nil {
			return err
		}
		store = func() { p.confs[p.l.memberAt[h.from]] = c }
	}
	if p.raw[h.kind][si] != nil {
		p.evidence = append(p.evidence, Evidence{Against: h.from, Kind: EvidenceConflict, Reporter: p.self, Validator: -1})
		return fmt.Errorf("%w: a second, different %s message from %s", ErrConflict, h.kind, h.from)
	}
	p.raw[h.kind][si] = slices.Clone(msg)
	store()
	return nil
}

// advance runs every round whose messages are all in.
func (p *Participant) advance() ([]Message, error) {
	var out []Message
	for {
		var msg *Message
		var err error
		switch p.phase {
		case dkg.PhaseDeal:
			if len(p.Waiting()) > 0 {
				return out, nil
			}
			msg, err = p.finishDeal()
		case dkg.PhaseEcho:
			if len(p.Waiting()) > 0 {
				return out, nil
			}
			msg, err = p.finishEcho()
		case dkg.PhaseJustify:
			if len(p.Waiting()) > 0 {
				return out, nil
			}
			msg, err = p.finishJustify()
		case dkg.PhaseConfirm:
			if len(p.Waiting()) > 0 {
				return out, nil
			}
			err = p.finishConfirm()
		default:
			return out, nil
		}
		if errors.Is(err, ErrAborted) {
			p.fail(err)
			return out, p.abort
		}
		if err != nil {
			// Randomness failed: nothing moved on; the next delivery
			// retries the round.
			return out, err
		}
		if msg != nil {
			p.outbox = append(p.outbox, *msg)
			out = append(out, *msg)
		}
	}
}

// broadcast records this member's own broadcast of kind with body and
// returns the message to send.
func (p *Participant) broadcast(k dkg.Kind, body []byte) *Message {
	b := appendHeader(make([]byte, 0, headerLen+len(body)), header{kind: k, session: p.session, from: p.self})
	b = append(b, body...)
	p.raw[k][p.me] = b
	return &Message{Kind: k, Bytes: b}
}

func hashOf(b []byte) [32]byte { return sha256.Sum256(b) }
