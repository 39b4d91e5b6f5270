package appliance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// The keymanager API (ethereum/keymanager-APIs, /eth/v1/keystores) on the
// coordinator listener: the same administrative proof as every
// administrative request (authz.go): an administrator's mTLS identity
// (admin.clients) and the administrative bearer token (admin.token).
//
// POST imports keystores into the whole cluster (adminapi.Importer: the key is split
// here, every signer seals its share and imports the slashing history before
// anything can sign, every signer proves it holds its share and the proofs
// recover the original key's signature, and the key is zeroed). DELETE,
// symmetrically, removes the key from every signer (removeFromCluster):
// each disables it in its slashing protection first, so that it can
// produce no further signature there, then zeroes its share (the sealed
// share is destroyed after accounts.destroy_after unless restored) and
// returns its history; the histories are merged into the answer. This
// signer relays the administrator's proof to the others.

// The keymanager API's answers (ethereum/keymanager-APIs).
type (
	keymanagerStatus struct {
		Status  string `json:"status"`
		Message string `json:"message,omitempty"`
	}
	keymanagerKey struct {
		ValidatingPubkey string `json:"validating_pubkey"`
		DerivationPath   string `json:"derivation_path"`
		Readonly         bool   `json:"readonly"`
	}
	keymanagerList struct {
		Data []keymanagerKey `json:"data"`
	}
	keymanagerImported struct {
		Data []keymanagerStatus `json:"data"`
	}
	keymanagerDeleted struct {
		Data               []keymanagerStatus `json:"data"`
		SlashingProtection string             `json:"slashing_protection"`
	}
)

func (a *Appliance) keymanagerRoutes(mux *http.ServeMux, clientOf clientNamer) {
	if a.cfg.Keymanager == nil {
		return
	}
	guard := func(action string, h adminHandler) http.HandlerFunc {
		return a.keymanagerGuard(clientOf, action, h)
	}
	// Reads are not audited; imports and deletions are, before they start.
	mux.HandleFunc("GET /eth/v1/keystores", guard("", func(w http.ResponseWriter, r *http.Request, _ adminapi.Actor) {
		list := keymanagerList{Data: []keymanagerKey{}}
		for _, k := range a.accounts.keys() {
			list.Data = append(list.Data, keymanagerKey{ValidatingPubkey: k.String()})
		}
		web.WriteJSON(w, http.StatusOK, list)
	}))
	mux.HandleFunc("POST /eth/v1/keystores", guard("keymanager_import", a.keymanagerImport))
	mux.HandleFunc("DELETE /eth/v1/keystores", guard("keymanager_delete", a.keymanagerDelete))
}

func (a *Appliance) keymanagerImport(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	body, e := web.ReadBody(w, r)
	if e != nil {
		web.WriteError(w, e)
		return
	}
	defer clear(body)
	var req struct {
		Keystores          []string `json:"keystores"`
		Passwords          []string `json:"passwords"`
		SlashingProtection string   `json:"slashing_protection,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%v", web.ScrubJSONError(err)))
		return
	}
	if len(req.Keystores) != len(req.Passwords) {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%d keystores but %d passwords", len(req.Keystores), len(req.Passwords)))
		return
	}
	var history *protect.Interchange
	if req.SlashingProtection != "" {
		var err error
		if history, err = protect.ParseInterchange([]byte(req.SlashingProtection)); err != nil {
			web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "slashing_protection: %v", err))
			return
		}
		if history.GenesisValidatorsRoot != protect.Root(a.net.GenesisValidatorsRoot()) {
			web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "slashing_protection: %v", protect.ErrWrongNetwork))
			return
		}
	}
	out := make([]keymanagerStatus, len(req.Keystores))
	var keys []adminapi.ImportKey
	var at []int
	defer func() {
		for _, k := range keys {
			k.Secret.Zero()
		}
	}()
	seen := map[api.PublicKey]bool{}
	for i, ks := range req.Keystores {
		k, err := keystore.Parse([]byte(ks))
		if err != nil {
			out[i] = keymanagerStatus{Status: "error", Message: err.Error()}
			continue
		}
		pw := []byte(req.Passwords[i])
		sk, err := k.Decrypt(pw)
		clear(pw)
		if err != nil {
			out[i] = keymanagerStatus{Status: "error", Message: err.Error()}
			continue
		}
		pub := api.PublicKey(sk.PublicKey().Bytes())
		if _, active := a.accounts.get(pub); active || seen[pub] {
			sk.Zero()
			out[i] = keymanagerStatus{Status: "duplicate"}
			continue
		}
		seen[pub] = true
		keys = append(keys, adminapi.ImportKey{Secret: sk, History: adminapi.HistoryOf(history, pub)})
		at = append(at, i)
	}
	if len(keys) > 0 {
		if _, err := a.importer(x).Import(r.Context(), keys); err != nil {
			a.log.Error("keymanager import failed; nothing imported", "err", err)
			for _, i := range at {
				out[i] = keymanagerStatus{Status: "error", Message: err.Error()}
			}
		} else {
			for _, i := range at {
				out[i] = keymanagerStatus{Status: "imported"}
			}
			a.coord.Invalidate() // the other signers' new accounts
		}
	}
	web.WriteJSON(w, http.StatusOK, keymanagerImported{Data: out})
}

func (a *Appliance) keymanagerDelete(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	body, e := web.ReadBody(w, r)
	if e != nil {
		web.WriteError(w, e)
		return
	}
	var req struct {
		Pubkeys []string `json:"pubkeys"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%v", web.ScrubJSONError(err)))
		return
	}
	out := make([]keymanagerStatus, len(req.Pubkeys))
	merged := &protect.Interchange{GenesisValidatorsRoot: protect.Root(a.net.GenesisValidatorsRoot())}
	admins := a.importer(x).Admins // one connection per peer for the whole request
	for i, s := range req.Pubkeys {
		key, err := api.ParsePublicKey(s)
		if err != nil {
			out[i] = keymanagerStatus{Status: "error", Message: "pubkeys: " + err.Error()}
			continue
		}
		status, history, err := a.removeFromCluster(r.Context(), admins, key)
		if err != nil {
			out[i] = keymanagerStatus{Status: "error", Message: err.Error()}
			continue
		}
		out[i] = keymanagerStatus{Status: status}
		for _, ic := range history {
			merged.Data = append(merged.Data, ic.Data...)
		}
	}
	sp, err := merged.Marshal()
	if err != nil {
		web.WriteError(w, refuse(http.StatusInternalServerError, "admin", "%v", err))
		return
	}
	web.WriteJSON(w, http.StatusOK, keymanagerDeleted{Data: out, SlashingProtection: string(sp)})
}

