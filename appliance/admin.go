package appliance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

// Administrative endpoints on the participant listener (mTLS, an
// administrator's identity or a peer relaying for one, and the
// administrative token). They carry account lifecycle steps between the
// signers of a cluster: see lifecycle.go.
const (
	pathAccounts = "/rampart/v1/accounts"
)

// StageRequest is the body of POST /rampart/v1/accounts: this signer's
// shares of new accounts. All are staged or none.
type StageRequest struct {
	Accounts []StageItem `json:"accounts"`
}

// StageItem is one account's share, with its slashing history if it has
// one (an EIP-3076 document about this key only).
type StageItem struct {
	CompositePublicKey api.PublicKey   `json:"composite_public_key"`
	Threshold          api.Uint64      `json:"threshold"`
	Share              secretHex       `json:"share"`
	SlashingProtection json.RawMessage `json:"slashing_protection,omitempty"`
}

// StageResponse names the component key of each staged share, in order.
type StageResponse struct {
	ComponentPublicKeys []api.PublicKey `json:"component_public_keys"`
}

// KeysRequest names accounts, for activate and discard.
type KeysRequest struct {
	Keys []api.PublicKey `json:"keys"`
}

// RemoveResponse carries a removed account's slashing history.
type RemoveResponse struct {
	SlashingProtection json.RawMessage `json:"slashing_protection,omitempty"`
	// Removed is true when the participant held the account's share (or
	// had it staged) and removed it.
	Removed bool `json:"removed,omitempty"`
}

// secretHex is a 32-byte secret in 0x-prefixed hex that never prints.
type secretHex [32]byte

func (s secretHex) MarshalText() ([]byte, error) {
	out := make([]byte, 66)
	copy(out, "0x")
	hex.Encode(out[2:], s[:])
	return out, nil
}

func (s *secretHex) UnmarshalText(b []byte) error {
	if len(b) != 66 || b[0] != '0' || b[1] != 'x' {
		return errors.New("want 0x and 64 hex digits")
	}
	if _, err := hex.Decode(s[:], b[2:]); err != nil {
		return errors.New("not hexadecimal")
	}
	return nil
}

func (s secretHex) String() string { return redactedText }

const redactedText = "[REDACTED]"

// ProofResponse is the answer of POST /rampart/v1/accounts/proof: this
// signer's partial signature of ProofSigningRoot with its share of each
// key, in the order asked.
type ProofResponse struct {
	ParticipantID api.Uint64      `json:"participant_id"`
	Signatures    []api.Signature `json:"signatures"`
}

// RemovedResponse lists the removed shares awaiting destruction here.
type RemovedResponse struct {
	Removed []PendingDestruction `json:"removed"`
	// DestroyAfter is this signer's grace period (accounts.destroy_after).
	DestroyAfter string `json:"destroy_after"`
}

// maxAdminKeys bounds the keys of one administrative request.
const maxAdminKeys = 10_000

