package appliance

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

func pathKey(r *http.Request) (api.PublicKey, *apiError) {
	k, err := api.ParsePublicKey(r.PathValue("identifier"))
	if err != nil {
		return k, refuse(http.StatusBadRequest, "bad_request", "identifier: %v", err)
	}
	return k, nil
}

// observe counts a finished request.
func (a *Appliance) observe(apiName string, t signing.Type, start time.Time, code int, items int, e *apiError) {
	typ := string(t)
	if typ == "" {
		typ = "unknown"
	}
	a.metrics.latency.WithLabelValues(apiName, typ).Observe(a.now().Sub(start).Seconds())
	a.metrics.requests.WithLabelValues(apiName, typ, strconv.Itoa(code)).Add(float64(max(items, 1)))
	if e != nil {
		a.metrics.refusals.WithLabelValues(e.Reason).Inc()
	}
}

// participantHandler serves the distributed signing profile.
func (a *Appliance) participantHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /upcheck", upcheck)
	mux.HandleFunc("GET /healthcheck", a.healthcheck)
	mux.HandleFunc("GET /api/v1/eth2/distributed/accounts", func(w http.ResponseWriter, r *http.Request) {
		client := tlsClientName(r, a.authz.policy)
		if e := a.authz.partialCaller(client); e != nil {
			web.WriteError(w, e)
			return
		}
		web.WriteJSON(w, http.StatusOK, a.part.accountViews(client))
	})
	mux.HandleFunc("GET /api/v1/eth2/distributed/accounts/{identifier}", func(w http.ResponseWriter, r *http.Request) {
		client := tlsClientName(r, a.authz.policy)
		key, e := pathKey(r)
		if e == nil {
			e = a.authz.partialCaller(client)
		}
		var acc *account
		if e == nil {
			acc, e = a.part.lookup(client, key, anyType)
		}
		if e != nil {
			web.WriteError(w, e)
			return
		}
		web.WriteJSON(w, http.StatusOK, a.part.view(acc))
	})
	participantClient := func(r *http.Request) string { return tlsClientName(r, a.authz.policy) }
	mux.Handle("POST /api/v1/eth2/distributed/sign/{identifier}", conflictAware(a.signHandler("participant", participantClient, a.authz.partialCaller,
		func(ctx context.Context, client string, key api.PublicKey, body []byte) (any, signing.Type, *apiError) {
			return a.part.signOne(ctx, client, key, body)
		})))
	mux.Handle("POST /api/v1/eth2/distributed/sign", conflictAware(a.batchHandler("participant", participantClient, a.authz.partialCaller,
		func(ctx context.Context, client string, body []byte) (any, []*api.Error, signing.Type, *apiError) {
			rs, t, e := a.part.signBatch(ctx, client, body)
			errs := make([]*api.Error, len(rs))
			for i := range rs {
				errs[i] = rs[i].Error
			}
			return rs, errs, t, e
		})))
	a.adminRoutes(mux)
	a.backupRoutes(mux)
	a.statusRoute(mux)
	return mux
}

func (a *Appliance) logRefusal(apiName, client string, key api.PublicKey, t signing.Type, e *apiError) {
	level := a.log.Info
	if e.Code == http.StatusPreconditionFailed || e.Code == http.StatusForbidden {
		level = a.log.Warn
	}
	level("request refused", "api", apiName, "client", client, "account", key, "type", t, "code", e.Code, "reason", e.Reason, "err", e.Msg)
}

// coordinatorHandler serves the standard Remote Signing API: full
// signatures recovered from the cluster.
func (a *Appliance) coordinatorHandler(clientOf clientNamer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /upcheck", upcheck)
	mux.HandleFunc("GET /healthcheck", a.healthcheck)
	mux.HandleFunc("GET /api/v1/eth2/publicKeys", func(w http.ResponseWriter, r *http.Request) {
		client := clientOf(r, a.authz.policy)
		if e := a.authz.coordinatorCaller(client); e != nil {
			web.WriteError(w, e)
			return
		}
		a.coord.RefreshIfOlder(r.Context(), 10*time.Second)
		keys := []string{}
		for _, k := range a.coord.PublicKeys() {
			if a.authz.sees(client, k) {
				keys = append(keys, k.String())
			}
		}
		web.WriteJSON(w, http.StatusOK, keys)
	})
	coordinatorClient := func(r *http.Request) string { return clientOf(r, a.authz.policy) }
	mux.HandleFunc("POST /api/v1/eth2/sign/{identifier}", a.signHandler("coordinator", coordinatorClient, a.authz.coordinatorCaller,
		func(ctx context.Context, client string, key api.PublicKey, body []byte) (any, signing.Type, *apiError) {
			sig, t, e := a.signFull(ctx, client, key, body)
			return sig, t, e
		}))
	mux.HandleFunc("POST /api/v1/eth2/sign", a.batchHandler("coordinator", coordinatorClient, a.authz.coordinatorCaller,
		func(ctx context.Context, client string, body []byte) (any, []*api.Error, signing.Type, *apiError) {
			rs, t, e := a.signFullBatch(ctx, client, body)
			errs := make([]*api.Error, len(rs))
			for i := range rs {
				errs[i] = rs[i].Error
			}
			return rs, errs, t, e
		}))
	a.keymanagerRoutes(mux, clientOf)
	return mux
}

