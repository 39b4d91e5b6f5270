package beacon

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a caller decides on. Every error a [Client] method returns wraps
// one or more of them (through [*NodeError] when a node answered); compare
// with errors.Is.
var (
	// ErrNoNode: no beacon node is usable for the call: none is connected,
	// every one is on another network, or (before Run has checked them) none
	// has been verified yet. Retry later.
	ErrNoNode = errors.New("beacon: no usable beacon node")
	// ErrInvalidRequest: the caller's input is wrong (nil or empty where
	// something is required, an object of the wrong fork for its slot, an
	// Electra attestation that is not a single attestation, ...). Nothing
	// was sent.
	ErrInvalidRequest = errors.New("beacon: invalid request")
	// ErrRejected: a beacon node refused the request with a 4xx status. The
	// request is not sent to the other nodes (their answer would be the
	// same, and a refusal says nothing about the node's health); for a
	// submission it means no node accepted it.
	ErrRejected = errors.New("beacon: request rejected by the beacon node")
	// ErrUnavailable: a node could not answer: connection error, timeout,
	// 5xx status, 408/429, or not synced. The next node is tried.
	ErrUnavailable = errors.New("beacon: beacon node unavailable")
	// ErrInvalidResponse: a node answered with data that fails validation
	// (duties outside the requested epoch, attestation data for another
	// slot, a block for another fork, ...). The node is reported and the
	// next one is tried.
	ErrInvalidResponse = errors.New("beacon: invalid response from the beacon node")
)

// NodeError is the failure of one call to one node.
type NodeError struct {
	// Node is the node's configured name (never its URL, which may hold
	// credentials).
	Node string
	// Op names the call, e.g. "attester_duties".
	Op string
	// Kind is ErrRejected, ErrUnavailable or ErrInvalidResponse.
	Kind error
	// Status is the HTTP status of a refusal, or 0.
	Status int
	// Err is the underlying error.
	Err error
}

func (e *NodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "beacon node %s: %s: ", e.Node, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, "status %d: ", e.Status)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the kind and the underlying error, so errors.Is matches
// both.
func (e *NodeError) Unwrap() []error { return []error{e.Kind, e.Err} }

// invalid wraps a validation failure of a response.
func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidResponse, fmt.Sprintf(format, a...))
}

// badRequest wraps a validation failure of the caller's input.
func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, a...))
}
