package dkg

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/internal/wire"
)

// Kind is a message's type, one per round.
type Kind uint8

// Message kinds, in round order.
const (
	// KindCommitments (broadcast) carries a dealer's Feldman commitments
	// for every validator and a proof of possession of each constant term.
	KindCommitments Kind = 1
	// KindShares (to one recipient) carries a dealer's secret shares for
	// that recipient, one per validator.
	KindShares Kind = 2
	// KindEcho (broadcast) carries the hash of every dealer's commitments
	// as the sender received them, and the sender's complaints.
	KindEcho Kind = 3
	// KindJustification (broadcast) answers every complaint against the
	// sender by revealing the complained-about shares.
	KindJustification Kind = 4
	// KindConfirmation (broadcast) carries the sender's transcript hash,
	// signed with its new shares.
	KindConfirmation Kind = 5
)

const numKinds = 6

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindCommitments:
		return "commitments"
	case KindShares:
		return "shares"
	case KindEcho:
		return "echo"
	case KindJustification:
		return "justification"
	case KindConfirmation:
		return "confirmation"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is one message for the transport to deliver, encoded.
type Message struct {
	// To is the recipient, or 0 for a broadcast: deliver to every other
	// participant.
	To tss.ID
	// Kind is the message's round.
	Kind Kind
	// Bytes is the encoded message. For KindShares it contains secret
	// shares: send it only over the mutually authenticated, encrypted
	// channel to its recipient, and never log or store it unsealed.
	Bytes []byte
}

// String describes the message without its content.
func (m Message) String() string {
	to := "every participant"
	if m.To != 0 {
		to = "participant " + m.To.String()
	}
	return fmt.Sprintf("dkg %s message to %s (%d bytes)", m.Kind, to, len(m.Bytes))
}

// Format prints [Message.String] for every verb, so that shares never
// reach a log through %v or %x.
func (m Message) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// Wire format: a fixed header, then a body whose layout depends on the kind
// and whose size follows from the configuration.
//
//	magic "RDKG" | version u8 | kind u8 | ceremony id [32] | sender u64 | recipient u64 (0: broadcast) | body
const (
	magic       = "RDKG"
	wireVersion = 1
	headerLen   = wire.HeaderLen
)

var wireFormat = wire.Format{Magic: magic, Version: wireVersion, Name: "DKG", IDField: "ceremony id", Malformed: ErrMalformed, BadVersion: ErrVersion}

type header struct {
	kind     Kind
	ceremony [32]byte
	from, to tss.ID
}

func appendHeader(b []byte, h header) []byte {
	return wireFormat.Append(b, wire.Header{Kind: uint8(h.kind), ID: h.ceremony, From: h.from, To: h.to})
}

// parseHeader decodes the header and returns a reader positioned at the
// body.
func parseHeader(b []byte) (header, *reader, error) {
	w, r, err := wireFormat.Parse(b)
	h := header{kind: Kind(w.Kind), ceremony: w.ID, from: w.From, to: w.To}
	if err != nil {
		return h, nil, err
	}
	if h.kind < KindCommitments || h.kind > KindConfirmation {
		return h, nil, fmt.Errorf("%w: unknown message kind %d", ErrMalformed, uint8(h.kind))
	}
	return h, r, nil
}

// layout holds what parsing needs from the configuration.
type layout struct {
	n, t, validators int
	ids              []tss.ID
	index            map[tss.ID]int
}

func newLayout(c *Config) layout {
	l := layout{n: len(c.Participants), t: c.Threshold, validators: c.Validators, ids: c.Participants, index: map[tss.ID]int{}}
	for i, id := range c.Participants {
		l.index[id] = i
	}
	return l
}

// commitments is a dealer's public message: coeffs[v][k] = a_{v,k}·G1 and
// pops[v], a signature by a_{v,0} over the dealer's proof-of-possession
// message.
type commitments struct {
	coeffs [][]*bls.PublicKey
	pops   []*bls.Signature
}

func (l layout) commitmentsBodyLen() int {
	return l.validators * (l.t*bls.PublicKeyLength + bls.SignatureLength)
}

