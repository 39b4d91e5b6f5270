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
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// clientNamer extracts the authenticated client name of a request.
type clientNamer func(*http.Request, *policy) string

// tlsClientName is the name on the client's verified certificate: the
// first subject alternative name (DNS, then IP) that has an authorisation
// rule, else the first one.
func tlsClientName(r *http.Request, p *policy) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	leaf := r.TLS.VerifiedChains[0][0]
	var names []string
	names = append(names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	for _, n := range names {
		if p.known(n) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// fixedClient names every request on a listener with no client
// certificates (the loopback coordinator listener).
func fixedClient(name string) clientNamer {
	return func(*http.Request, *policy) string { return name }
}

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
		client := tlsClientName(r, a.policy)
		if !a.part.authorised(client) {
			web.WriteError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client))
			return
		}
		web.WriteJSON(w, http.StatusOK, a.part.accountViews(client))
	})
	mux.HandleFunc("GET /api/v1/eth2/distributed/accounts/{identifier}", func(w http.ResponseWriter, r *http.Request) {
		client := tlsClientName(r, a.policy)
		key, e := pathKey(r)
		if e == nil && !a.part.authorised(client) {
			e = refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client)
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
	participantClient := func(r *http.Request) string { return tlsClientName(r, a.policy) }
	mux.HandleFunc("POST /api/v1/eth2/distributed/sign/{identifier}", a.signHandler("participant", participantClient, a.part.authorised,
		func(ctx context.Context, client string, key api.PublicKey, body []byte) (any, signing.Type, *apiError) {
			return a.part.signOne(ctx, client, key, body)
		}))
	mux.HandleFunc("POST /api/v1/eth2/distributed/sign", a.batchHandler("participant", participantClient, a.part.authorised,
		func(ctx context.Context, client string, body []byte) (any, []*api.Error, signing.Type, *apiError) {
			rs, t, e := a.part.signBatch(ctx, client, body)
			errs := make([]*api.Error, len(rs))
			for i := range rs {
				errs[i] = rs[i].Error
			}
			return rs, errs, t, e
		}))
	a.adminRoutes(mux)
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
		client := clientOf(r, a.policy)
		if !a.policy.known(client) {
			web.WriteError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client))
			return
		}
		a.coord.RefreshIfOlder(r.Context(), 10*time.Second)
		keys := []string{}
		for _, k := range a.coord.PublicKeys() {
			if a.policy.account(client, k, anyType) {
				keys = append(keys, k.String())
			}
		}
		web.WriteJSON(w, http.StatusOK, keys)
	})
	coordinatorClient := func(r *http.Request) string { return clientOf(r, a.policy) }
	mux.HandleFunc("POST /api/v1/eth2/sign/{identifier}", a.signHandler("coordinator", coordinatorClient, a.policy.known,
		func(ctx context.Context, client string, key api.PublicKey, body []byte) (any, signing.Type, *apiError) {
			sig, t, e := a.signFull(ctx, client, key, body)
			return sig, t, e
		}))
	mux.HandleFunc("POST /api/v1/eth2/sign", a.batchHandler("coordinator", coordinatorClient, a.policy.known,
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
func (a *Appliance) signHandler(apiName string, clientOf func(*http.Request) string, authorised func(client string) bool,
	sign func(ctx context.Context, client string, key api.PublicKey, body []byte) (any, signing.Type, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		client := clientOf(r)
		e := notAuthorised(w, client, authorised)
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
func (a *Appliance) batchHandler(apiName string, clientOf func(*http.Request) string, authorised func(client string) bool,
	sign func(ctx context.Context, client string, body []byte) (any, []*api.Error, signing.Type, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		client := clientOf(r)
		e := notAuthorised(w, client, authorised)
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

// notAuthorised refuses, before the body is read, a client that may not
// use a signing endpoint at all, and closes its connection: its body,
// however large, is never read.
func notAuthorised(w http.ResponseWriter, client string, authorised func(string) bool) *apiError {
	if authorised(client) {
		return nil
	}
	w.Header().Set("Connection", "close")
	return refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client)
}

// wantsText reports whether the client asked for text/plain only, which
// the API allows as the single-signature response type.
func wantsText(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "text/plain") && !strings.Contains(acc, "application/json") && !strings.Contains(acc, "*/*")
}

// genericRefusal refuses a GENERIC request whose domain type a typed
// request exists for, or of the consensus form: the decision is
// signing.CheckGenericDomainType's, at the participant and the
// coordinator alike.
func genericRefusal(req *signing.Request, sg *signing.Signable) *apiError {
	if req.Type != signing.TypeGeneric {
		return nil
	}
	if err := signing.CheckGenericDomainType(sg.DomainType()); err != nil {
		return refuse(http.StatusBadRequest, "generic_typed_domain", "%v", err)
	}
	return nil
}

// prepare authorises and verifies a request at the coordinator: the same
// checks a participant makes, so that a request every participant would
// refuse is refused here without asking them. The coordinator listener
// serves validator duties only: it asks the other signers with this
// signer's identity, and peers are granted duty types only.
func (a *Appliance) prepare(client string, req *signing.Request) (*signing.Signable, []byte, *apiError) {
	if !a.policy.requestType(client, req.Type) {
		return nil, nil, refuse(http.StatusForbidden, "unauthorised", "client %q may not request %s", client, req.Type)
	}
	sg, err := req.Verify(a.net)
	if err == nil {
		err = req.CheckFuture(a.net, a.now(), a.cfg.Slashing.FutureEpochs)
	}
	if err != nil {
		return nil, nil, requestError(err)
	}
	if e := genericRefusal(req, sg); e != nil {
		return nil, nil, e
	}
	if !req.Type.Duty() {
		return nil, nil, refuse(http.StatusForbidden, "coordinator_duty_only", "%s is not a validator duty: a signer coordinates duties only, since the other signers grant each other nothing else; use rampartctl exit, or a coordinator beside the client that uses the client's own identity at every signer (rampart-vc)", req.Type)
	}
	canonical, err := req.MarshalJSON()
	if err != nil {
		return nil, nil, refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	return sg, canonical, nil
}

// accountAllowed applies account authorisation at the coordinator.
func (a *Appliance) accountAllowed(client string, key api.PublicKey, t signing.Type) *apiError {
	if a.policy.account(client, key, t) {
		if a.db.Disabled(protect.PublicKey(key)) {
			// Removed here: this signer coordinates no more signatures
			// of the key, even with the shares other signers still hold.
			return refuse(http.StatusNotFound, "unknown_account", "account %s was removed from this signer", key)
		}
		return nil
	}
	if a.policy.allAccounts(client, t) {
		return refuse(http.StatusNotFound, "unknown_account", "unknown account %s", key)
	}
	return refuse(http.StatusForbidden, "unauthorised", "client %q may not use account %s", client, key)
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
	if !a.policy.known(client) {
		return api.Signature{}, "", refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client)
	}
	req, err := signing.ParseRequest(body)
	if err != nil {
		return api.Signature{}, "", requestError(err)
	}
	sg, canonical, e := a.prepare(client, req)
	if e == nil {
		e = a.accountAllowed(client, key, req.Type)
	}
	if e != nil {
		return api.Signature{}, req.Type, e
	}
	sig, err := a.coord.Sign(ctx, key, sg.SigningRoot, canonical)
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
	if !a.policy.known(client) {
		return nil, "", refuse(http.StatusForbidden, "unauthorised", "client %q is not authorised", client)
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
