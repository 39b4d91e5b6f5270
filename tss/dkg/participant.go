package dkg

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// Participant is one participant's side of a ceremony: a state machine fed
// with messages from the other participants, which returns the messages it
// wants sent. It does no I/O: the caller carries messages over mutually
// authenticated TLS, retries, persists [Participant.Snapshot] after every
// step and gives up (with [Participant.Abort]) when a peer stays silent.
//
// Rounds: every participant deals (commitments broadcast, shares to each
// recipient); verifies and echoes commitment hashes with its complaints;
// dealers answer complaints publicly; everyone computes the qualified set,
// the keys and the transcript hash and confirms it. The ceremony is done
// when every qualified participant's confirmation matches and verifies.
//
// A Participant is not safe for concurrent use.
type Participant struct {
	cfg      Config
	l        layout
	ceremony [32]byte
	self     tss.ID
	me       int
	rand     io.Reader
	pow      [][]bls.Scalar // per participant: its id's powers 0..t-1

	phase Phase
	abort error

	// raw holds every accepted message by kind and sender index, exactly as
	// received: snapshots store it and the transcript hashes it.
	raw      [numKinds][][]byte
	comms    []*commitments
	received []*shares // shares addressed to this participant, by dealer
	echoes   []*echo
	justs    []*justification
	confs    []*confirmation

	dealt    [][]bls.Scalar // this dealer's shares, by recipient index
	sharesTo [][]byte       // encoded shares messages, by recipient index
	outbox   []Message
	evidence []Evidence

	commHash     [][32]byte
	popFailure   []int // per dealer: first validator whose proof fails, or -1
	disqualified []*Evidence
	qualified    []int
	transcript   [32]byte
	out          *output
	result       *Result
}

// output is what the justification round computes: public keys of every
// validator, this participant's shares, and for each participant the sum of
// its component keys (to check confirmations).
type output struct {
	validators []Validator
	sums       []*bls.PublicKey
}

// New starts this participant's side of the ceremony described by cfg:
// it deals right away, so [Participant.Outbox] holds the first messages to
// send. rand supplies the polynomials and, later, the coefficients of the
// batched verifications; it must be a cryptographically secure source.
func New(cfg Config, self tss.ID, rand io.Reader) (*Participant, error) {
	p, err := newParticipant(cfg, self, rand)
	if err != nil {
		return nil, err
	}
	d, err := deal(rand, p.l, p.ceremony, self)
	if err != nil {
		return nil, err
	}
	if err := p.setDealing(d.commitments, d.parsed, d.shares); err != nil {
		d.zero()
		return nil, err
	}
	// A one-participant ceremony has every message already.
	if _, err := p.advance(); err != nil && !errors.Is(err, ErrAborted) {
		return nil, err
	}
	return p, nil
}

func newParticipant(cfg Config, self tss.ID, rand io.Reader) (*Participant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Participants = slices.Clone(cfg.Participants)
	cfg.Context = slices.Clone(cfg.Context)
	if rand == nil {
		return nil, fmt.Errorf("%w: no source of randomness", ErrConfig)
	}
	p := &Participant{cfg: cfg, l: newLayout(&cfg), ceremony: cfg.CeremonyID(), self: self, rand: rand, phase: PhaseDeal}
	me, ok := p.l.index[self]
	if !ok {
		return nil, fmt.Errorf("%w: participant %s is not in Participants", ErrConfig, self)
	}
	p.me = me
	p.pow = powers(p.l)
	n := p.l.n
	for k := range p.raw {
		p.raw[k] = make([][]byte, n)
	}
	p.comms = make([]*commitments, n)
	p.received = make([]*shares, n)
	p.echoes = make([]*echo, n)
	p.justs = make([]*justification, n)
	p.confs = make([]*confirmation, n)
	p.sharesTo = make([][]byte, n)
	return p, nil
}

