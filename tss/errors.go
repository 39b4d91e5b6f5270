package tss

import "errors"

// Errors returned by this package. Callers compare with errors.Is; messages
// name the offending field or participant but never contain secret values.
var (
	// ErrThreshold is returned for a threshold that is not allowed for the
	// number of participants: below 1, above n, or not above n/2.
	ErrThreshold = errors.New("tss: invalid threshold")
	// ErrInvalidID is returned for a participant id of zero: zero is the
	// coordinate of the composite key, never of a share.
	ErrInvalidID = errors.New("tss: invalid participant id")
	// ErrDuplicateID is returned when one participant id appears twice in a
	// list that must name each participant once.
	ErrDuplicateID = errors.New("tss: duplicate participant id")
	// ErrInvalidInput is returned for a missing key, signature or share, an
	// empty list, or lists that do not fit together: a caller's bug or a
	// malformed request, never a cryptographic failure.
	ErrInvalidInput = errors.New("tss: invalid input")
	// ErrNotEnoughShares is returned when fewer than threshold valid partial
	// signatures are available. The error is a [*ShortfallError] that names
	// the participants whose partials were invalid.
	ErrNotEnoughShares = errors.New("tss: not enough valid partial signatures")
	// ErrInconsistentKeys is returned when public data does not fit one
	// sharing: component keys that do not lie on one polynomial with the
	// composite key at zero, or individually valid partials that do not
	// recover a signature valid under the composite key (partials from
	// different accounts, or a wrong threshold).
	ErrInconsistentKeys = errors.New("tss: component keys do not belong to the composite key")
)

// ShortfallError reports a recovery that could not collect threshold valid
// partial signatures. It matches [ErrNotEnoughShares] with errors.Is.
type ShortfallError struct {
	// Threshold is the number of valid partials recovery needed.
	Threshold int
	// Valid is the number of partials that verified.
	Valid int
	// Bad lists the participants whose partial signature did not verify
	// under their component key, in the order given.
	Bad []ID
}

// Error describes the shortfall and names the bad participants.
func (e *ShortfallError) Error() string {
	msg := "tss: not enough valid partial signatures: " + itoa(e.Valid) + " valid, threshold " + itoa(e.Threshold)
	if len(e.Bad) > 0 {
		msg += ", invalid from participants " + joinIDs(e.Bad)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNotEnoughShares) hold.
func (e *ShortfallError) Unwrap() error { return ErrNotEnoughShares }
