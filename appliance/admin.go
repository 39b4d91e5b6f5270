package appliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

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
	guard := func(h func(w http.ResponseWriter, r *http.Request, x adminapi.Actor)) http.HandlerFunc {
		return a.adminGuard(true, h)
	}
	mux.HandleFunc("POST "+adminapi.PathAccounts, guard(a.handleStage))
	for _, rt := range a.ceremonies.Routes() {
		mux.HandleFunc(rt.Pattern, a.ceremonyGuard(rt))
	}
	mux.HandleFunc("POST "+adminapi.PathAccounts+"/activate", guard(func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		keys, e := readKeys(w, r)
		if e == nil {
			e = a.recordAdmin(x, "activate", keys...)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		for _, key := range keys {
			if err := a.activate(r.Context(), key); err != nil {
				code := http.StatusInternalServerError
				if errors.Is(err, errNotStaged) {
					code = http.StatusNotFound
				}
				web.WriteError(w, refuse(code, "admin", "%v", err))
				return
			}
		}
		web.WriteJSON(w, http.StatusOK, struct{}{})
	}))
	mux.HandleFunc("POST "+adminapi.PathAccounts+"/discard", guard(func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		keys, e := readKeys(w, r)
		if e == nil {
			e = a.recordAdmin(x, "discard", keys...)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		for _, key := range keys {
			a.discard(key)
		}
		web.WriteJSON(w, http.StatusOK, struct{}{})
	}))
	mux.HandleFunc("POST "+adminapi.PathAccounts+"/proof", guard(func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		keys, e := readKeys(w, r)
		if e == nil {
			e = a.recordAdmin(x, "proof", keys...)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		sigs, err := a.prove(r.Context(), keys)
		if err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, errNotStaged) {
				code = http.StatusNotFound
			}
			web.WriteError(w, refuse(code, "admin", "%v", err))
			return
		}
		resp := adminapi.ProofResponse{ParticipantID: api.Uint64(a.cfg.Node.ID), Signatures: make([]api.Signature, len(sigs))}
		for i, s := range sigs {
			resp.Signatures[i] = s.Bytes()
		}
		web.WriteJSON(w, http.StatusOK, resp)
	}))
	mux.HandleFunc("DELETE "+adminapi.PathAccounts+"/{identifier}", guard(func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		key, e := pathKey(r)
		if e == nil {
			e = a.recordAdmin(x, "remove", key)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		ic, found, err := a.remove(r.Context(), key, x)
		if err != nil {
			web.WriteError(w, refuse(http.StatusInternalServerError, "admin", "%v", err))
			return
		}
		if !found && ic == nil {
			web.WriteError(w, refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key))
			return
		}
		resp := adminapi.RemoveResponse{Removed: found}
		if ic != nil {
			if resp.SlashingProtection, err = ic.Marshal(); err != nil {
				web.WriteError(w, refuse(http.StatusInternalServerError, "admin", "%v", err))
				return
			}
		}
		web.WriteJSON(w, http.StatusOK, resp)
	}))
	mux.HandleFunc("GET "+adminapi.PathAccounts+"/removed", guard(func(w http.ResponseWriter, r *http.Request, _ adminapi.Actor) {
		// A read: not audited (refusals are logged by the guard).
		a.life.Lock()
		a.destroyDueLocked()
		a.life.Unlock()
		web.WriteJSON(w, http.StatusOK, adminapi.RemovedResponse{Removed: a.pending.list(), DestroyAfter: a.cfg.Accounts.DestroyAfter.String()})
	}))
	mux.HandleFunc("POST "+adminapi.PathAccounts+"/{identifier}/restore", guard(func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		key, e := pathKey(r)
		if e == nil {
			e = a.recordAdmin(x, "restore", key)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		if err := a.restore(r.Context(), key); err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, adminapi.ErrNotPending):
				code = http.StatusNotFound
			case errors.Is(err, errAccountExists):
				code = http.StatusConflict
			}
			web.WriteError(w, refuse(code, "admin", "%v", err))
			return
		}
		web.WriteJSON(w, http.StatusOK, struct{}{})
	}))
}

func readKeys(w http.ResponseWriter, r *http.Request) ([]api.PublicKey, *apiError) {
	body, e := web.ReadBody(w, r)
	if e != nil {
		return nil, e
	}
	var req adminapi.KeysRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, refuse(http.StatusBadRequest, "bad_request", "%v", web.ScrubJSONError(err))
	}
	if len(req.Keys) == 0 {
		return nil, refuse(http.StatusBadRequest, "bad_request", "keys: empty")
	}
	if len(req.Keys) > adminapi.MaxKeys {
		return nil, refuse(http.StatusBadRequest, "bad_request", "keys: %d, at most %d per request", len(req.Keys), adminapi.MaxKeys)
	}
	return req.Keys, nil
}

func (a *Appliance) handleStage(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	body, e := web.ReadBody(w, r)
	if e != nil {
		web.WriteError(w, e)
		return
	}
	defer clear(body)
	var req adminapi.StageRequest
	defer func() {
		for i := range req.Accounts {
			clear(req.Accounts[i].Share[:])
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%v", web.ScrubJSONError(err)))
		return
	}
	if len(req.Accounts) == 0 {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "accounts: empty"))
		return
	}
	keys := make([]api.PublicKey, len(req.Accounts))
	for i, it := range req.Accounts {
		keys[i] = it.CompositePublicKey
	}
	if e := a.recordAdmin(x, "stage", keys...); e != nil {
		web.WriteError(w, e)
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
			web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%s.composite_public_key: %v", path, err))
			return
		}
		share, err := bls.SecretKeyFromBytes(it.Share[:])
		if err != nil {
			web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%s.share: %v", path, err))
			return
		}
		items[i] = stageItem{composite: composite, share: share, threshold: int(min(it.Threshold, 1<<16))}
		if len(it.SlashingProtection) > 0 && string(it.SlashingProtection) != "null" {
			if items[i].history, err = protect.ParseInterchange(it.SlashingProtection); err != nil {
				web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%s.slashing_protection: %v", path, err))
				return
			}
		}
	}
	components, err := a.stageAll(r.Context(), items)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errAccountExists) {
			code = http.StatusConflict
		}
		web.WriteError(w, refuse(code, "admin", "%v", err))
		return
	}
	resp := adminapi.StageResponse{ComponentPublicKeys: make([]api.PublicKey, len(components))}
	for i, c := range components {
		resp.ComponentPublicKeys[i] = c.Bytes()
	}
	web.WriteJSON(w, http.StatusOK, resp)
}
