package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
)

// Participant is one threshold signer as the coordinator uses it: over HTTPS
// ([HTTPParticipant]) or in process (the signer's own participant).
type Participant interface {
	// ID is the participant id the operator configured for this endpoint;
	// answers are bound to it, never to the id an answer claims.
	ID() tss.ID
	// Accounts lists the distributed accounts the participant holds.
	Accounts(ctx context.Context) ([]api.Account, error)
	// SignPartial sends one signing request (JSON) for one composite key.
	SignPartial(ctx context.Context, identifier api.PublicKey, request []byte) (api.PartialSignature, error)
	// SignPartialBatch sends a batch signing request (JSON body with
	// identifiers and signing_request) and returns one result per
	// identifier, in order.
	SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error)
}

// StatusError is a participant's refusal with an HTTP status, as the
// Remote Signing API defines them (400, 403, 404, 412, 503...).
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("status %d", e.Code)
	}
	return fmt.Sprintf("status %d: %s", e.Code, e.Message)
}

// Status returns the HTTP status carried by err, or 0.
func Status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// Errors a caller of Sign or SignBatch decides on.
var (
	// ErrUnknownAccount is returned for a composite key no discovered
	// account has (404).
	ErrUnknownAccount = errors.New("coordinator: unknown account")
	// ErrNotEnoughPartials is returned when fewer than threshold
	// participants gave a valid partial signature. The error is a
	// [*ShortfallError] naming each participant and why.
	ErrNotEnoughPartials = errors.New("coordinator: not enough valid partial signatures")
	// ErrDiscovery is returned when the participants' account views do not
	// fit together.
	ErrDiscovery = errors.New("coordinator: inconsistent discovery")
)

// ParticipantFailure says why one participant gave no share.
type ParticipantFailure struct {
	ID  tss.ID
	Err error
}

// ShortfallError reports a signature that could not be recovered.
type ShortfallError struct {
	Threshold int
	Valid     int
	Failures  []ParticipantFailure
}

func (e *ShortfallError) Error() string {
	msg := fmt.Sprintf("coordinator: %d of %d required partial signatures", e.Valid, e.Threshold)
	for i, f := range e.Failures {
		if i == 0 {
			msg += ": "
		} else {
			msg += "; "
		}
		msg += fmt.Sprintf("participant %s: %v", f.ID, f.Err)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNotEnoughPartials) hold.
func (e *ShortfallError) Unwrap() error { return ErrNotEnoughPartials }

// undiscovered reports whether some member was not asked for want of a
// component key.
func (e *ShortfallError) undiscovered() bool {
	for _, f := range e.Failures {
		if errors.Is(f.Err, errUndiscovered) {
			return true
		}
	}
	return false
}

// Code is the HTTP status the coordinator's caller should answer with: a
// slashing refusal (412) from any participant wins, since it is a safety
// decision the client must see; then a request error every answering
// participant agreed on (400, 403, 404); otherwise 503, the cluster being
// temporarily short of participants.
func (e *ShortfallError) Code() int {
	codes := map[int]int{}
	answered := 0
	for _, f := range e.Failures {
		if c := Status(f.Err); c != 0 {
			codes[c]++
			answered++
		}
	}
	if codes[412] > 0 {
		return 412
	}
	for _, c := range []int{400, 403, 404} {
		if answered > 0 && codes[c] == answered {
			return c
		}
	}
	return 503
}
