package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// maxBody bounds request bodies: the signing package refuses anything
// larger anyway.
const maxBody = signing.MaxRequestSize

// maxBatch bounds the identifiers of one batch request: a slot's
// attestations of 10,000 validators.
const maxBatch = 10_000

// publicKeysMaxAge is how old the account list may be when a client asks
// for it; older, discovery runs first.
const publicKeysMaxAge = 10 * time.Second

// apiError is a refusal: the HTTP status, a metric reason and the message
// the client reads.
type apiError struct {
	code   int
	reason string
	msg    string
}

func refuse(code int, reason, format string, a ...any) *apiError {
	return &apiError{code: code, reason: reason, msg: fmt.Sprintf(format, a...)}
}

func (e *apiError) item() *api.Error { return &api.Error{Code: e.code, Message: e.msg} }

// Handler serves the Remote Signing API: the public keys, single and batch
// signing, /upcheck and /healthcheck.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /upcheck", upcheck)
	mux.HandleFunc("GET /healthcheck", g.healthcheck)
	mux.HandleFunc("GET /api/v1/eth2/publicKeys", g.publicKeys)
	mux.HandleFunc("POST /api/v1/eth2/sign/{identifier}", g.signOne)
	mux.HandleFunc("POST /api/v1/eth2/sign", g.signBatch)
	return mux
}

// OperationsHandler serves /metrics from gatherer, /upcheck and
// /healthcheck.
func (g *Gateway) OperationsHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /upcheck", upcheck)
	mux.HandleFunc("GET /healthcheck", g.healthcheck)
	return mux
}

// upcheck answers 200 while the process serves HTTP, as Web3Signer's does.
func upcheck(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *Gateway) publicKeys(w http.ResponseWriter, r *http.Request) {
	start := g.now()
	ctx, cancel := context.WithTimeout(r.Context(), g.requestTimeout(0))
	defer cancel()
	g.coord.RefreshIfOlder(ctx, publicKeysMaxAge)
	keys := []string{}
	for _, k := range g.coord.PublicKeys() {
		if g.granted(k) {
			keys = append(keys, k.String())
		}
	}
	g.count("public_keys", "", start, http.StatusOK)
	writeJSON(w, http.StatusOK, keys)
}

func (g *Gateway) count(endpoint string, t signing.Type, start time.Time, code int) {
	typ := string(t)
	if typ == "" {
		typ = "unknown"
	}
	g.m.requests.WithLabelValues(endpoint, typ, strconv.Itoa(code)).Inc()
	g.m.latency.WithLabelValues(endpoint, typ).Observe(g.now().Sub(start).Seconds())
}

// fail answers a refused request, counts and logs it.
func (g *Gateway) fail(w http.ResponseWriter, endpoint string, t signing.Type, key string, start time.Time, e *apiError) {
	g.count(endpoint, t, start, e.code)
	g.m.refusals.WithLabelValues(e.reason).Inc()
	level := g.log.Info
	if (e.code == http.StatusPreconditionFailed || e.code == http.StatusForbidden || e.code >= 500) && e.reason != reasonClientGone {
		level = g.log.Warn
	}
	level("request refused", "endpoint", endpoint, "type", t, "account", key, "code", e.code, "reason", e.reason, "err", e.msg)
	writeJSON(w, e.code, api.Error{Code: e.code, Message: e.msg})
}

// reasonClientGone counts requests whose client went away (it closed the
// connection or cancelled) before the answer: a fact about the client,
// not a refusal of its request or a shortage of signers.
const reasonClientGone = "client_gone"

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, refuse(http.StatusBadRequest, "bad_request", "request body larger than %d bytes", maxBody)
		}
		// The body could not be read: the client closed the connection
		// or the read deadline passed. Nothing was wrong with what it
		// sent, as far as it came.
		return nil, refuse(http.StatusBadRequest, reasonClientGone, "reading request body: %v", err)
	}
	return body, nil
}

func requestError(err error) *apiError {
	switch {
	case errors.Is(err, signing.ErrSigningRootMismatch):
		return refuse(http.StatusBadRequest, "signing_root_mismatch", "%v", err)
	case errors.Is(err, network.ErrGenesisValidatorsRoot), errors.Is(err, network.ErrUnknownFork),
		errors.Is(err, network.ErrWrongFork), errors.Is(err, signing.ErrForeignDomain):
		return refuse(http.StatusBadRequest, "wrong_network", "%v", err)
	}
	return refuse(http.StatusBadRequest, "bad_request", "%v", err)
}

// prepare checks a decoded request as every signer will, before any is
// asked: the type is granted, the request is for this network and its
// signing root is the one computed here, and GENERIC is not used to sign
// in a slashable domain. It returns the signing root and the request to
// forward: the bytes the client sent, which every signer decodes and checks
// again itself.
func (g *Gateway) prepare(req *signing.Request) (*signing.Signable, []byte, *apiError) {
	if !g.types[req.Type] {
		return nil, nil, refuse(http.StatusForbidden, "type_not_granted", "%s requests are not granted to the local validator client (types in the gateway's configuration)", req.Type)
	}
	sg, err := req.Verify(g.net)
	if err != nil {
		return nil, nil, requestError(err)
	}
	if req.Type == signing.TypeGeneric && signing.IsSlashableDomain(sg.DomainType()) {
		return nil, nil, refuse(http.StatusBadRequest, "slashable_generic", "GENERIC requests in the beacon proposer or attester domain are refused: use BLOCK_V2 or ATTESTATION")
	}
	return sg, req.Received(), nil
}

