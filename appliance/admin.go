package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// admin is this signer's account lifecycle (lifecycle.go) as administrator
// x asks for it: the administrative endpoints serve it over mutual TLS,
// and the keymanager API uses it in process as this signer's participant
// of an import or removal (adminapi.AccountAdmin). Every action is logged
// and audited before it is carried out; a refusal is a *web.Refusal with
// the status the endpoint answers.
type admin struct {
	a *Appliance
	x adminapi.Actor
}

func (d admin) ID() tss.ID { return tss.ID(d.a.cfg.Node.ID) }

// Stage seals and stages the shares of new accounts, all or none.
func (d admin) Stage(ctx context.Context, req *adminapi.StageRequest) ([]api.PublicKey, error) {
	if len(req.Accounts) == 0 {
		return nil, refuse(http.StatusBadRequest, "bad_request", "accounts: empty")
	}
	keys := make([]api.PublicKey, len(req.Accounts))
	for i, it := range req.Accounts {
		keys[i] = it.CompositePublicKey
	}
	if e := d.a.recordAdmin(d.x, "stage", keys...); e != nil {
		return nil, e
	}
	items := make([]stageItem, len(req.Accounts))
	defer func() {
		for _, it := range items {
			if it.share != nil {
				it.share.Zero()
			}
		}
	}()
	for i, it := range req.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		composite, err := bls.PublicKeyFromBytes(it.CompositePublicKey[:])
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "bad_request", "%s.composite_public_key: %v", path, err)
		}
		share, err := bls.SecretKeyFromBytes(it.Share[:])
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "bad_request", "%s.share: %v", path, err)
		}
		items[i] = stageItem{composite: composite, share: share, threshold: int(min(it.Threshold, 1<<16))}
		if len(it.SlashingProtection) > 0 && string(it.SlashingProtection) != "null" {
			if items[i].history, err = protect.ParseInterchange(it.SlashingProtection); err != nil {
				return nil, refuse(http.StatusBadRequest, "bad_request", "%s.slashing_protection: %v", path, err)
			}
		}
	}
	components, err := d.a.stageAll(ctx, items)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errAccountExists) {
			code = http.StatusConflict
		}
		return nil, refuse(code, "admin", "%v", err)
	}
	out := make([]api.PublicKey, len(components))
	for i, c := range components {
		out[i] = c.Bytes()
	}
	return out, nil
}

// Activate makes staged accounts signable.
func (d admin) Activate(ctx context.Context, keys []api.PublicKey) error {
	if e := d.a.recordAdmin(d.x, "activate", keys...); e != nil {
		return e
	}
	if err := d.a.activateAll(ctx, keys); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNotStaged) {
			code = http.StatusNotFound
		}
		return refuse(code, "admin", "%v", err)
	}
	return nil
}

// Discard drops staged accounts.
func (d admin) Discard(_ context.Context, keys []api.PublicKey) error {
	if e := d.a.recordAdmin(d.x, "discard", keys...); e != nil {
		return e
	}
	for _, key := range keys {
		d.a.discard(key)
	}
	return nil
}

// Prove signs the proof of possession with the share of each key.
func (d admin) Prove(ctx context.Context, keys []api.PublicKey) ([]api.Signature, error) {
	if e := d.a.recordAdmin(d.x, "proof", keys...); e != nil {
		return nil, e
	}
	sigs, err := d.a.prove(ctx, keys)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, errNotStaged) {
			code = http.StatusNotFound
		}
		return nil, refuse(code, "admin", "%v", err)
	}
	out := make([]api.Signature, len(sigs))
	for i, s := range sigs {
		out[i] = s.Bytes()
	}
	return out, nil
}

// Held says which of keys this signer holds: active, staged, or absent. A
// read: not audited.
func (d admin) Held(_ context.Context, keys []api.PublicKey) ([]string, error) {
	out := make([]string, len(keys))
	d.a.life.Lock()
	defer d.a.life.Unlock()
	for i, k := range keys {
		out[i] = adminapi.AccountAbsent
		if _, ok := d.a.accounts.get(k); ok {
			out[i] = adminapi.AccountActive
		} else if _, ok := d.a.staged[k]; ok {
			out[i] = adminapi.AccountStaged
		}
	}
	return out, nil
}

// remove takes an account off this signer; an account it neither holds
// nor has a history of is unknown (404).
func (d admin) remove(ctx context.Context, key api.PublicKey) (*adminapi.RemoveResponse, *web.Refusal) {
	if e := d.a.recordAdmin(d.x, "remove", key); e != nil {
		return nil, e
	}
	ic, found, err := d.a.remove(ctx, key, d.x)
	if err != nil {
		return nil, refuse(http.StatusInternalServerError, "admin", "%v", err)
	}
	if !found && ic == nil {
		return nil, refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key)
	}
	resp := &adminapi.RemoveResponse{Removed: found}
	if ic != nil {
		if resp.SlashingProtection, err = ic.Marshal(); err != nil {
			return nil, refuse(http.StatusInternalServerError, "admin", "%v", err)
		}
	}
	return resp, nil
}

