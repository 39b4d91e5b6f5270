package reshare

import (
	"fmt"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// EvidenceKind says what a member did wrong.
type EvidenceKind uint8

// Kinds of evidence. The ones marked "disqualifies" exclude the dealer's
// sub-shares from every validator of the session.
const (
	// EvidenceConflict: the member sent two different messages of one
	// kind (to this member). The first one stands.
	EvidenceConflict EvidenceKind = iota + 1
	// EvidenceEquivocation: the Reporter's echo shows different
	// commitments from the dealer than this member received
	// (disqualifies).
	EvidenceEquivocation
	// EvidenceWrongConstant: the constant term of the dealer's
	// commitments is not its public share in the current configuration:
	// it is sub-sharing something else than its share; in a repair, its
	// masking polynomial is not zero at the repaired index (disqualifies).
	EvidenceWrongConstant
	// EvidenceBadShare: the Reporter complained that a sub-share from the
	// dealer does not match the dealer's commitments.
	EvidenceBadShare
	// EvidenceUnanswered: the dealer did not reveal a complained-about
	// sub-share (disqualifies).
	EvidenceUnanswered
	// EvidenceInvalidJustification: the sub-share the dealer revealed does
	// not match its commitments either (disqualifies).
	EvidenceInvalidJustification
	// EvidenceAnsweredComplaint: the dealer answered the Reporter's
	// complaint with a valid sub-share.
	EvidenceAnsweredComplaint
	// EvidenceBadMaskedShare: in a repair, the helper's masked shares do
	// not match its public share and the qualified masks; the repaired
	// member leaves them out.
	EvidenceBadMaskedShare
)

// String names the kind.
func (k EvidenceKind) String() string {
	switch k {
	case EvidenceConflict:
		return "conflicting duplicate message"
	case EvidenceEquivocation:
		return "different commitments shown to different members"
	case EvidenceWrongConstant:
		return "commitments do not commit to what the dealer must share (its public share; zero at the repaired index in a repair)"
	case EvidenceBadShare:
		return "sub-share does not match commitments"
	case EvidenceUnanswered:
		return "complaint not answered"
	case EvidenceInvalidJustification:
		return "revealed sub-share does not match commitments"
	case EvidenceAnsweredComplaint:
		return "complaint answered with a valid sub-share"
	case EvidenceBadMaskedShare:
		return "masked share does not match the public data"
	}
	return fmt.Sprintf("evidence(%d)", uint8(k))
}

// Evidence records one misbehaviour seen by this member.
type Evidence struct {
	// Against is the member at fault.
	Against tss.ID
	// Kind is what it did.
	Kind EvidenceKind
	// Reporter is the member whose message shows it (this member for
	// what it saw itself).
	Reporter tss.ID
	// Validator is the validator index concerned, or -1.
	Validator int
}

// String describes the evidence.
func (e Evidence) String() string {
	s := fmt.Sprintf("member %s: %s (reported by %s", e.Against, e.Kind, e.Reporter)
	if e.Validator >= 0 {
		s += fmt.Sprintf(", validator %d", e.Validator)
	}
	return s + ")"
}

// Result is what a finished resharing made, as this member holds it.
type Result struct {
	// SessionID identifies the session.
	SessionID [32]byte
	// Transcript is the hash every new member confirmed.
	Transcript [32]byte
	// Configuration is the new configuration's hash (the session, the
	// new members and threshold, every validator's new component keys),
	// which every new member signed with its new shares. Partial
	// signatures and coordinator requests are bound to it at cutover, so
	// that old and new partials are never combined.
	Configuration [32]byte
	// Qualified lists the dealers whose sub-shares make the new shares.
	Qualified []tss.ID
	// Disqualified holds, for each excluded dealer, the evidence that
	// excluded it.
	Disqualified []Evidence
	// Validators lists the validators in configuration order: the new
	// account, and this member's new share (nil at a dealer that is not a
	// new member).
	Validators []dkg.Validator
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
