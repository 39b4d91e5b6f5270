package api

// SigningResponse is the body of a successful single signing request.
type SigningResponse struct {
	Signature Signature `json:"signature"`
}

// Error is the body of every refused request and the error object of a
// failed batch item; Code is the HTTP status the single request would get.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
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
