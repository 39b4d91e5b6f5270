package api

import "encoding/json"

// SigningResponse is the body of a successful single signing request.
type SigningResponse struct {
	Signature Signature `json:"signature"`
}

// Error is the body of every refused request and the error object of a
// failed batch item; Code is the HTTP status the single request would get.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Conflict is set on a slashing refusal (412) for a double vote when
	// the signer still knows what it signed for that target, and only for
	// a caller that asked for it (header [ConflictHeader]): Rampart's
	// extension, which other clients never see.
	Conflict *Conflict `json:"conflict,omitempty"`
}

// ConflictHeader is the request header with which a caller that
// understands [Conflict] asks a signer to name what it already signed
// when it refuses a double vote. Callers that do not send it get the
// Remote Signing API's plain error object.
const ConflictHeader = "Rampart-Conflict"

// Conflict is what a signer already signed that made it refuse a double
// vote: the signing root, and the attestation data behind it, so that a
// second instance of a validator client can sign the same data as the
// first instead of splitting the signers between two.
type Conflict struct {
	SigningRoot Root `json:"signing_root"`
	// AttestationData is the JSON of the signed attestation data
	// (phase0.AttestationData), absent when the signer no longer holds it.
	AttestationData json.RawMessage `json:"attestation_data,omitempty"`
}

// BatchResult is one item of a batch signing response: either Signature or
// Error is set.
type BatchResult struct {
	Identifier PublicKey  `json:"identifier"`
	Signature  *Signature `json:"signature,omitempty"`
	Error      *Error     `json:"error,omitempty"`
}

// Participant is one member of a distributed account.
type Participant struct {
	ID       Uint64 `json:"id"`
	Endpoint string `json:"endpoint"`
}

// Account is one participant's view of a distributed account.
type Account struct {
	ParticipantID      Uint64        `json:"participant_id"`
	PublicKey          PublicKey     `json:"public_key"`
	CompositePublicKey PublicKey     `json:"composite_public_key"`
	SigningThreshold   Uint64        `json:"signing_threshold"`
	Participants       []Participant `json:"participants"`
}

// PartialSignature is a participant's answer to a distributed sign request.
type PartialSignature struct {
	ParticipantID Uint64    `json:"participant_id"`
	SigningRoot   Root      `json:"signing_root"`
	Signature     Signature `json:"signature"`
}

// PartialBatchResult is one item of a distributed batch response: either the
// partial-signature fields or Error are set.
type PartialBatchResult struct {
	Identifier    PublicKey  `json:"identifier"`
	ParticipantID *Uint64    `json:"participant_id,omitempty"`
	SigningRoot   *Root      `json:"signing_root,omitempty"`
	Signature     *Signature `json:"signature,omitempty"`
	Error         *Error     `json:"error,omitempty"`
}
