package hsm_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
)

// TestFailuresAreClassifiedForRestarts: a daemon must not try a wrong PIN
// again, and may try again after a device failure or a timeout.
func TestFailuresAreClassifiedForRestarts(t *testing.T) {
	for _, tc := range []struct {
		err                  error
		permanent, transient bool
	}{
		{hsm.ErrWrongPIN, true, false},
		{hsm.ErrPINLocked, true, false},
		{hsm.ErrPINSource, true, false},
		{hsm.ErrTokenNotFound, true, false},
		{hsm.ErrKeyNotFound, true, false},
		{hsm.ErrCertificate, true, false},
		{&hsm.UnsealError{Total: 1}, true, false},
		{hsm.ErrModule, false, true},
		{hsm.ErrTokenRemoved, false, true},
		{hsm.ErrTimeout, false, true},
		{hsm.ErrClosed, false, true},
		{errors.New("something else"), false, false},
		{nil, false, false},
	} {
		err := tc.err
		if err != nil {
			err = fmt.Errorf("opening: %w", err)
		}
		if got := hsm.Permanent(err); got != tc.permanent {
			t.Errorf("Permanent(%v) = %v", err, got)
		}
		if got := hsm.Transient(err); got != tc.transient {
			t.Errorf("Transient(%v) = %v", err, got)
		}
	}
}