// signHandler serves a single signing endpoint: the client's
// authorisation and the key from the path, then the body, one answer;
// refusals are logged and counted. A full signature (api.Signature) is sent
// as text/plain to a client that asks only for it.
func (a *Appliance) signHandler(apiName string, clientOf func(*http.Request) string, caller func(client string) *apiError,
	sign func(ctx context.Context, client string, key api.PublicKey, body []byte) (any, signing.Type, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		client := clientOf(r)
		e := notAuthorised(w, client, caller)
		var key api.PublicKey
		if e == nil {
			key, e = pathKey(r)
		}
		var body []byte
		if e == nil {
			body, e = web.ReadBody(w, r)
		}
		if e != nil {
			a.observe(apiName, "", start, e.Code, 1, e)
			web.WriteError(w, e)
			return
		}
		out, t, e := sign(r.Context(), client, key, body)
		if e != nil {
			a.logRefusal(apiName, client, key, t, e)
			a.observe(apiName, t, start, e.Code, 1, e)
			web.WriteError(w, e)
			return
		}
		a.observe(apiName, t, start, http.StatusOK, 1, nil)
		if sig, ok := out.(api.Signature); ok {
			if wantsText(r) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = w.Write([]byte(sig.String()))
				return
			}
			out = api.SigningResponse{Signature: sig}
		}
		web.WriteJSON(w, http.StatusOK, out)
	}
}

// batchHandler serves a batch signing endpoint; every item is counted with
// the status its single request would have had.
func (a *Appliance) batchHandler(apiName string, clientOf func(*http.Request) string, caller func(client string) *apiError,
	sign func(ctx context.Context, client string, body []byte) (any, []*api.Error, signing.Type, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		client := clientOf(r)
		e := notAuthorised(w, client, caller)
		var body []byte
		if e == nil {
			body, e = web.ReadBody(w, r)
		}
		if e != nil {
			a.observe(apiName, "", start, e.Code, 1, e)
			web.WriteError(w, e)
			return
		}
		a.extendForBatch(w, body)
		out, errs, t, e := sign(r.Context(), client, body)
		if e != nil {
			a.logRefusal(apiName, client, api.PublicKey{}, t, e)
			a.observe(apiName, t, start, e.Code, 1, e)
			web.WriteError(w, e)
			return
		}
		for _, ie := range errs {
			code := http.StatusOK
			if ie != nil {
				code = ie.Code
			}
			a.metrics.requests.WithLabelValues(apiName, string(t), strconv.Itoa(code)).Inc()
		}
		a.metrics.latency.WithLabelValues(apiName, string(t)).Observe(a.now().Sub(start).Seconds())
		web.WriteJSON(w, http.StatusOK, out)
	}
}

// wantsText reports whether the client asked for text/plain only, which
// the API allows as the single-signature response type.
func wantsText(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "text/plain") && !strings.Contains(acc, "application/json") && !strings.Contains(acc, "*/*")
}

// verifyRequest runs steps 3 to 5 of DESIGN.md section 4 on a decoded,
// authorised request, at the participant and the coordinator alike: the
// network check and the recomputed signing root, the bound on the future
// (by this signer's clock), and the refusal of GENERIC in every domain a
// typed request exists for or of the consensus form
// (signing.CheckGenericDomainType).
func verifyRequest(n *network.Network, now time.Time, futureEpochs uint64, req *signing.Request) (*signing.Signable, *apiError) {
	sg, err := req.Verify(n)
	if err == nil {
		err = req.CheckFuture(n, now, futureEpochs)
	}
	if err != nil {
		return nil, requestError(err)
	}
	if req.Type == signing.TypeGeneric {
		if err := signing.CheckGenericDomainType(sg.DomainType()); err != nil {
			return nil, refuse(http.StatusBadRequest, "generic_typed_domain", "%v", err)
		}
	}
	return sg, nil
}

// prepare authorises and verifies a request at the coordinator: the same
// checks a participant makes, so that a request every participant would
// refuse is refused here without asking them. The coordinator listener
// serves validator duties only: it asks the other signers with this
// signer's identity, and peers are granted duty types only.
func (a *Appliance) prepare(client string, req *signing.Request) (*signing.Signable, []byte, *apiError) {
	if e := a.authz.coordinatorRequest(client, req); e != nil {
		return nil, nil, e
	}
	sg, e := verifyRequest(a.net, a.now(), a.cfg.Slashing.FutureEpochs, req)
	if e == nil {
		e = a.authz.coordinatorDuty(req)
	}
	if e != nil {
		return nil, nil, e
	}
	return sg, req.Received(), nil
}