func (g *Gateway) accountError(key api.PublicKey) *apiError {
	if !g.granted(key) {
		return refuse(http.StatusForbidden, "account_not_granted", "account %s is not granted to the local validator client (accounts in the gateway's configuration)", key)
	}
	return nil
}

// signerError maps what the coordinator answered to a refusal; client is
// the request's own context, to tell a client that went away from signers
// that did not answer in time.
func signerError(client context.Context, err error) *apiError {
	var short *coordinator.ShortfallError
	switch {
	case client.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return refuse(http.StatusServiceUnavailable, reasonClientGone, "the client went away before the signature: %v", err)
	case errors.Is(err, coordinator.ErrUnknownAccount):
		return refuse(http.StatusNotFound, "unknown_account", "%v: no signer holds it for this gateway", err)
	case errors.As(err, &short):
		code := short.Code()
		reason := map[int]string{
			http.StatusPreconditionFailed: "slashing", http.StatusForbidden: "unauthorised",
			http.StatusNotFound: "unknown_account", http.StatusBadRequest: "bad_request",
		}[code]
		if reason == "" {
			reason = "unavailable"
		}
		return refuse(code, reason, "%v", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return refuse(http.StatusServiceUnavailable, "unavailable", "%v", err)
	}
	return refuse(http.StatusServiceUnavailable, "unavailable", "%v", err)
}

func (g *Gateway) signOne(w http.ResponseWriter, r *http.Request) {
	const endpoint = "sign"
	start := g.now()
	ident := r.PathValue("identifier")
	key, err := api.ParsePublicKey(ident)
	if err != nil {
		g.fail(w, endpoint, "", "", start, refuse(http.StatusBadRequest, "bad_request", "identifier: %v", err))
		return
	}
	body, e := readBody(w, r)
	if e != nil {
		g.fail(w, endpoint, "", ident, start, e)
		return
	}
	req, err := signing.ParseRequest(body)
	if err != nil {
		g.fail(w, endpoint, "", ident, start, requestError(err))
		return
	}
	sg, forward, e := g.prepare(req)
	if e == nil {
		e = g.accountError(key)
	}
	if e != nil {
		g.fail(w, endpoint, req.Type, ident, start, e)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.requestTimeout(1))
	defer cancel()
	sign := g.coord.Sign
	if req.Type.Batchable() {
		// Concurrent single requests of one signed object (a slot's
		// attestations) reach each signer as one batch.
		sign = g.coord.SignShared
	}
	sig, err := sign(ctx, key, sg.SigningRoot, forward)
	if err != nil {
		g.fail(w, endpoint, req.Type, ident, start, signerError(r.Context(), err))
		return
	}
	g.count(endpoint, req.Type, start, http.StatusOK)
	s := api.Signature(sig.Bytes())
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(s.String()))
		return
	}
	writeJSON(w, http.StatusOK, api.SigningResponse{Signature: s})
}

// wantsText reports whether the client asked for text/plain only, which
// the API allows as the single-signature response type.
func wantsText(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "text/plain") && !strings.Contains(acc, "application/json") && !strings.Contains(acc, "*/*")
}

func (g *Gateway) signBatch(w http.ResponseWriter, r *http.Request) {
	const endpoint = "batch"
	start := g.now()
	body, e := readBody(w, r)
	if e != nil {
		g.fail(w, endpoint, "", "", start, e)
		return
	}
	b, err := signing.ParseBatch(body)
	if err != nil {
		g.fail(w, endpoint, "", "", start, requestError(err))
		return
	}
	t := b.Request.Type
	if len(b.Identifiers) > maxBatch {
		g.fail(w, endpoint, t, "", start, refuse(http.StatusBadRequest, "bad_request", "identifiers: %d keys; a batch holds at most %d", len(b.Identifiers), maxBatch))
		return
	}
	out := make([]api.BatchResult, len(b.Identifiers))
	for i, id := range b.Identifiers {
		out[i].Identifier = api.PublicKey(id)
	}
	itemFail := func(i int, e *apiError) {
		out[i].Error = e.item()
		g.m.refusals.WithLabelValues(e.reason).Inc()
	}
	sg, forward, e := g.prepare(b.Request)
	if e != nil && e.code != http.StatusForbidden {
		g.fail(w, endpoint, t, "", start, e)
		return
	}
	var ids []api.PublicKey
	var idx []int
	for i := range out {
		ie := e
		if ie == nil {
			ie = g.accountError(out[i].Identifier)
		}
		if ie != nil {
			itemFail(i, ie)
			continue
		}
		ids = append(ids, out[i].Identifier)
		idx = append(idx, i)
	}
	if len(ids) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), g.requestTimeout(len(ids)))
		defer cancel()
		for k, res := range g.coord.SignBatch(ctx, ids, sg.SigningRoot, forward) {
			if res.Err != nil {
				itemFail(idx[k], signerError(r.Context(), res.Err))
				continue
			}
			s := api.Signature(res.Signature.Bytes())
			out[idx[k]].Signature = &s
		}
	}
	refused := 0
	for _, res := range out {
		code := http.StatusOK
		if res.Error != nil {
			code = res.Error.Code
			refused++
		}
		g.m.requests.WithLabelValues(endpoint, string(t), strconv.Itoa(code)).Inc()
	}
	g.m.latency.WithLabelValues(endpoint, string(t)).Observe(g.now().Sub(start).Seconds())
	if refused > 0 {
		first := ""
		for _, res := range out {
			if res.Error != nil {
				first = res.Error.Message
				break
			}
		}
		g.log.Warn("batch items refused", "type", t, "refused", refused, "items", len(out), "first", first)
	}
	writeJSON(w, http.StatusOK, out)
}
