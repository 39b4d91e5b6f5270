package reshare

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
	"github.com/rampart-signer/rampart/tss/internal/wire"
)

// The rounds and their message kinds are the DKG's (package dkg): deal
// (commitments broadcast, sub-shares to each new member), echo, justify,
// confirm. Only the senders differ: dealers send commitments, sub-shares
// and justifications; new members send echoes and confirmations.
const (
	KindCommitments   = dkg.KindCommitments
	KindShares        = dkg.KindShares
	KindEcho          = dkg.KindEcho
	KindJustification = dkg.KindJustification
	KindConfirmation  = dkg.KindConfirmation
	numKinds          = int(dkg.KindConfirmation) + 1
)

// Message is one message for the transport to deliver, encoded.
type Message struct {
	// To is the recipient, or 0 for a broadcast: deliver to every other
	// member of the session (dealers and new members).
	To tss.ID
	// Kind is the message's round.
	Kind dkg.Kind
	// Bytes is the encoded message. For KindShares it contains secret
	// sub-shares: send it only over the encrypted, mutually authenticated
	// channel to its recipient, and never log or store it unsealed.
	Bytes []byte
}

// String describes the message without its content.
func (m Message) String() string {
	to := "every member"
	if m.To != 0 {
		to = "member " + m.To.String()
	}
	return fmt.Sprintf("reshare %s message to %s (%d bytes)", m.Kind, to, len(m.Bytes))
}

// Format prints [Message.String] for every verb, so that sub-shares never
// reach a log through %v or %x.
func (m Message) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// Wire format: a fixed header, then a body whose layout depends on the kind
// and whose size follows from the configuration.
//
//	magic "RRSH" | version u8 | kind u8 | session id [32] | sender u64 | recipient u64 (0: broadcast) | body
const (
	magic       = "RRSH"
	wireVersion = 1
	headerLen   = wire.HeaderLen
)

var wireFormat = wire.Format{Magic: magic, Version: wireVersion, Name: "resharing", IDField: "session id", Malformed: ErrMalformed, BadVersion: ErrVersion}

type header struct {
	kind     dkg.Kind
	session  [32]byte
	from, to tss.ID
}

func appendHeader(b []byte, h header) []byte {
	return wireFormat.Append(b, wire.Header{Kind: uint8(h.kind), ID: h.session, From: h.from, To: h.to})
}

// parseHeader decodes the header and returns a reader positioned at the
// body.
func parseHeader(b []byte) (header, *reader, error) {
	w, r, err := wireFormat.Parse(b)
	h := header{kind: dkg.Kind(w.Kind), session: w.ID, from: w.From, to: w.To}
	if err != nil {
		return h, nil, err
	}
	if h.kind < KindCommitments || h.kind > KindConfirmation {
		return h, nil, fmt.Errorf("%w: unknown message kind %d", ErrMalformed, uint8(h.kind))
	}
	return h, r, nil
}

// layout holds what parsing needs from the configuration: the dealers, the
// new members, and everyone (their union), each with an index.
type layout struct {
	mode                   Mode
	tOld, t, validators    int
	dealers, members, all  []tss.ID
	dealerAt, memberAt, at map[tss.ID]int
	// repaired is the member a repair restores (0 otherwise). In a repair
	// the members (who receive sub-shares, echo and complain) are the
	// dealers themselves.
	repaired tss.ID
}

func newLayout(c *Config) layout {
	l := layout{mode: c.Mode, tOld: c.OldThreshold, t: c.NewThreshold, validators: len(c.Accounts),
		dealers: c.Dealers, members: c.NewMembers, dealerAt: map[tss.ID]int{}, memberAt: map[tss.ID]int{}, at: map[tss.ID]int{}}
	for i, id := range c.Dealers {
		l.dealerAt[id] = i
	}
	if c.Mode == ModeRepair {
		l.repaired, l.members = c.NewMembers[0], c.Dealers
	}
	for i, id := range l.members {
		l.memberAt[id] = i
	}
	l.all = slices.Clone(c.Dealers)
	for _, id := range c.NewMembers {
		if _, ok := l.dealerAt[id]; !ok {
			l.all = append(l.all, id)
		}
	}
	slices.Sort(l.all)
	for i, id := range l.all {
		l.at[id] = i
	}
	return l
}

