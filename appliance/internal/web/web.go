// Package web is the HTTP vocabulary the signer daemon and its
// sub-packages share: refusals with the Remote Signing API's status and a
// reason for metrics, JSON answers, and request bodies read within a
// bound and a deadline and decoded strictly. Every refusal is answered as
// the API's JSON error ({"code":..., "message":...}).
//
// # Security
//
// Refusal messages go to the client and to logs: they name fields and
// problems, never secret values (ScrubJSONError drops a decoder's quote of
// the offending input, which could be part of a share).
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/peer"
)

// MaxBody bounds request bodies: a full block with its attestations, a
// batch of 10,000 identifiers, or a ceremony batch's largest message, is
// well below it.
const MaxBody = 8 << 20

// Refusal is a refused request: the HTTP status of the Remote Signing
// API, a reason for metrics (a fixed word), and a message for the client.
type Refusal struct {
	Code   int
	Reason string
	Msg    string
	// Conflict names what the signer already signed (a double vote's
	// refusal to a caller that asked for it).
	Conflict *api.Conflict
}

// APIError is the refusal's error object.
func (e *Refusal) APIError() *api.Error {
	return &api.Error{Code: e.Code, Message: e.Msg, Conflict: e.Conflict}
}

func (e *Refusal) Error() string { return e.Msg }

// Refuse builds a refusal; the message is formatted like fmt.Sprintf.
func Refuse(code int, reason, format string, a ...any) *Refusal {
	return &Refusal{Code: code, Reason: reason, Msg: fmt.Sprintf(format, a...)}
}

// AsStatusError turns a refusal into the error a remote signer's would be
// (a *peer.StatusError), so that a caller treats this signer, served in
// process, like any other; nil stays nil.
func AsStatusError(e *Refusal) error {
	if e == nil {
		return nil
	}
	return &peer.StatusError{Code: e.Code, Message: e.Msg, Conflict: e.Conflict}
}

// WriteJSON answers v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers a refusal as the API's JSON error.
func WriteError(w http.ResponseWriter, e *Refusal) {
	WriteJSON(w, e.Code, e.APIError())
}

// WriteResult answers a refusal, or 200 with an empty object.
func WriteResult(w http.ResponseWriter, e *Refusal) {
	if e != nil {
		WriteError(w, e)
		return
	}
	WriteJSON(w, http.StatusOK, struct{}{})
}

// ReadBody reads a request body of at most MaxBody bytes, within the
// deadline the listener set (listen.limits.read_body_timeout). A body that
// does not arrive in time is answered 408 and its connection closed, since
// the rest of it may still be on the wire.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, *Refusal) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Refuse(http.StatusBadRequest, "bad_request", "request body larger than %d bytes", MaxBody)
		}
		if IsTimeout(err) {
			w.Header().Set("Connection", "close")
			return nil, Refuse(http.StatusRequestTimeout, "body_timeout", "the request body did not arrive within listen.limits.read_body_timeout")
		}
		return nil, Refuse(http.StatusBadRequest, "bad_request", "reading request body: %v", err)
	}
	return body, nil
}

// DecodeStrict reads a JSON body into v with no unknown field and nothing
// after the object; the body is zeroed after decoding (it may hold
// secrets).
func DecodeStrict(w http.ResponseWriter, r *http.Request, v any) *Refusal {
	body, e := ReadBody(w, r)
	if e != nil {
		return e
	}
	defer clear(body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Refuse(http.StatusBadRequest, "bad_request", "%v", ScrubJSONError(err))
	}
	if dec.More() {
		return Refuse(http.StatusBadRequest, "bad_request", "data after the JSON object")
	}
	return nil
}

// ScrubJSONError drops the offending value from a JSON error, which could
// be part of a secret.
func ScrubJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("%s: wrong type", te.Field)
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return errors.New(msg)
}

// IsTimeout reports whether a read failed on its deadline.
func IsTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