// setDealing installs this participant's own dealing: it is both sent and
// "received" by itself. parsed is comm decoded, or nil to decode it here.
func (p *Participant) setDealing(comm []byte, c *commitments, dealt [][]bls.Scalar) error {
	if c == nil {
		_, r, err := parseHeader(comm)
		if err != nil {
			return err
		}
		if c, err = p.l.parseCommitments(r); err != nil {
			return err
		}
	}
	p.raw[KindCommitments][p.me] = comm
	p.comms[p.me] = c
	p.dealt = dealt
	p.received[p.me] = &shares{values: dealt[p.me]}
	p.outbox = append(p.outbox, Message{Kind: KindCommitments, Bytes: comm})
	for i, id := range p.l.ids {
		b := appendHeader(nil, header{kind: KindShares, ceremony: p.ceremony, from: p.self, to: id})
		p.sharesTo[i] = appendShares(b, dealt[i])
		if i != p.me {
			p.outbox = append(p.outbox, Message{To: id, Kind: KindShares, Bytes: p.sharesTo[i]})
		}
	}
	return nil
}

// Outbox returns every message this participant has produced so far, in
// order. The transport sends each until the recipient has it; re-sending is
// always harmless, so after a restart the caller simply sends them all
// again.
func (p *Participant) Outbox() []Message { return slices.Clone(p.outbox) }

// Phase returns the current phase.
func (p *Participant) Phase() Phase { return p.phase }

// CeremonyID returns the ceremony's id.
func (p *Participant) CeremonyID() [32]byte { return p.ceremony }

// Evidence returns every misbehaviour this participant has seen so far.
func (p *Participant) Evidence() []Evidence { return slices.Clone(p.evidence) }

// Waiting returns the participants whose message the current phase still
// needs, for the caller's timeouts and progress reports.
func (p *Participant) Waiting() []tss.ID {
	var out []tss.ID
	missing := func(i int, kinds ...Kind) {
		for _, k := range kinds {
			if p.raw[k][i] == nil {
				out = append(out, p.l.ids[i])
				return
			}
		}
	}
	switch p.phase {
	case PhaseDeal:
		for i := range p.l.ids {
			if p.received[i] == nil || p.comms[i] == nil {
				out = append(out, p.l.ids[i])
			}
		}
	case PhaseEcho:
		for i := range p.l.ids {
			missing(i, KindEcho)
		}
	case PhaseJustify:
		for i := range p.l.ids {
			missing(i, KindJustification)
		}
	case PhaseConfirm:
		for _, i := range p.qualified {
			missing(i, KindConfirmation)
		}
	}
	return out
}

// Abort ends the ceremony without accounts, for a reason of the caller's
// (a participant that stays silent, an operator's decision). It is
// permanent and survives snapshots.
func (p *Participant) Abort(reason string) {
	if p.phase == PhaseDone || p.phase == PhaseAborted {
		return
	}
	p.fail(fmt.Errorf("%w: %s", ErrAborted, reason))
}

func (p *Participant) fail(err error) {
	if !errors.Is(err, ErrAborted) {
		err = fmt.Errorf("%w: %w", ErrAborted, err)
	}
	p.zeroSecrets()
	p.phase, p.abort, p.out = PhaseAborted, err, nil
}

// Zero overwrites every secret the participant holds: its polynomials'
// shares, the shares it received and the result's shares. Call it once the
// result's shares are sealed; the participant is unusable afterwards.
func (p *Participant) Zero() {
	if p.phase != PhaseAborted {
		p.fail(fmt.Errorf("%w: secrets zeroed", ErrAborted))
	}
}

// zeroSecrets drops every secret: an aborted ceremony leaves nothing that
// could ever sign.
func (p *Participant) zeroSecrets() {
	for _, s := range p.dealt {
		zeroScalars(s)
	}
	for _, s := range p.received {
		s.zero()
	}
	for i := range p.sharesTo {
		clear(p.sharesTo[i])
	}
	for _, b := range p.raw[KindShares] {
		clear(b)
	}
	for i, m := range p.outbox {
		if m.Kind == KindShares {
			p.outbox[i].Bytes = nil
		}
	}
	p.raw[KindShares] = make([][]byte, p.l.n)
	if p.result != nil {
		p.result.Zero()
		p.result = nil
	}
}

// Result returns the validators once the ceremony is done. Before that it
// returns [ErrNotFinished]; after an abort, the abort's error.
func (p *Participant) Result() (*Result, error) {
	switch p.phase {
	case PhaseDone:
		return p.result, nil
	case PhaseAborted:
		return nil, p.abort
	}
	return nil, fmt.Errorf("%w: in phase %s", ErrNotFinished, p.phase)
}

