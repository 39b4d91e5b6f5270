package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed is wrapped by every decoding error in this package.
var ErrMalformed = errors.New("api: malformed body")

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrMalformed)
	}
	return nil
}

// required reports the first of the named JSON fields absent from obj.
func required(obj json.RawMessage, path string, names ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, path, err)
	}
	for _, n := range names {
		v, ok := m[n]
		if !ok || string(v) == "null" {
			return fmt.Errorf("%w: %s%s: missing", ErrMalformed, path, n)
		}
	}
	return nil
}

// DecodeSigningResponse parses a signer's single signing response.
func DecodeSigningResponse(data []byte) (SigningResponse, error) {
	var r SigningResponse
	if err := required(data, "", "signature"); err != nil {
		return r, err
	}
	return r, decodeStrict(data, &r)
}

// DecodeError parses an error body.
func DecodeError(data []byte) (Error, error) {
	var e Error
	if err := required(data, "", "code", "message"); err != nil {
		return e, err
	}
	if err := decodeStrict(data, &e); err != nil {
		return e, err
	}
	if e.Code < 400 || e.Code > 599 {
		return e, fmt.Errorf("%w: code: %d is not an HTTP error status", ErrMalformed, e.Code)
	}
	if err := e.checkConflict(); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, nil
}

// MaxConflictData bounds the attestation data a conflict carries (its
// JSON is about 400 bytes).
const MaxConflictData = 1024

// checkConflict checks that a conflict comes with a slashing refusal and
// carries a JSON object of bounded size.
func (e *Error) checkConflict() error {
	c := e.Conflict
	if c == nil {
		return nil
	}
	if e.Code != 412 {
		return fmt.Errorf("conflict: only a slashing refusal (412) names one, not status %d", e.Code)
	}
	if len(c.AttestationData) > MaxConflictData {
		return fmt.Errorf("conflict: attestation_data has %d bytes, at most %d", len(c.AttestationData), MaxConflictData)
	}
	if len(c.AttestationData) > 0 && c.AttestationData[0] != '{' {
		return errors.New("conflict: attestation_data is not a JSON object")
	}
	return nil
}

// DecodePartialSignature parses a participant's partial signature.
func DecodePartialSignature(data []byte) (PartialSignature, error) {
	var p PartialSignature
	if err := required(data, "", "participant_id", "signing_root", "signature"); err != nil {
		return p, err
	}
	return p, decodeStrict(data, &p)
}

// DecodeAccount parses one distributed account.
func DecodeAccount(data []byte) (Account, error) {
	var a Account
	if err := checkAccount(data, ""); err != nil {
		return a, err
	}
	return a, decodeStrict(data, &a)
}

// DecodeAccounts parses a list of distributed accounts.
func DecodeAccounts(data []byte) ([]Account, error) {
	var raw []json.RawMessage
	if err := decodeStrict(data, &raw); err != nil {
		return nil, err
	}
	for i, r := range raw {
		if err := checkAccount(r, fmt.Sprintf("[%d].", i)); err != nil {
			return nil, err
		}
	}
	var as []Account
	return as, decodeStrict(data, &as)
}

func checkAccount(data json.RawMessage, path string) error {
	if err := required(data, path, "participant_id", "public_key", "composite_public_key", "signing_threshold", "participants"); err != nil {
		return err
	}
	var a struct {
		Participants []json.RawMessage `json:"participants"`
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("%w: %sparticipants: %v", ErrMalformed, path, err)
	}
	if len(a.Participants) == 0 {
		return fmt.Errorf("%w: %sparticipants: empty", ErrMalformed, path)
	}
	for i, p := range a.Participants {
		if err := required(p, fmt.Sprintf("%sparticipants[%d].", path, i), "id", "endpoint"); err != nil {
			return err
		}
	}
	return nil
}

// DecodeBatchResults parses a batch signing response and checks that each
// item is either a success or a failure, never both or neither.
func DecodeBatchResults(data []byte) ([]BatchResult, error) {
	var rs []BatchResult
	if err := decodeStrict(data, &rs); err != nil {
		return nil, err
	}
	for i, r := range rs {
		if (r.Signature == nil) == (r.Error == nil) {
			return nil, fmt.Errorf("%w: [%d]: exactly one of signature and error must be present", ErrMalformed, i)
		}
	}
	return rs, nil
}

// DecodePartialBatchResults parses a distributed batch response.
func DecodePartialBatchResults(data []byte) ([]PartialBatchResult, error) {
	var rs []PartialBatchResult
	if err := decodeStrict(data, &rs); err != nil {
		return nil, err
	}
	for i, r := range rs {
		success := r.ParticipantID != nil && r.SigningRoot != nil && r.Signature != nil
		partial := r.ParticipantID != nil || r.SigningRoot != nil || r.Signature != nil
		switch {
		case r.Error != nil && partial:
			return nil, fmt.Errorf("%w: [%d]: both error and signature fields present", ErrMalformed, i)
		case r.Error == nil && !success:
			return nil, fmt.Errorf("%w: [%d]: needs participant_id, signing_root and signature, or error", ErrMalformed, i)
		case r.Error != nil && (r.Error.Code < 400 || r.Error.Code > 599):
			return nil, fmt.Errorf("%w: [%d].error.code: %d is not an HTTP error status", ErrMalformed, i, r.Error.Code)
		}
		if r.Error != nil {
			if err := r.Error.checkConflict(); err != nil {
				return nil, fmt.Errorf("%w: [%d].error.%v", ErrMalformed, i, err)
			}
		}
	}
	return rs, nil
}
