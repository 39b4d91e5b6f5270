package adminapi

import "net/http"

// Every administrative request, at every signer, carries two proofs:
//
//   - an mTLS identity that is an administrator (admin.clients), or a
//     cluster peer relaying an administrator's request, naming that
//     administrator in the Rampart-On-Behalf-Of header (a signer fanning
//     out a keymanager import or removal, or the joins of a key-generation
//     ceremony, to the others);
//   - the administrative bearer token (Authorization: Bearer), whose
//     SHA-256 each signer compares in constant time with its [Verifier].
//
// Neither a peer's certificate, nor the operator's certificate, nor the
// token alone is enough.

// HeaderOnBehalfOf names the administrator whose request a cluster peer
// relays.
const HeaderOnBehalfOf = "Rampart-On-Behalf-Of"

// Actor is the sender of an administrative request as a signer
// authenticated it.
type Actor struct {
	// Client is the mTLS identity that sent the request (a description of
	// the signer itself when it acts on its own: SystemActor).
	Client string
	// OnBehalfOf is the administrator whose request Client relays; empty
	// when Client is the administrator.
	OnBehalfOf string
	// Token is the token the request carried, for relaying it; it lives
	// as long as the request, whose end zeroes it.
	Token Token
}

// SystemActor is a signer acting on its own (completing an interrupted
// removal at start-up, aborting a ceremony).
func SystemActor(what string) Actor { return Actor{Client: "rampart-signer (" + what + ")"} }

// Admin is the administrator behind the request.
func (x Actor) Admin() string {
	if x.OnBehalfOf != "" {
		return x.OnBehalfOf
	}
	return x.Client
}

// String is "admin" or "signer-2 on behalf of admin".
func (x Actor) String() string {
	if x.OnBehalfOf != "" {
		return x.Client + " on behalf of " + x.OnBehalfOf
	}
	return x.Client
}

// proofHeader is the header of an administrative proof: the bearer token
// and, when a signer relays an administrator's request, who for.
func proofHeader(tok Token, onBehalfOf string) http.Header {
	h := http.Header{}
	if !tok.IsZero() {
		h.Set("Authorization", "Bearer "+tok.Hex())
	}
	if onBehalfOf != "" {
		h.Set(HeaderOnBehalfOf, onBehalfOf)
	}
	return h
}