// Deliver hands the participant one message that the transport received
// from the authenticated peer from, and returns the messages to send in
// response (possibly none). A message is accepted once: an exact duplicate
// is ignored, a different message of the same kind from the same sender is
// refused with [ErrConflict] and kept as evidence. A refused message
// changes nothing else. Messages of later rounds are kept until their round
// comes. When the ceremony aborts, the error matches [ErrAborted].
func (p *Participant) Deliver(from tss.ID, msg []byte) ([]Message, error) {
	if p.phase == PhaseAborted {
		return nil, p.abort
	}
	h, r, err := parseHeader(msg)
	if err != nil {
		return nil, err
	}
	if err := p.checkHeader(from, h); err != nil {
		return nil, err
	}
	si := p.l.index[h.from]
	if prev := p.raw[h.kind][si]; prev != nil && bytes.Equal(prev, msg) {
		return p.advance()
	}
	if p.phase == PhaseDone && (h.kind == KindShares || p.raw[h.kind][si] == nil) {
		// Secrets are gone once done; late messages no longer matter.
		return nil, nil
	}
	if err := p.accept(h, r, si, msg); err != nil {
		return nil, err
	}
	return p.advance()
}

func (p *Participant) checkHeader(from tss.ID, h header) error {
	if h.ceremony != p.ceremony {
		return fmt.Errorf("%w: %s message from %s", ErrWrongCeremony, h.kind, h.from)
	}
	if h.from != from {
		return fmt.Errorf("%w: message claims sender %s but came from %s", ErrSender, h.from, from)
	}
	if _, ok := p.l.index[h.from]; !ok {
		return fmt.Errorf("%w: %s is not a participant", ErrSender, h.from)
	}
	if h.from == p.self {
		return fmt.Errorf("%w: message from this participant itself", ErrSender)
	}
	switch {
	case h.kind == KindShares && h.to != p.self:
		return fmt.Errorf("%w: shares for participant %s", ErrWrongRecipient, h.to)
	case h.kind != KindShares && h.to != 0:
		return fmt.Errorf("%w: %s message must be broadcast but names participant %s", ErrWrongRecipient, h.kind, h.to)
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
		store = func() { p.comms[si] = c }
	case KindShares:
		s, err := p.l.parseShares(r)
		if err != nil {
			return err
		}
		store = func() { p.received[si] = s }
	case KindEcho:
		e, err := p.l.parseEcho(r, h.from)
		if err != nil {
			return err
		}
		store = func() { p.echoes[si] = e }
	case KindJustification:
		j, err := p.l.parseJustification(r, h.from)
		if err != nil {
			return err
		}
		store = func() { p.justs[si] = j }
	case KindConfirmation:
		c, err := parseConfirmation(r)
		if err != nil {
			return err
		}
		store = func() { p.confs[si] = c }
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
		case PhaseDeal:
			if !p.haveAll(KindCommitments) || !p.haveAll(KindShares) {
				return out, nil
			}
			msg, err = p.finishDeal()
		case PhaseEcho:
			if !p.haveAll(KindEcho) {
				return out, nil
			}
			msg, err = p.finishEcho()
		case PhaseJustify:
			if !p.haveAll(KindJustification) {
				return out, nil
			}
			msg, err = p.finishJustify()
		case PhaseConfirm:
			for _, i := range p.qualified {
				if p.confs[i] == nil {
					return out, nil
				}
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

// haveAll reports whether every participant's message of kind is in.
func (p *Participant) haveAll(k Kind) bool {
	for i := range p.l.ids {
		switch {
		case k == KindShares && p.received[i] == nil:
			return false
		case k != KindShares && p.raw[k][i] == nil:
			return false
		}
	}
	return true
}

// broadcast records this participant's own broadcast of kind with body and
// returns the message to send.
func (p *Participant) broadcast(k Kind, body []byte) *Message {
	b := appendHeader(make([]byte, 0, headerLen+len(body)), header{kind: k, ceremony: p.ceremony, from: p.self})
	b = append(b, body...)
	p.raw[k][p.me] = b
	return &Message{Kind: k, Bytes: b}
}

func hashOf(b []byte) [32]byte { return sha256.Sum256(b) }