// adminRoutes adds the administrative endpoints to the participant mux.
// Every one needs both administrative proofs (adminauth.go); peers may
// relay them for an administrator.
//
//	POST   /rampart/v1/accounts                       stage shares
//	POST   /rampart/v1/accounts/activate              activate staged accounts
//	POST   /rampart/v1/accounts/discard               discard staged accounts
//	POST   /rampart/v1/accounts/proof                 proof of possession
//	DELETE /rampart/v1/accounts/{key}                 remove (destroyed when due)
//	GET    /rampart/v1/accounts/removed               removed shares awaiting destruction
//	POST   /rampart/v1/accounts/{key}/restore         restore a removed account
func (a *Appliance) adminRoutes(mux *http.ServeMux) {
	guard := func(h func(w http.ResponseWriter, r *http.Request, x adminActor)) http.HandlerFunc {
		return a.adminGuard(true, h)
	}
	mux.HandleFunc("POST "+pathAccounts, guard(a.handleStage))
	a.ceremonyRoutes(mux)
	mux.HandleFunc("POST "+pathAccounts+"/activate", guard(func(w http.ResponseWriter, r *http.Request, x adminActor) {
		keys, e := readKeys(w, r)
		if e == nil {
			e = a.recordAdmin(x, "activate", keys...)
		}
		if e != nil {
			writeError(w, e)
			return
		}
		for _, key := range keys {
			if err := a.activate(r.Context(), key); err != nil {
				code := http.StatusInternalServerError
				if errors.Is(err, ErrNotStaged) {
					code = http.StatusNotFound
				}
				writeError(w, refuse(code, "admin", "%v", err))
				return
			}
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}))
	mux.HandleFunc("POST "+pathAccounts+"/discard", guard(func(w http.ResponseWriter, r *http.Request, x adminActor) {
		keys, e := readKeys(w, r)
		if e == nil {
			e = a.recordAdmin(x, "discard", keys...)
		}
		if e != nil {
			writeError(w, e)
			return
		}
		for _, key := range keys {
			a.discard(key)
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}))
	mux.HandleFunc("POST "+pathAccounts+"/proof", guard(func(w http.ResponseWriter, r *http.Request, x adminActor) {
		keys, e := readKeys(w, r)
		if e == nil {
			e = a.recordAdmin(x, "proof", keys...)
		}
		if e != nil {
			writeError(w, e)
			return
		}
		sigs, err := a.prove(r.Context(), keys)
		if err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, ErrNotStaged) {
				code = http.StatusNotFound
			}
			writeError(w, refuse(code, "admin", "%v", err))
			return
		}
		resp := ProofResponse{ParticipantID: api.Uint64(a.cfg.Node.ID), Signatures: make([]api.Signature, len(sigs))}
		for i, s := range sigs {
			resp.Signatures[i] = s.Bytes()
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	mux.HandleFunc("DELETE "+pathAccounts+"/{identifier}", guard(func(w http.ResponseWriter, r *http.Request, x adminActor) {
		key, e := pathKey(r)
		if e == nil {
			e = a.recordAdmin(x, "remove", key)
		}
		if e != nil {
			writeError(w, e)
			return
		}
		ic, found, err := a.remove(r.Context(), key, x)
		if err != nil {
			writeError(w, refuse(http.StatusInternalServerError, "admin", "%v", err))
			return
		}
		if !found && ic == nil {
			writeError(w, refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key))
			return
		}
		resp := RemoveResponse{Removed: found}
		if ic != nil {
			if resp.SlashingProtection, err = ic.Marshal(); err != nil {
				writeError(w, refuse(http.StatusInternalServerError, "admin", "%v", err))
				return
			}
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	mux.HandleFunc("GET "+pathAccounts+"/removed", guard(func(w http.ResponseWriter, r *http.Request, _ adminActor) {
		// A read: not audited (refusals are logged by the guard).
		a.life.Lock()
		a.destroyDueLocked()
		a.life.Unlock()
		writeJSON(w, http.StatusOK, RemovedResponse{Removed: a.pending.list(), DestroyAfter: a.cfg.Accounts.DestroyAfter.String()})
	}))
	mux.HandleFunc("POST "+pathAccounts+"/{identifier}/restore", guard(func(w http.ResponseWriter, r *http.Request, x adminActor) {
		key, e := pathKey(r)
		if e == nil {
			e = a.recordAdmin(x, "restore", key)
		}
		if e != nil {
			writeError(w, e)
			return
		}
		if err := a.restore(r.Context(), key); err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrNotPending):
				code = http.StatusNotFound
			case errors.Is(err, ErrAccountExists):
				code = http.StatusConflict
			}
			writeError(w, refuse(code, "admin", "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}))
}

func readKeys(w http.ResponseWriter, r *http.Request) ([]api.PublicKey, *apiError) {
	body, e := readBody(w, r)
	if e != nil {
		return nil, e
	}
	var req KeysRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, refuse(http.StatusBadRequest, "bad_request", "%v", scrubJSONError(err))
	}
	if len(req.Keys) == 0 {
		return nil, refuse(http.StatusBadRequest, "bad_request", "keys: empty")
	}
	if len(req.Keys) > maxAdminKeys {
		return nil, refuse(http.StatusBadRequest, "bad_request", "keys: %d, at most %d per request", len(req.Keys), maxAdminKeys)
	}
	return req.Keys, nil
}

func (a *Appliance) handleStage(w http.ResponseWriter, r *http.Request, x adminActor) {
	body, e := readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	defer clear(body)
	var req StageRequest
	defer func() {
		for i := range req.Accounts {
			clear(req.Accounts[i].Share[:])
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, refuse(http.StatusBadRequest, "bad_request", "%v", scrubJSONError(err)))
		return
	}
	if len(req.Accounts) == 0 {
		writeError(w, refuse(http.StatusBadRequest, "bad_request", "accounts: empty"))
		return
	}
	keys := make([]api.PublicKey, len(req.Accounts))
	for i, it := range req.Accounts {
		keys[i] = it.CompositePublicKey
	}
	if e := a.recordAdmin(x, "stage", keys...); e != nil {
		writeError(w, e)
		return
	}
	items := make([]stageItem, len(req.Accounts))
	defer func() {
		for _, it := range items {
			it.share.Zero()
		}
	}()
	for i, it := range req.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		composite, err := bls.PublicKeyFromBytes(it.CompositePublicKey[:])
		if err != nil {
			writeError(w, refuse(http.StatusBadRequest, "bad_request", "%s.composite_public_key: %v", path, err))
			return
		}
		share, err := bls.SecretKeyFromBytes(it.Share[:])
		if err != nil {
			writeError(w, refuse(http.StatusBadRequest, "bad_request", "%s.share: %v", path, err))
			return
		}
		items[i] = stageItem{composite: composite, share: share, threshold: int(min(it.Threshold, 1<<16))}
		if len(it.SlashingProtection) > 0 && string(it.SlashingProtection) != "null" {
			if items[i].history, err = protect.ParseInterchange(it.SlashingProtection); err != nil {
				writeError(w, refuse(http.StatusBadRequest, "bad_request", "%s.slashing_protection: %v", path, err))
				return
			}
		}
	}
	components, err := a.stageAll(r.Context(), items)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrAccountExists) {
			code = http.StatusConflict
		}
		writeError(w, refuse(code, "admin", "%v", err))
		return
	}
	resp := StageResponse{ComponentPublicKeys: make([]api.PublicKey, len(components))}
	for i, c := range components {
		resp.ComponentPublicKeys[i] = c.Bytes()
	}
	writeJSON(w, http.StatusOK, resp)
}

// scrubJSONError drops the offending value from a JSON error, which could
// be part of a secret.
func scrubJSONError(err error) error {
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
