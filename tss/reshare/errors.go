package reshare

import "errors"

// Errors returned by a resharing. Callers compare with errors.Is; messages
// name the field, sender or validator at fault and never contain secrets.
var (
	// ErrConfig is returned for a configuration that fails
	// [Config.Validate], or old shares that do not belong to it.
	ErrConfig = errors.New("reshare: invalid configuration")
	// ErrMalformed is returned for a message that does not parse: wrong
	// magic or kind, wrong length, a field out of range, a point not in the
	// subgroup, a scalar not below the group order, lists not strictly
	// ascending, a refresh commitment whose constant term is not the
	// identity. The message changes nothing.
	ErrMalformed = errors.New("reshare: malformed message")
	// ErrVersion is returned for a message of a format version this code
	// does not speak.
	ErrVersion = errors.New("reshare: unsupported format version")
	// ErrWrongCeremony is returned for a message bound to another session:
	// replayed from an earlier resharing, or sent by a member configured
	// differently (another nonce, other members, another threshold, other
	// keys).
	ErrWrongCeremony = errors.New("reshare: message belongs to another session")
	// ErrSender is returned when a message's sender is not acceptable: not
	// a member, not in the role the message kind needs (only dealers deal
	// and justify, only new members echo and confirm), this member itself,
	// or not the peer the transport authenticated.
	ErrSender = errors.New("reshare: message from an unexpected sender")
	// ErrWrongRecipient is returned for sub-shares addressed to another
	// member, or a broadcast message that names a recipient.
	ErrWrongRecipient = errors.New("reshare: message addressed to another member")
	// ErrConflict is returned when a sender delivers a second, different
	// message of a kind it already sent (equivocation). The first one
	// stands; the conflict is kept as [Evidence] against the sender.
	ErrConflict = errors.New("reshare: conflicting message from the same sender")
	// ErrAborted is returned once the resharing has ended without new
	// shares. It also matches its cause.
	ErrAborted = errors.New("reshare: resharing aborted")
	// ErrNotEnoughQualified is the cause of an abort when fewer than the
	// old threshold of dealers remain qualified: their sub-shares cannot
	// determine the key.
	ErrNotEnoughQualified = errors.New("reshare: fewer qualified dealers than the old threshold")
	// ErrKeyChanged is the cause of an abort when the new public
	// polynomial's constant term is not the validator key, or the new
	// component keys do not lie on one polynomial of the new threshold's
	// degree: nothing may be stored.
	ErrKeyChanged = errors.New("reshare: the new configuration does not share the validator key")
	// ErrTranscriptMismatch is the cause of an abort when a new member
	// confirms another transcript or configuration.
	ErrTranscriptMismatch = errors.New("reshare: members confirmed different transcripts")
	// ErrBadConfirmation is the cause of an abort when a new member's
	// confirmation does not verify under its new component keys.
	ErrBadConfirmation = errors.New("reshare: invalid confirmation signature")
	// ErrNotFinished is returned by [Participant.Result] before the
	// resharing is done.
	ErrNotFinished = errors.New("reshare: resharing not finished")
)