// infinityG1 is the canonical compressed encoding of the identity of G1:
// the only constant term a refresh dealer's commitments may have.
var infinityG1 = func() []byte {
	b := make([]byte, bls.PublicKeyLength)
	b[0] = 0xc0
	return b
}()

// commitments is a dealer's public message: coeffs[v][k] = a_{v,k}·G1 for
// the sub-sharing polynomial of validator v. In a refresh coeffs[v][0] is
// the identity, encoded as such and held as nil.
type commitments struct {
	coeffs [][]*bls.PublicKey
}

func (l layout) commitmentsBodyLen() int { return l.validators * l.t * bls.PublicKeyLength }

func (l layout) parseCommitments(r *reader) (*commitments, error) {
	if got, want := r.Left(), l.commitmentsBodyLen(); got != want {
		return nil, fmt.Errorf("%w: commitments body has %d bytes, want %d for %d validators at new threshold %d", ErrMalformed, got, want, l.validators, l.t)
	}
	encs := make([][]byte, 0, l.validators*l.t)
	for v := range l.validators {
		for k := range l.t {
			b := r.Bytes(bls.PublicKeyLength, "commitment")
			if k == 0 && l.mode == ModeRefresh {
				if string(b) != string(infinityG1) {
					return nil, fmt.Errorf("%w: refresh commitment of validator %d: the constant term is not the identity (a refresh must share zero)", ErrMalformed, v)
				}
				continue
			}
			encs = append(encs, b)
		}
	}
	if err := r.End("commitments"); err != nil {
		return nil, err
	}
	keys, err := bls.PublicKeysFromBytes(encs)
	if err != nil {
		return nil, fmt.Errorf("%w: commitments: %w", ErrMalformed, err)
	}
	c := &commitments{coeffs: make([][]*bls.PublicKey, l.validators)}
	per := l.t
	if l.mode == ModeRefresh {
		per = l.t - 1
	}
	for v := range l.validators {
		row := keys[v*per : (v+1)*per : (v+1)*per]
		if l.mode == ModeRefresh {
			row = append([]*bls.PublicKey{nil}, row...)
		}
		c.coeffs[v] = row
	}
	return c, nil
}

func appendCommitments(b []byte, c *commitments) []byte {
	for v := range c.coeffs {
		for _, pk := range c.coeffs[v] {
			if pk == nil {
				b = append(b, infinityG1...)
				continue
			}
			x := pk.Bytes()
			b = append(b, x[:]...)
		}
	}
	return b
}

// shares is a dealer's private message to one new member: g_v(member) for
// every validator v.
type shares struct {
	values []bls.Scalar
}

func (s *shares) zero() {
	if s != nil {
		zeroScalars(s.values)
	}
}

func (l layout) parseShares(r *reader) (*shares, error) {
	if got, want := r.Left(), l.validators*32; got != want {
		return nil, fmt.Errorf("%w: sub-shares body has %d bytes, want %d for %d validators", ErrMalformed, got, want, l.validators)
	}
	s := &shares{values: make([]bls.Scalar, l.validators)}
	for v := range l.validators {
		x, err := bls.ScalarFromBytes(r.Bytes(32, "sub-share"))
		if err != nil {
			s.zero()
			return nil, fmt.Errorf("%w: sub-share of validator %d: %w", ErrMalformed, v, err)
		}
		s.values[v] = x
	}
	return s, r.End("sub-shares")
}

func appendShares(b []byte, values []bls.Scalar) []byte {
	for i := range values {
		x := values[i].Bytes()
		b = append(b, x[:]...)
		clear(x[:])
	}
	return b
}

// complaint names a dealer whose sub-shares to the complainer failed
// verification, and for which validators.
type complaint struct {
	dealer     tss.ID
	validators []uint32
}

// echo is a new member's view of the dealing round: the hash of every
// dealer's commitments message as received (dealer order) and its
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
		b = binary.BigEndian.AppendUint32(b, uint32(len(c.validators)))
		for _, v := range c.validators {
			b = binary.BigEndian.AppendUint32(b, v)
		}
	}
	return b
}