func (l layout) parseCommitments(r *reader) (*commitments, error) {
	if got, want := r.Left(), l.commitmentsBodyLen(); got != want {
		return nil, fmt.Errorf("%w: commitments body has %d bytes, want %d for %d validators at threshold %d", ErrMalformed, got, want, l.validators, l.t)
	}
	// Decode all points in bulk: this is the ceremony's most expensive
	// parse (a subgroup check per point), spread over the CPUs.
	keyEncs := make([][]byte, 0, l.validators*l.t)
	sigEncs := make([][]byte, 0, l.validators)
	for range l.validators {
		for range l.t {
			keyEncs = append(keyEncs, r.Bytes(bls.PublicKeyLength, "commitment"))
		}
		sigEncs = append(sigEncs, r.Bytes(bls.SignatureLength, "proof of possession"))
	}
	if err := r.End("commitments"); err != nil {
		return nil, err
	}
	keys, err := bls.PublicKeysFromBytes(keyEncs)
	if err != nil {
		return nil, fmt.Errorf("%w: commitments (item = validator·%d + coefficient): %w", ErrMalformed, l.t, err)
	}
	pops, err := bls.SignaturesFromBytes(sigEncs)
	if err != nil {
		return nil, fmt.Errorf("%w: proofs of possession (item = validator): %w", ErrMalformed, err)
	}
	// Policy: a proof of possession at infinity decodes (the BLS layer
	// follows the specification) but verifies under no key, and an honest
	// dealer never sends one: refuse it as malformed, naming the validator.
	for v, pop := range pops {
		if pop.IsInfinity() {
			return nil, fmt.Errorf("%w: proof of possession of validator %d: %w", ErrMalformed, v, bls.ErrInfinity)
		}
	}
	c := &commitments{coeffs: make([][]*bls.PublicKey, l.validators), pops: pops}
	for v := range l.validators {
		c.coeffs[v] = keys[v*l.t : (v+1)*l.t : (v+1)*l.t]
	}
	return c, nil
}

func appendCommitments(b []byte, c *commitments) []byte {
	for v := range c.coeffs {
		for _, pk := range c.coeffs[v] {
			x := pk.Bytes()
			b = append(b, x[:]...)
		}
		s := c.pops[v].Bytes()
		b = append(b, s[:]...)
	}
	return b
}

// shares is a dealer's private message to one recipient: f_v(recipient)
// for every validator v.
type shares struct {
	values []bls.Scalar
}

func (s *shares) zero() {
	if s != nil {
		for i := range s.values {
			s.values[i].Zero()
		}
	}
}

func (l layout) parseShares(r *reader) (*shares, error) {
	if got, want := r.Left(), l.validators*32; got != want {
		return nil, fmt.Errorf("%w: shares body has %d bytes, want %d for %d validators", ErrMalformed, got, want, l.validators)
	}
	s := &shares{values: make([]bls.Scalar, l.validators)}
	for v := range l.validators {
		x, err := bls.ScalarFromBytes(r.Bytes(32, "share"))
		if err != nil {
			s.zero()
			return nil, fmt.Errorf("%w: share of validator %d: %w", ErrMalformed, v, err)
		}
		s.values[v] = x
	}
	return s, r.End("shares")
}

func appendShares(b []byte, values []bls.Scalar) []byte {
	for i := range values {
		x := values[i].Bytes()
		b = append(b, x[:]...)
		clear(x[:])
	}
	return b
}

// complaint names a dealer whose shares to the complainer failed
// verification, and for which validators.
type complaint struct {
	dealer     tss.ID
	validators []uint32
}

// echo is a participant's view of the dealing round: the hash of every
// dealer's commitments message as received (participant order) and its
// complaints (ascending dealer order).
type echo struct {
	hashes     [][32]byte
	complaints []complaint
}

func appendEcho(b []byte, e *echo) []byte {
	for _, h := range e.hashes {
		b = append(b, h[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.complaints)))
	for _, c := range e.complaints {
		b = binary.BigEndian.AppendUint64(b, uint64(c.dealer))
		b = appendIndexes(b, c.validators)
	}
	return b
}

func appendIndexes(b []byte, vs []uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(vs)))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// participantField reads a participant id that must be a participant other
// than the sender, above the previous one in the list.
func (l layout) participantField(r *reader, field string, sender, prev tss.ID) tss.ID {
	id := tss.ID(r.U64(field))
	if r.Err != nil {
		return 0
	}
	switch _, ok := l.index[id]; {
	case !ok:
		r.Fail("%s %s is not a participant", field, id)
	case id == sender:
		r.Fail("%s names the sender itself", field)
	case id <= prev:
		r.Fail("%s %s is not above %s: list must be ascending", field, id, prev)
	}
	return id
}

// countField reads a list length between 1 and max.
func countField(r *reader, field string, max int) int {
	n := int(r.U32(field))
	if r.Err == nil && (n < 1 || n > max) {
		r.Fail("%s is %d, want 1 to %d", field, n, max)
	}
	return n
}

// indexField reads a validator index below limit, above prev (or any, for
// the first).
func indexField(r *reader, limit int, prev int64) uint32 {
	v := r.U32("validator index")
	if r.Err == nil && (int(v) >= limit || int64(v) <= prev) {
		r.Fail("validator index %d is out of range or not ascending", v)
	}
	return v
}