// accountAllowed applies account authorisation at the coordinator
// (authz.coordinatorAccount), and refuses an account removed here.
func (a *Appliance) accountAllowed(client string, key api.PublicKey, t signing.Type) *apiError {
	if e := a.authz.coordinatorAccount(client, key, t); e != nil {
		return e
	}
	if a.db.Disabled(protect.PublicKey(key)) {
		// Removed here: this signer coordinates no more signatures of the
		// key, even with the shares other signers still hold.
		return refuse(http.StatusNotFound, "unknown_account", "account %s was removed from this signer", key)
	}
	return nil
}

func coordinatorError(err error) *apiError {
	var short *coordinator.ShortfallError
	switch {
	case errors.Is(err, coordinator.ErrUnknownAccount):
		return refuse(http.StatusNotFound, "unknown_account", "%v", err)
	case errors.As(err, &short):
		code := short.Code()
		reason := "unavailable"
		if code == http.StatusPreconditionFailed {
			reason = "slashing"
		}
		return refuse(code, reason, "%v", err)
	}
	return refuse(http.StatusServiceUnavailable, "unavailable", "%v", err)
}

// signFull obtains one verified full signature through the cluster.
func (a *Appliance) signFull(ctx context.Context, client string, key api.PublicKey, body []byte) (api.Signature, signing.Type, *apiError) {
	if e := a.authz.coordinatorCaller(client); e != nil {
		return api.Signature{}, "", e
	}
	req, err := signing.ParseRequest(body)
	if err != nil {
		return api.Signature{}, "", requestError(err)
	}
	sg, canonical, e := a.prepare(client, req)
	if e == nil {
		e = a.accountAllowed(client, key, req.Type)
	}
	if e == nil {
		e = a.hsmUnavailable()
	}
	if e != nil {
		return api.Signature{}, req.Type, e
	}
	sign := a.coord.Sign
	if req.Type.Batchable() {
		// Concurrent single requests of one signed object (a slot's
		// attestations) reach each participant as one batch.
		sign = a.coord.SignShared
	}
	sig, err := sign(ctx, key, sg.SigningRoot, canonical)
	if err != nil {
		return api.Signature{}, req.Type, coordinatorError(err)
	}
	if e := a.recordFull(client, sg, []api.PublicKey{key}); e != nil {
		return api.Signature{}, req.Type, e
	}
	return sig.Bytes(), req.Type, nil
}

// signFullBatch obtains full signatures for a batch.
func (a *Appliance) signFullBatch(ctx context.Context, client string, body []byte) ([]api.BatchResult, signing.Type, *apiError) {
	if e := a.authz.coordinatorCaller(client); e != nil {
		return nil, "", e
	}
	b, err := signing.ParseBatch(body)
	if err != nil {
		return nil, "", requestError(err)
	}
	t := b.Request.Type
	out := make([]api.BatchResult, len(b.Identifiers))
	for i, id := range b.Identifiers {
		out[i].Identifier = api.PublicKey(id)
	}
	if e := a.hsmUnavailable(); e != nil {
		return nil, t, e
	}
	sg, canonical, e := a.prepare(client, b.Request)
	if e != nil {
		if e.Code != http.StatusForbidden {
			return nil, t, e
		}
		for i := range out {
			out[i].Error = &api.Error{Code: e.Code, Message: e.Msg}
		}
		return out, t, nil
	}
	var ids []api.PublicKey
	var idx []int
	for i := range out {
		if e := a.accountAllowed(client, out[i].Identifier, t); e != nil {
			out[i].Error = &api.Error{Code: e.Code, Message: e.Msg}
			a.metrics.refusals.WithLabelValues(e.Reason).Inc()
			continue
		}
		ids = append(ids, out[i].Identifier)
		idx = append(idx, i)
	}
	if len(ids) == 0 {
		return out, t, nil
	}
	results := a.coord.SignBatch(ctx, ids, sg.SigningRoot, canonical)
	var signed []api.PublicKey
	for k, r := range results {
		i := idx[k]
		if r.Err != nil {
			e := coordinatorError(r.Err)
			out[i].Error = &api.Error{Code: e.Code, Message: e.Msg}
			a.metrics.refusals.WithLabelValues(e.Reason).Inc()
			continue
		}
		s := api.Signature(r.Signature.Bytes())
		out[i].Signature = &s
		signed = append(signed, out[i].Identifier)
	}
	if len(signed) > 0 {
		if e := a.recordFull(client, sg, signed); e != nil {
			return nil, t, e
		}
	}
	return out, t, nil
}

func (a *Appliance) recordFull(client string, sg *signing.Signable, keys []api.PublicKey) *apiError {
	recs := make([]audit.Record, len(keys))
	now := a.now().UTC()
	for i, k := range keys {
		recs[i] = audit.Record{Time: now, Kind: audit.KindFull, Type: string(sg.Type), PublicKey: k.String(), SigningRoot: api.Root(sg.SigningRoot).String(), Client: client}
	}
	if err := a.audit.Append(recs...); err != nil {
		a.log.Error("audit log write failed; signatures withheld", "err", err)
		return refuse(http.StatusServiceUnavailable, "unavailable", "audit log unavailable")
	}
	a.metrics.signatures.WithLabelValues("full").Add(float64(len(keys)))
	return nil
}
