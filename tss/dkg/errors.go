package dkg

import "errors"

// Errors returned by the ceremony. Callers compare with errors.Is; messages
// name the field, sender or validator at fault and never contain secrets.
var (
	// ErrConfig is returned for a ceremony configuration that fails
	// [Config.Validate].
	ErrConfig = errors.New("dkg: invalid ceremony configuration")
	// ErrMalformed is returned for a message or snapshot that does not
	// parse: wrong magic or kind, wrong length, a field out of range, a
	// point not in the subgroup, a scalar not below the group order, lists
	// not strictly ascending. The message changes nothing.
	ErrMalformed = errors.New("dkg: malformed message")
	// ErrVersion is returned for a message or snapshot of a format version
	// this code does not speak.
	ErrVersion = errors.New("dkg: unsupported format version")
	// ErrWrongCeremony is returned for a message bound to another ceremony:
	// replayed from an earlier ceremony or sent by a participant configured
	// differently.
	ErrWrongCeremony = errors.New("dkg: message belongs to another ceremony")
	// ErrSender is returned when a message's sender is not acceptable: not a
	// participant, this participant itself, or not the peer the transport
	// authenticated.
	ErrSender = errors.New("dkg: message from an unexpected sender")
	// ErrWrongRecipient is returned for private shares addressed to another
	// participant, or a broadcast message that names a recipient.
	ErrWrongRecipient = errors.New("dkg: message addressed to another participant")
	// ErrConflict is returned when a sender delivers a second, different
	// message of a kind it already sent. The first one stands; the conflict
	// is kept as [Evidence] against the sender.
	ErrConflict = errors.New("dkg: conflicting message from the same sender")
	// ErrAborted is returned once the ceremony has ended without accounts.
	// The error also matches its cause: [ErrNotEnoughQualified],
	// [ErrTranscriptMismatch], [ErrBadConfirmation], or the caller's reason
	// given to [Participant.Abort].
	ErrAborted = errors.New("dkg: ceremony aborted")
	// ErrNotEnoughQualified is the cause of an abort when fewer than
	// threshold dealers remain qualified: the key would not be guaranteed
	// to contain an honest contribution.
	ErrNotEnoughQualified = errors.New("dkg: fewer qualified dealers than the threshold")
	// ErrTranscriptMismatch is the cause of an abort when a qualified
	// participant confirms another transcript: the participants did not see
	// the same ceremony.
	ErrTranscriptMismatch = errors.New("dkg: participants confirmed different transcripts")
	// ErrBadConfirmation is the cause of an abort when a qualified
	// participant's confirmation signature does not verify under its
	// component keys.
	ErrBadConfirmation = errors.New("dkg: invalid confirmation signature")
	// ErrNotFinished is returned by [Participant.Result] before the
	// ceremony is done.
	ErrNotFinished = errors.New("dkg: ceremony not finished")
)