// removeFromCluster removes key from every signer of the cluster at once
// and returns the status the keymanager API reports and every signer's
// history of the key (EIP-3076 allows a key's records in several entries).
//
// Every signature of the key was made from t partial signatures, each
// recorded by its signer first, so the histories of any n-t+1 signers hold
// every message the key signed; and once n-t+1 signers removed their
// shares, fewer than t remain and the key can sign nothing. Below that
// count the answer is an error naming the signers that failed, and no
// history (it would be incomplete): the signers that did remove the key
// keep its history in their slashing protection, so a retry once the
// others are back returns all of it.
func (a *Appliance) removeFromCluster(ctx context.Context, admins []adminapi.AccountAdmin, key api.PublicKey) (string, []*protect.Interchange, error) {
	need := len(a.cfg.Cluster.Participants) // an account neither this signer nor its coordinator knows: every signer
	if acc, ok := a.accounts.get(key); ok {
		need = acc.size() - acc.threshold + 1
	} else if info, ok := a.coord.Account(key); ok {
		need = len(info.Members) - info.Threshold + 1
	}
	histories := make([]*protect.Interchange, len(admins))
	errs := make([]error, len(admins))
	var held atomic.Bool
	var wg sync.WaitGroup
	for i, ad := range admins {
		wg.Go(func() {
			raw, removed, err := ad.Remove(ctx, key)
			if removed {
				held.Store(true)
			}
			if err == nil && raw != nil {
				histories[i], err = protect.ParseInterchange(raw)
			}
			if err != nil {
				errs[i] = fmt.Errorf("participant %s: %w", ad.ID(), err)
			}
		})
	}
	wg.Wait()
	a.coord.Invalidate()
	var failed []error
	var out []*protect.Interchange
	for i := range admins {
		switch {
		case errs[i] != nil:
			failed = append(failed, errs[i])
		case histories[i] != nil:
			out = append(out, histories[i])
		}
	}
	if removed := len(admins) - len(failed); removed < need {
		return "", nil, fmt.Errorf("removed from %d of %d signers, %d needed for a complete history and to leave fewer than the threshold of shares; retry when the others are reachable: %w",
			removed, len(admins), need, errors.Join(failed...))
	}
	for _, err := range failed {
		a.log.Warn("account removed from enough signers, but not from this one: its share and history remain there", "account", key, "err", err)
	}
	switch {
	case held.Load():
		return "deleted", out, nil
	case len(out) > 0:
		return "not_active", out, nil
	}
	return "not_found", nil, nil
}

// importer imports for administrator x: the signer itself in process, the
// other signers over mTLS with this signer's identity relaying x's proof
// (each checks it itself).
func (a *Appliance) importer(x adminapi.Actor) *adminapi.Importer {
	var admins []adminapi.AccountAdmin
	for _, p := range a.cfg.Cluster.Participants {
		if p.ID == a.cfg.Node.ID {
			admins = append(admins, admin{a: a, x: x})
			continue
		}
		admins = append(admins, adminapi.NewClient(a.peers[tss.ID(p.ID)]).RelayFor(x))
	}
	threshold := len(a.cfg.Cluster.Participants)/2 + 1
	if a.cfg.Keymanager != nil && a.cfg.Keymanager.Threshold != 0 {
		threshold = a.cfg.Keymanager.Threshold
	}
	return &adminapi.Importer{Admins: admins, Threshold: threshold, Network: a.net, Rand: rand.Reader}
}
