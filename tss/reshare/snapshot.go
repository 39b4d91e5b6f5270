package reshare

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
	"github.com/rampart-signer/rampart/tss/internal/wire"
)

// Snapshot is a member's state, encoded, for [Resume]. It contains secrets
// (this dealer's sub-shares for every new member and the sub-shares it
// received): seal it (with the HSM) before it touches disk, and zero it
// afterwards. It redacts itself when printed. It does not hold the
// configuration nor the current shares: the caller gives those to Resume
// again, as it gave them to New.
type Snapshot []byte

// String describes the snapshot without its content.
func (s Snapshot) String() string {
	return fmt.Sprintf("reshare snapshot (%d bytes, secret)", len(s))
}

// Format prints [Snapshot.String] for every verb.
func (s Snapshot) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the content.
func (s Snapshot) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Zero overwrites the snapshot.
func (s Snapshot) Zero() { clear(s) }

// Snapshot format:
//
//	magic "RRSS" | version u8 | session id [32] | self u64
//	| abort cause u8 (0: running) [| reason length u16 | reason]
//	| conflict count u16 | sender u64 per conflict
//	| message count u32 | (length u32 | message) per message
//
// At a dealer the messages start with its own commitments and its
// sub-shares messages for every new member in member order (its own
// included); then come every message it accepted, by kind and sender.
// Everything else is recomputed on [Resume], deterministically (its echo,
// justification and confirmation come out byte for byte as sent).
const (
	snapMagic   = "RRSS"
	snapVersion = 1
)

const (
	causeRunning uint8 = iota
	causeCaller
	causeNotEnoughQualified
	causeKeyChanged
	causeTranscriptMismatch
	causeBadConfirmation
)

var causes = map[uint8]error{
	causeNotEnoughQualified: ErrNotEnoughQualified,
	causeKeyChanged:         ErrKeyChanged,
	causeTranscriptMismatch: ErrTranscriptMismatch,
	causeBadConfirmation:    ErrBadConfirmation,
}

// Snapshot encodes the member's state. Take one after every Deliver that
// returned messages, and persist it (sealed) before sending them.
func (p *Participant) Snapshot() Snapshot {
	b := append([]byte(snapMagic), snapVersion)
	b = append(b, p.session[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.self))
	if p.phase == dkg.PhaseAborted {
		b = wire.AppendAbort(b, p.abort, causes, causeCaller)
	} else {
		b = wire.AppendRunning(b)
	}
	var conflicts []tss.ID
	for _, e := range p.evidence {
		if e.Kind == EvidenceConflict {
			conflicts = append(conflicts, e.Against)
		}
	}
	b = wire.AppendConflicts(b, conflicts)
	var msgs [][]byte
	if p.phase != dkg.PhaseAborted {
		if p.dealer >= 0 {
			msgs = append(msgs, p.raw[KindCommitments][p.me])
			msgs = append(msgs, p.sharesTo...)
		}
		for k := KindCommitments; k <= KindConfirmation; k++ {
			for i, m := range p.raw[k] {
				if i != p.me && m != nil {
					msgs = append(msgs, m)
				}
			}
		}
	}
	return wire.AppendMessages(b, msgs)
}

