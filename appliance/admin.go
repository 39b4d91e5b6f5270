package appliance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

// Administrative endpoints on the participant listener (mTLS; clients
// named in admin.clients only). They carry account lifecycle steps between
// the signers of a cluster: see lifecycle.go.
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

func (a *Appliance) isAdmin(client string) bool {
	return client != "" && slices.Contains(a.cfg.Admin.Clients, client)
}

// adminRoutes adds the administrative endpoints to the participant mux.
func (a *Appliance) adminRoutes(mux *http.ServeMux) {
	guard := func(h func(w http.ResponseWriter, r *http.Request, client string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			client := tlsClientName(r, a.policy)
			if !a.isAdmin(client) {
				writeError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not an administrator (admin.clients)", client))
				return
			}
			h(w, r, client)
		}
	}
	mux.HandleFunc("POST "+pathAccounts, guard(a.handleStage))
	a.ceremonyRoutes(mux, guard)
	mux.HandleFunc("POST "+pathAccounts+"/activate", guard(func(w http.ResponseWriter, r *http.Request, client string) {
		keys, e := readKeys(w, r)
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
		a.log.Info("accounts activated by administrator", "client", client, "count", len(keys))
		writeJSON(w, http.StatusOK, struct{}{})
	}))
	mux.HandleFunc("POST "+pathAccounts+"/discard", guard(func(w http.ResponseWriter, r *http.Request, client string) {
		keys, e := readKeys(w, r)
		if e != nil {
			writeError(w, e)
			return
		}
		for _, key := range keys {
			a.discard(key)
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}))
	mux.HandleFunc("DELETE "+pathAccounts+"/{identifier}", guard(func(w http.ResponseWriter, r *http.Request, client string) {
		key, e := pathKey(r)
		if e != nil {
			writeError(w, e)
			return
		}
		ic, found, err := a.remove(r.Context(), key)
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
		a.log.Info("account removed by administrator", "client", client, "account", key)
		writeJSON(w, http.StatusOK, resp)
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
	return req.Keys, nil
}

func (a *Appliance) handleStage(w http.ResponseWriter, r *http.Request, client string) {
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
	a.log.Info("shares staged by administrator", "client", client, "count", len(items))
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
