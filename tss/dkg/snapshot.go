package dkg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/internal/wire"
)

// Snapshot is a participant's whole state, encoded. It contains secrets
// (this dealer's shares for every participant and the shares it received):
// seal it (with the HSM) before it touches disk, and zero it afterwards. It
// redacts itself when printed.
type Snapshot []byte

// String describes the snapshot without its content.
func (s Snapshot) String() string { return fmt.Sprintf("dkg snapshot (%d bytes, secret)", len(s)) }

// Format prints [Snapshot.String] for every verb.
func (s Snapshot) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the content.
func (s Snapshot) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Zero overwrites the snapshot.
func (s Snapshot) Zero() { clear(s) }

// Snapshot format:
//
//	magic "RDKS" | version u8 | config | self u64
//	| abort cause u8 (0: running) [| reason length u16 | reason]
//	| conflict count u16 | sender u64 per conflict
//	| message count u32 | (length u32 | message) per message
//
// The messages are this participant's own commitments, its shares messages
// for every participant in participant order, then every message it
// accepted. Everything else (its later messages, the keys, the evidence
// other than conflicts) is recomputed from them on [Resume], which is
// deterministic; so a snapshot never holds a half-computed state.
const (
	snapMagic   = "RDKS"
	snapVersion = 1
)

// Abort causes in snapshots.
const (
	causeRunning uint8 = iota
	causeCaller
	causeNotEnoughQualified
	causeTranscriptMismatch
	causeBadConfirmation
)

var causes = map[uint8]error{
	causeNotEnoughQualified: ErrNotEnoughQualified,
	causeTranscriptMismatch: ErrTranscriptMismatch,
	causeBadConfirmation:    ErrBadConfirmation,
}

// Snapshot encodes the participant's state for [Resume]. Take one after
// every Deliver that returned messages, and persist it (sealed) before
// sending them: a restarted participant then resumes exactly where it was.
func (p *Participant) Snapshot() Snapshot {
	b := append([]byte(snapMagic), snapVersion)
	b = p.cfg.appendTo(b)
	b = binary.BigEndian.AppendUint64(b, uint64(p.self))
	if p.phase == PhaseAborted {
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
	if p.phase != PhaseAborted {
		msgs = append(msgs, p.raw[KindCommitments][p.me])
		msgs = append(msgs, p.sharesTo...)
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

// maxSnapshotMessages bounds the message count a snapshot may claim: own
// dealing (1 + n) and at most one message per kind and other participant.
const maxSnapshotMessages = 1 + MaxParticipants + 5*MaxParticipants

// Resume rebuilds a participant from a snapshot taken by
// [Participant.Snapshot], replaying its messages through the same checks
// as Deliver. rand supplies the coefficients of later verifications. A
// snapshot that does not parse is refused with [ErrMalformed] or
// [ErrVersion].
func Resume(s []byte, rand io.Reader) (*Participant, error) {
	r := newReader(s)
	if string(r.Bytes(4, "snapshot magic")) != snapMagic {
		return nil, fmt.Errorf("%w: not a DKG snapshot", ErrMalformed)
	}
	if v := r.U8("snapshot version"); r.Err == nil && v != snapVersion {
		return nil, fmt.Errorf("%w: snapshot version %d, this code speaks %d", ErrVersion, v, snapVersion)
	}
	cfg, err := readConfig(r)
	if err != nil {
		return nil, err
	}
	self := tss.ID(r.U64("snapshot self"))
	if r.Err != nil {
		return nil, r.Err
	}
	p, err := newParticipant(cfg, self, rand)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	cause, reason := r.Abort(causeBadConfirmation)
	nc := int(r.U16("snapshot conflict count"))
	if r.Err == nil && nc > MaxParticipants {
		r.Fail("snapshot claims %d conflicts, at most %d", nc, MaxParticipants)
	}
	for i := 0; i < nc && r.Err == nil; i++ {
		id := tss.ID(r.U64("snapshot conflict sender"))
		if _, ok := p.l.index[id]; r.Err == nil && (!ok || id == self) {
			r.Fail("conflict evidence against %s, not another participant", id)
		}
		p.evidence = append(p.evidence, Evidence{Against: id, Kind: EvidenceConflict, Reporter: self, Validator: -1})
	}
	msgs := r.Messages(maxSnapshotMessages)
	if err := r.End("snapshot"); err != nil {
		return nil, err
	}
	if cause != causeRunning {
		if len(msgs) != 0 {
			return nil, fmt.Errorf("%w: aborted snapshot holds messages", ErrMalformed)
		}
		p.phase, p.abort = PhaseAborted, &wire.AbortError{Msg: reason, Aborted: ErrAborted, Cause: causes[cause]}
		return p, nil
	}
	if err := p.restoreDealing(msgs); err != nil {
		return nil, err
	}
	last := -1
	for i, m := range msgs[1+p.l.n:] {
		h, mr, err := parseHeader(m)
		if err == nil {
			err = p.checkHeader(h.from, h)
		}
		if err == nil {
			// Canonical order (by kind, then sender) makes the encoding
			// unique and rules out two messages of one kind and sender.
			if pos := int(h.kind)*MaxParticipants + p.l.index[h.from]; pos > last {
				last = pos
			} else {
				err = fmt.Errorf("%w: out of order", ErrMalformed)
			}
		}
		if err == nil {
			err = p.accept(h, mr, p.l.index[h.from], m)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot message %d: %w", ErrMalformed, i, err)
		}
	}
	if _, err := p.advance(); err != nil && !errors.Is(err, ErrAborted) {
		return nil, err
	}
	return p, nil
}

// restoreDealing installs this participant's own dealing from the first
// 1+n snapshot messages.
func (p *Participant) restoreDealing(msgs [][]byte) error {
	if len(msgs) < 1+p.l.n {
		return fmt.Errorf("%w: snapshot holds %d messages, fewer than this participant's own dealing", ErrMalformed, len(msgs))
	}
	own := func(m []byte, k Kind, to tss.ID) (*reader, error) {
		h, r, err := parseHeader(m)
		if err != nil {
			return nil, err
		}
		if h.kind != k || h.ceremony != p.ceremony || h.from != p.self || h.to != to {
			return nil, fmt.Errorf("%w: snapshot does not start with this participant's own %s", ErrMalformed, k)
		}
		return r, nil
	}
	if _, err := own(msgs[0], KindCommitments, 0); err != nil {
		return err
	}
	dealt := make([][]bls.Scalar, p.l.n)
	for i, id := range p.l.ids {
		r, err := own(msgs[1+i], KindShares, id)
		if err != nil {
			return err
		}
		s, err := p.l.parseShares(r)
		if err != nil {
			return err
		}
		dealt[i] = s.values
	}
	return p.setDealing(slices.Clone(msgs[0]), nil, dealt)
}