// Resume rebuilds a member from a snapshot taken by [Participant.Snapshot],
// given the same configuration, member and current shares as [New],
// replaying the snapshot's messages through the same checks as Deliver. A
// snapshot of another session is refused with [ErrWrongCeremony]; one that
// does not parse with [ErrMalformed] or [ErrVersion].
func Resume(cfg Config, self tss.ID, old []*tss.Share, s []byte, rand io.Reader) (*Participant, error) {
	p, err := newParticipant(cfg, self, old, rand)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Participant, error) {
		p.zeroSecrets()
		return nil, err
	}
	r := newReader(s)
	if string(r.Bytes(4, "snapshot magic")) != snapMagic {
		return fail(fmt.Errorf("%w: not a resharing snapshot", ErrMalformed))
	}
	if v := r.U8("snapshot version"); r.Err == nil && v != snapVersion {
		return fail(fmt.Errorf("%w: snapshot version %d, this code speaks %d", ErrVersion, v, snapVersion))
	}
	var session [32]byte
	copy(session[:], r.Bytes(32, "snapshot session id"))
	who := tss.ID(r.U64("snapshot member"))
	if r.Err != nil {
		return fail(r.Err)
	}
	if session != p.session || who != self {
		return fail(fmt.Errorf("%w: snapshot of member %s in another session", ErrWrongCeremony, who))
	}
	cause, reason := r.Abort(causeBadConfirmation)
	nc := int(r.U16("snapshot conflict count"))
	if r.Err == nil && nc > len(p.l.all) {
		r.Fail("snapshot claims %d conflicts, at most %d", nc, len(p.l.all))
	}
	for i := 0; i < nc && r.Err == nil; i++ {
		id := tss.ID(r.U64("snapshot conflict sender"))
		if _, ok := p.l.at[id]; r.Err == nil && (!ok || id == self) {
			r.Fail("conflict evidence against %s, not another member", id)
		}
		p.evidence = append(p.evidence, Evidence{Against: id, Kind: EvidenceConflict, Reporter: self, Validator: -1})
	}
	msgs := r.Messages(1 + len(p.l.members) + numKinds*len(p.l.all))
	if err := r.End("snapshot"); err != nil {
		return fail(err)
	}
	if cause != causeRunning {
		if len(msgs) != 0 {
			return fail(fmt.Errorf("%w: aborted snapshot holds messages", ErrMalformed))
		}
		p.zeroSecrets()
		p.phase, p.abort = dkg.PhaseAborted, &wire.AbortError{Msg: reason, Aborted: ErrAborted, Cause: causes[cause]}
		return p, nil
	}
	if p.dealer >= 0 {
		if err := p.restoreDealing(msgs); err != nil {
			return fail(err)
		}
		msgs = msgs[1+len(p.l.members):]
	}
	last := -1
	for i, m := range msgs {
		h, mr, err := parseHeader(m)
		if err == nil {
			err = p.checkHeader(h.from, h)
		}
		if err == nil {
			// Canonical order (by kind, then sender) makes the encoding
			// unique and rules out two messages of one kind and sender.
			if pos := int(h.kind)*MaxMembers*2 + p.l.at[h.from]; pos > last {
				last = pos
			} else {
				err = fmt.Errorf("%w: out of order", ErrMalformed)
			}
		}
		if err == nil {
			err = p.accept(h, mr, p.l.at[h.from], m)
		}
		if err != nil {
			return fail(fmt.Errorf("%w: snapshot message %d: %w", ErrMalformed, i, err))
		}
	}
	if _, err := p.advance(); err != nil && !errors.Is(err, ErrAborted) {
		return fail(err)
	}
	return p, nil
}

// restoreDealing installs this dealer's own dealing from the snapshot's
// first 1 + (new members) messages.
func (p *Participant) restoreDealing(msgs [][]byte) error {
	if len(msgs) < 1+len(p.l.members) {
		return fmt.Errorf("%w: snapshot holds %d messages, fewer than this dealer's own dealing", ErrMalformed, len(msgs))
	}
	own := func(m []byte, k dkg.Kind, to tss.ID) (*reader, error) {
		h, r, err := parseHeader(m)
		if err != nil {
			return nil, err
		}
		if h.kind != k || h.session != p.session || h.from != p.self || h.to != to {
			return nil, fmt.Errorf("%w: snapshot does not start with this dealer's own %s", ErrMalformed, k)
		}
		return r, nil
	}
	r, err := own(msgs[0], KindCommitments, 0)
	if err != nil {
		return err
	}
	c, err := p.l.parseCommitments(r)
	if err != nil {
		return err
	}
	if p.wrongConstant(p.self, c) >= 0 {
		return fmt.Errorf("%w: snapshot's own commitments do not commit to this dealer's shares", ErrMalformed)
	}
	p.dealt = make([][]bls.Scalar, len(p.l.members))
	for i, id := range p.l.members {
		r, err := own(msgs[1+i], KindShares, id)
		if err != nil {
			return err
		}
		s, err := p.l.parseShares(r)
		if err != nil {
			return err
		}
		p.dealt[i] = s.values
	}
	p.setDealing(append([]byte(nil), msgs[0]...), c)
	return nil
}
