package dkg

import (
	"fmt"

	"github.com/rampart-signer/rampart/tss"
)

// Phase is where a participant is in the ceremony.
type Phase uint8

// Phases, in order. A participant waits in each until it has every message
// the phase needs, then moves on by itself.
const (
	// PhaseDeal waits for every dealer's commitments and shares.
	PhaseDeal Phase = iota + 1
	// PhaseEcho waits for every participant's echo.
	PhaseEcho
	// PhaseJustify waits for every participant's justification.
	PhaseJustify
	// PhaseConfirm waits for every qualified participant's confirmation.
	PhaseConfirm
	// PhaseDone: the accounts exist; [Participant.Result] returns them.
	PhaseDone
	// PhaseAborted: the ceremony ended without accounts.
	PhaseAborted
)

// String names the phase.
func (p Phase) String() string {
	switch p {
	case PhaseDeal:
		return "deal"
	case PhaseEcho:
		return "echo"
	case PhaseJustify:
		return "justify"
	case PhaseConfirm:
		return "confirm"
	case PhaseDone:
		return "done"
	case PhaseAborted:
		return "aborted"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// EvidenceKind says what a participant did wrong.
type EvidenceKind uint8

// Kinds of evidence. The ones marked "disqualifies" exclude the dealer's
// contribution from every validator of the ceremony.
const (
	// EvidenceConflict: the participant sent two different messages of
	// one kind (to this participant). The first one stands.
	EvidenceConflict EvidenceKind = iota + 1
	// EvidenceEquivocation: the Reporter's echo shows different
	// commitments from the dealer than this participant received
	// (disqualifies).
	EvidenceEquivocation
	// EvidenceInvalidProof: the proof of possession of a constant term did
	// not verify, a rogue-key contribution (disqualifies).
	EvidenceInvalidProof
	// EvidenceBadShare: the Reporter complained that a share from the
	// dealer does not match the dealer's commitments.
	EvidenceBadShare
	// EvidenceUnanswered: the dealer did not reveal a complained-about
	// share (disqualifies).
	EvidenceUnanswered
	// EvidenceInvalidJustification: the share the dealer revealed does not
	// match its commitments either (disqualifies).
	EvidenceInvalidJustification
	// EvidenceAnsweredComplaint: the dealer answered the Reporter's
	// complaint with a valid share: either the share first sent was bad and
	// the dealer corrected it publicly, or the complaint was unfounded.
	EvidenceAnsweredComplaint
)

// String names the kind.
func (k EvidenceKind) String() string {
	switch k {
	case EvidenceConflict:
		return "conflicting duplicate message"
	case EvidenceEquivocation:
		return "different commitments shown to different participants"
	case EvidenceInvalidProof:
		return "invalid proof of possession"
	case EvidenceBadShare:
		return "share does not match commitments"
	case EvidenceUnanswered:
		return "complaint not answered"
	case EvidenceInvalidJustification:
		return "revealed share does not match commitments"
	case EvidenceAnsweredComplaint:
		return "complaint answered with a valid share"
	}
	return fmt.Sprintf("evidence(%d)", uint8(k))
}

// Evidence records one misbehaviour seen by this participant.
type Evidence struct {
	// Against is the participant at fault.
	Against tss.ID
	// Kind is what it did.
	Kind EvidenceKind
	// Reporter is the participant whose message shows it (this participant
	// for what it saw itself).
	Reporter tss.ID
	// Validator is the validator index concerned, or -1.
	Validator int
}

// String describes the evidence.
func (e Evidence) String() string {
	s := fmt.Sprintf("participant %s: %s (reported by %s", e.Against, e.Kind, e.Reporter)
	if e.Validator >= 0 {
		s += fmt.Sprintf(", validator %d", e.Validator)
	}
	return s + ")"
}

// Validator is one validator created by the ceremony, as this participant
// holds it.
type Validator struct {
	// Account is the public part: composite key, threshold and every
	// participant's component key.
	Account tss.Account
	// Share is this participant's secret share.
	Share *tss.Share
}

// Result is what a finished ceremony created.
type Result struct {
	// CeremonyID identifies the ceremony.
	CeremonyID [32]byte
	// Transcript is the hash every qualified participant confirmed.
	Transcript [32]byte
	// Qualified lists the dealers whose contributions make the keys.
	Qualified []tss.ID
	// Disqualified holds, for each excluded dealer, the evidence that
	// excluded it.
	Disqualified []Evidence
	// Validators lists the validators in ceremony order.
	Validators []Validator
}

// Zero zeroes every share of the result.
func (r *Result) Zero() {
	if r == nil {
		return
	}
	for _, v := range r.Validators {
		v.Share.Zero()
	}
}