// parseEntries reads what echoes and justifications share: a u16 count of
// entries, each a participant (ascending, not the sender) with a u32 count
// of ascending validator indexes; item is called after each index, to read
// what follows it.
func (l layout) parseEntries(r *reader, what string, sender tss.ID, item func(id tss.ID, v uint32)) {
	count := int(r.U16(what + " count"))
	if r.Err == nil && count > l.n-1 {
		r.Fail("%d %ss, at most %d", count, what, l.n-1)
	}
	var prev tss.ID
	for i := 0; i < count && r.Err == nil; i++ {
		id := l.participantField(r, what+" participant", sender, prev)
		prev = id
		m := countField(r, what+" validator count", l.validators)
		last := int64(-1)
		for k := 0; k < m && r.Err == nil; k++ {
			v := indexField(r, l.validators, last)
			last = int64(v)
			item(id, v)
		}
	}
}

func (l layout) parseEcho(r *reader, sender tss.ID) (*echo, error) {
	e := &echo{hashes: make([][32]byte, l.n)}
	for i := range e.hashes {
		copy(e.hashes[i][:], r.Bytes(32, "commitments hash"))
	}
	l.parseEntries(r, "complaint", sender, func(dealer tss.ID, v uint32) {
		if n := len(e.complaints); n == 0 || e.complaints[n-1].dealer != dealer {
			e.complaints = append(e.complaints, complaint{dealer: dealer})
		}
		c := &e.complaints[len(e.complaints)-1]
		c.validators = append(c.validators, v)
	})
	if err := r.End("echo"); err != nil {
		return nil, err
	}
	return e, nil
}

// answer reveals, for one complainer, the shares it complained about.
type answer struct {
	complainer tss.ID
	validators []uint32
	shares     []bls.Scalar
}

// justification is a dealer's public answer to every complaint against it
// (ascending complainer order).
type justification struct {
	answers []answer
}

// share returns the revealed share of validator v for complainer.
func (j *justification) share(complainer tss.ID, v uint32) (bls.Scalar, bool) {
	for _, a := range j.answers {
		if a.complainer != complainer {
			continue
		}
		if i, ok := slices.BinarySearch(a.validators, v); ok {
			return a.shares[i], true
		}
	}
	return bls.Scalar{}, false
}

func appendJustification(b []byte, j *justification) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(j.answers)))
	for _, a := range j.answers {
		b = binary.BigEndian.AppendUint64(b, uint64(a.complainer))
		b = binary.BigEndian.AppendUint32(b, uint32(len(a.validators)))
		for i, v := range a.validators {
			b = binary.BigEndian.AppendUint32(b, v)
			b = appendShares(b, a.shares[i:i+1])
		}
	}
	return b
}

func (l layout) parseJustification(r *reader, sender tss.ID) (*justification, error) {
	j := &justification{}
	l.parseEntries(r, "answer", sender, func(complainer tss.ID, v uint32) {
		x, err := bls.ScalarFromBytes(r.Bytes(32, "revealed share"))
		if r.Err == nil && err != nil {
			r.Fail("revealed share of validator %d: %v", v, err)
		}
		if n := len(j.answers); n == 0 || j.answers[n-1].complainer != complainer {
			j.answers = append(j.answers, answer{complainer: complainer})
		}
		a := &j.answers[len(j.answers)-1]
		a.validators = append(a.validators, v)
		a.shares = append(a.shares, x)
	})
	if err := r.End("justification"); err != nil {
		return nil, err
	}
	return j, nil
}

// confirmation is a participant's signature over the transcript hash with
// the sum of its new shares.
type confirmation struct {
	transcript [32]byte
	sig        *bls.Signature
}

func appendConfirmation(b []byte, c *confirmation) []byte {
	b = append(b, c.transcript[:]...)
	s := c.sig.Bytes()
	return append(b, s[:]...)
}

func parseConfirmation(r *reader) (*confirmation, error) {
	c := &confirmation{}
	copy(c.transcript[:], r.Bytes(32, "transcript hash"))
	sigBytes := r.Bytes(bls.SignatureLength, "confirmation signature")
	if err := r.End("confirmation"); err != nil {
		return nil, err
	}
	sig, err := bls.SignatureFromBytes(sigBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: confirmation signature: %w", ErrMalformed, err)
	}
	// Policy: no honest participant signs its confirmation to infinity;
	// refuse it as malformed rather than let it fail verification later.
	if sig.IsInfinity() {
		return nil, fmt.Errorf("%w: confirmation signature: %w", ErrMalformed, bls.ErrInfinity)
	}
	c.sig = sig
	return c, nil
}
