package signing_test

import "github.com/rampart-signer/rampart/internal/signing"

// forward is what a coordinator forwards of a request it decoded: the
// bytes it received.
func forward(r *signing.Request) ([]byte, error) { return r.Received(), nil }
