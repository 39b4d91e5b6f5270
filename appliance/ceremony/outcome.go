package ceremony

import (
	"errors"
	"fmt"

	"github.com/rampart-signer/rampart/tss/dkg"
)

// The outcomes of a batch's step other than success. Each is an error, so
// that a step's result is told apart with errors.Is and errors.As, never
// by comparing strings.
var (
	// errNotPersisted: the state could not be persisted. The message that
	// caused the step is not acknowledged (503), and its retry persists it.
	errNotPersisted = errors.New("could not persist the ceremony state")
	// errEnded: the ceremony ended (aborted) while the step waited; the
	// answer carries the ceremony's own reason.
	errEnded = errors.New("the ceremony ended")
)

// abortError: the ceremony cannot go on here; reason is what the abort
// records and every participant is told.
type abortError struct{ reason string }

func (e *abortError) Error() string { return e.reason }

// abortf is an abortError with a formatted reason.
func abortf(format string, args ...any) error {
	return &abortError{reason: fmt.Sprintf(format, args...)}
}

// reasonOf is the reason to record for an error that ends the ceremony:
// prefixed with what failed, when given.
func reasonOf(err error, prefix string) string {
	if prefix != "" {
		return prefix + ": " + err.Error()
	}
	return err.Error()
}

// dkgAbort describes a dkg abort of batch index for the record.
func dkgAbort(index int, err error) error {
	switch {
	case errors.Is(err, dkg.ErrTranscriptMismatch):
		return abortf("batch %d: participants confirmed different transcripts: %v", index, err)
	case errors.Is(err, dkg.ErrNotEnoughQualified):
		return abortf("batch %d: too many participants disqualified: %v", index, err)
	}
	return abortf("batch %d: %v", index, err)
}