// parseEntries reads what echoes and justifications share: a u16 count of
// entries, each an id of the given set (ascending, not the sender) with a
// u32 count of ascending validator indexes; item is called after each
// index, to read what follows it.
func (l layout) parseEntries(r *reader, what string, set map[tss.ID]int, sender tss.ID, item func(id tss.ID, v uint32)) {
	count := int(r.U16(what + " count"))
	if r.Err == nil && count > len(set) {
		r.Fail("%d %ss, at most %d", count, what, len(set))
	}
	var prev tss.ID
	for i := 0; i < count && r.Err == nil; i++ {
		id := tss.ID(r.U64(what + " member"))
		if r.Err != nil {
			return
		}
		switch _, ok := set[id]; {
		case !ok:
			r.Fail("%s member %s is not in the role this entry needs", what, id)
		case id == sender:
			r.Fail("%s member names the sender itself", what)
		case id <= prev:
			r.Fail("%s member %s is not above %s: list must be ascending", what, id, prev)
		}
		prev = id
		m := int(r.U32(what + " validator count"))
		if r.Err == nil && (m < 1 || m > l.validators) {
			r.Fail("%s validator count is %d, want 1 to %d", what, m, l.validators)
		}
		last := int64(-1)
		for k := 0; k < m && r.Err == nil; k++ {
			v := r.U32("validator index")
			if r.Err == nil && (int(v) >= l.validators || int64(v) <= last) {
				r.Fail("validator index %d is out of range or not ascending", v)
			}
			last = int64(v)
			if r.Err == nil {
				item(id, v)
			}
		}
	}
}

func (l layout) parseEcho(r *reader, sender tss.ID) (*echo, error) {
	e := &echo{hashes: make([][32]byte, len(l.dealers))}
	for i := range e.hashes {
		copy(e.hashes[i][:], r.Bytes(32, "commitments hash"))
	}
	l.parseEntries(r, "complaint", l.dealerAt, sender, func(dealer tss.ID, v uint32) {
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

// answer reveals, for one complainer, the sub-shares it complained about.
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

// share returns the revealed sub-share of validator v for complainer.
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
	l.parseEntries(r, "answer", l.memberAt, sender, func(complainer tss.ID, v uint32) {
		x, err := bls.ScalarFromBytes(r.Bytes(32, "revealed sub-share"))
		if r.Err == nil && err != nil {
			r.Fail("revealed sub-share of validator %d: %v", v, err)
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

// confirmation is a new member's signature, with the sum of its new
// shares, over the transcript and the new configuration's hash.
type confirmation struct {
	transcript, configuration [32]byte
	sig                       *bls.Signature
}

func appendConfirmation(b []byte, c *confirmation) []byte {
	b = append(b, c.transcript[:]...)
	b = append(b, c.configuration[:]...)
	s := c.sig.Bytes()
	return append(b, s[:]...)
}

func parseConfirmation(r *reader) (*confirmation, error) {
	c := &confirmation{}
	copy(c.transcript[:], r.Bytes(32, "transcript hash"))
	copy(c.configuration[:], r.Bytes(32, "configuration hash"))
	sigBytes := r.Bytes(bls.SignatureLength, "confirmation signature")
	if err := r.End("confirmation"); err != nil {
		return nil, err
	}
	sig, err := bls.SignatureFromBytes(sigBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: confirmation signature: %w", ErrMalformed, err)
	}
	if sig.IsInfinity() {
		return nil, fmt.Errorf("%w: confirmation signature: %w", ErrMalformed, bls.ErrInfinity)
	}
	c.sig = sig
	return c, nil
}

func zeroScalars(s []bls.Scalar) {
	for i := range s {
		s[i].Zero()
	}
}

// masked is a helper's private message to the repaired member in a repair:
// the transcript it saw and, per validator, its share masked by the
// qualified dealers' sub-shares (which are zero at the repaired index).
type masked struct {
	transcript [32]byte
	values     []bls.Scalar
}

func (l layout) parseMasked(r *reader) (*masked, error) {
	if got, want := r.Left(), 32+l.validators*32; got != want {
		return nil, fmt.Errorf("%w: masked shares body has %d bytes, want %d for %d validators", ErrMalformed, got, want, l.validators)
	}
	m := &masked{values: make([]bls.Scalar, l.validators)}
	copy(m.transcript[:], r.Bytes(32, "transcript hash"))
	for v := range l.validators {
		x, err := bls.ScalarFromBytes(r.Bytes(32, "masked share"))
		if err != nil {
			zeroScalars(m.values)
			return nil, fmt.Errorf("%w: masked share of validator %d: %w", ErrMalformed, v, err)
		}
		m.values[v] = x
	}
	return m, r.End("masked shares")
}