// Remove is remove as a participant answers it (adminapi.Client.Remove):
// an unknown account was not removed, and has no history.
func (d admin) Remove(ctx context.Context, key api.PublicKey) (json.RawMessage, bool, error) {
	resp, e := d.remove(ctx, key)
	if e != nil {
		if e.Code == http.StatusNotFound {
			return nil, false, nil
		}
		return nil, false, e
	}
	return resp.SlashingProtection, resp.Removed, nil
}

// restore brings back a removed account whose share is still pending
// destruction here.
func (d admin) restore(ctx context.Context, key api.PublicKey) *web.Refusal {
	if e := d.a.recordAdmin(d.x, "restore", key); e != nil {
		return e
	}
	if err := d.a.restore(ctx, key); err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, adminapi.ErrNotPending):
			code = http.StatusNotFound
		case errors.Is(err, errAccountExists):
			code = http.StatusConflict
		}
		return refuse(code, "admin", "%v", err)
	}
	return nil
}

// adminRoutes adds the administrative endpoints (adminapi.PathAccounts)
// and the ceremonies' to the participant mux. Every account endpoint needs
// both administrative proofs (authz.go); peers may relay them for an
// administrator. The handlers only decode and answer: admin does the work.
func (a *Appliance) adminRoutes(mux *http.ServeMux) {
	route := func(pattern string, h adminHandler) { mux.HandleFunc(pattern, a.adminGuard(true, h)) }
	p := adminapi.PathAccounts
	route("POST "+p, func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		var req adminapi.StageRequest
		defer req.Zero()
		if e := web.DecodeStrict(w, r, &req); e != nil {
			web.WriteError(w, e)
			return
		}
		components, err := admin{a, x}.Stage(r.Context(), &req)
		if err != nil {
			web.WriteError(w, asRefusal(err))
			return
		}
		web.WriteJSON(w, http.StatusOK, adminapi.StageResponse{ComponentPublicKeys: components})
	})
	keysRoute := func(pattern string, do func(ctx context.Context, d admin, keys []api.PublicKey) (any, error)) {
		route(pattern, func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
			keys, e := readKeys(w, r)
			if e != nil {
				web.WriteError(w, e)
				return
			}
			out, err := do(r.Context(), admin{a, x}, keys)
			if err != nil {
				web.WriteError(w, asRefusal(err))
				return
			}
			web.WriteJSON(w, http.StatusOK, out)
		})
	}
	keysRoute("POST "+p+"/activate", func(ctx context.Context, d admin, keys []api.PublicKey) (any, error) {
		return struct{}{}, d.Activate(ctx, keys)
	})
	keysRoute("POST "+p+"/held", func(ctx context.Context, d admin, keys []api.PublicKey) (any, error) {
		states, err := d.Held(ctx, keys)
		return adminapi.HeldResponse{States: states}, err
	})
	keysRoute("POST "+p+"/discard", func(ctx context.Context, d admin, keys []api.PublicKey) (any, error) {
		return struct{}{}, d.Discard(ctx, keys)
	})
	keysRoute("POST "+p+"/proof", func(ctx context.Context, d admin, keys []api.PublicKey) (any, error) {
		sigs, err := d.Prove(ctx, keys)
		return adminapi.ProofResponse{ParticipantID: api.Uint64(a.cfg.Node.ID), Signatures: sigs}, err
	})
	route("DELETE "+p+"/{identifier}", func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		key, e := pathKey(r)
		var resp *adminapi.RemoveResponse
		if e == nil {
			resp, e = admin{a, x}.remove(r.Context(), key)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		web.WriteJSON(w, http.StatusOK, resp)
	})
	route("GET "+p+"/removed", func(w http.ResponseWriter, r *http.Request, _ adminapi.Actor) {
		// A read: not audited (refusals are logged by the guard).
		a.life.Lock()
		a.destroyDueLocked()
		a.life.Unlock()
		web.WriteJSON(w, http.StatusOK, adminapi.RemovedResponse{Removed: a.pending.list(), DestroyAfter: a.cfg.Accounts.DestroyAfter.String()})
	})
	route("POST "+p+"/{identifier}/restore", func(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
		key, e := pathKey(r)
		if e == nil {
			e = admin{a, x}.restore(r.Context(), key)
		}
		web.WriteResult(w, e)
	})
	for _, rt := range a.ceremonies.Routes() {
		mux.HandleFunc(rt.Pattern, a.ceremonyGuard(rt))
	}
}

// asRefusal is err as the refusal to answer: a *web.Refusal as it is,
// anything else a 500.
func asRefusal(err error) *web.Refusal {
	var e *web.Refusal
	if errors.As(err, &e) {
		return e
	}
	return refuse(http.StatusInternalServerError, "admin", "%v", err)
}

// readKeys reads the keys of an activate, discard or proof request.
func readKeys(w http.ResponseWriter, r *http.Request) ([]api.PublicKey, *web.Refusal) {
	var req adminapi.KeysRequest
	if e := web.DecodeStrict(w, r, &req); e != nil {
		return nil, e
	}
	if len(req.Keys) == 0 {
		return nil, refuse(http.StatusBadRequest, "bad_request", "keys: empty")
	}
	if len(req.Keys) > adminapi.MaxKeys {
		return nil, refuse(http.StatusBadRequest, "bad_request", "keys: %d, at most %d per request", len(req.Keys), adminapi.MaxKeys)
	}
	return req.Keys, nil
}
