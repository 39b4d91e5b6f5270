package vc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Errors a caller decides on; compare with errors.Is.
var (
	// ErrDoppelganger: during doppelganger detection a validator of the
	// cluster was seen live, so something else signs for it. Run returns
	// it (as a [*DoppelgangerError]) without having signed anything; do not
	// restart the client until the other signer is found and stopped.
	ErrDoppelganger = errors.New("vc: doppelganger detected")
	// ErrUnknownValidator: the beacon chain does not know the validator
	// (no deposit processed yet, or not this network's).
	ErrUnknownValidator = errors.New("vc: validator unknown to the beacon chain")
	// ErrCannotExit: the validator cannot exit now (not active, already
	// exiting or exited, or not active long enough).
	ErrCannotExit = errors.New("vc: validator cannot exit")
)

// DoppelgangerError names the validators seen live during detection.
type DoppelgangerError struct {
	// Epoch is the epoch in which they were seen.
	Epoch phase0.Epoch
	// Validators are their indices.
	Validators []phase0.ValidatorIndex
}

func (e *DoppelgangerError) Error() string {
	ids := make([]string, len(e.Validators))
	for i, v := range e.Validators {
		ids[i] = fmt.Sprint(uint64(v))
	}
	return fmt.Sprintf("%v: validators %s were live in epoch %d while this client had signed nothing; another client signs for them", ErrDoppelganger, strings.Join(ids, ", "), e.Epoch)
}

// Unwrap makes errors.Is(err, ErrDoppelganger) hold.
func (e *DoppelgangerError) Unwrap() error { return ErrDoppelganger }
