package appliance

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
	"unicode"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/tss"
)

// The ceremony endpoints (adminapi.PathCeremonies). "Administrators"
// means both administrative proofs (adminauth.go). A join carries the
// administrator's proof that started the ceremony, relayed by the
// coordinating signer, which keeps the token in memory only until every
// participant joined.

// ceremonyRoutes adds the ceremony endpoints.
func (a *Appliance) ceremonyRoutes(mux *http.ServeMux) {
	m := a.ceremonies
	mux.HandleFunc("POST "+adminapi.PathCeremonies, a.adminGuard(true, a.handleStartCeremony))
	mux.HandleFunc("GET "+adminapi.PathCeremonies+"/{id}", a.ceremonyGuard(func(w http.ResponseWriter, r *http.Request, _ adminapi.Actor) {
		c, e := a.ceremonyOf(r)
		if e != nil {
			web.WriteError(w, e)
			return
		}
		st := c.status()
		if co := m.coordination(c.id); co != nil {
			st.Coordination = co.status()
		}
		web.WriteJSON(w, http.StatusOK, st)
	}))
	mux.HandleFunc("POST "+adminapi.PathCeremonies+"/{id}/abort", a.ceremonyGuard(a.handleAbortCeremony))
	mux.HandleFunc("PUT "+adminapi.PathCeremonies+"/{id}", a.adminGuard(true, a.handleJoinCeremony))
	mux.HandleFunc("POST "+adminapi.PathCeremonies+"/{id}/activate", func(w http.ResponseWriter, r *http.Request) {
		c, e := a.coordinatedCeremony(r)
		var req adminapi.ActivateRequest
		if e == nil {
			e = web.DecodeStrict(w, r, &req)
		}
		var t [32]byte
		if e == nil {
			if err := deposit.LowerHex(req.Transcript, t[:]); err != nil {
				e = refuse(http.StatusBadRequest, "bad_request", "transcript: %v", err)
			}
		}
		if e == nil {
			// Activation runs to its end even if the coordinator stops
			// waiting: it retries, and finds it done or in progress.
			e = c.activate(context.WithoutCancel(r.Context()), t)
		}
		web.WriteResult(w, e)
	})
	mux.HandleFunc("POST "+adminapi.PathCeremonies+"/{id}/finalize", func(w http.ResponseWriter, r *http.Request) {
		c, e := a.coordinatedCeremony(r)
		if e == nil {
			e = c.finalize()
		}
		web.WriteResult(w, e)
	})
	mux.HandleFunc("POST "+adminapi.PathCeremonies+"/{id}/messages", a.handleCeremonyMessage)
}

// ceremonyGuard serves a ceremony's status or abort to an administrator,
// or to the cluster peer coordinating the ceremony (ceremonyCaller).
func (a *Appliance) ceremonyGuard(h func(w http.ResponseWriter, r *http.Request, x adminapi.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
		if err != nil {
			web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%v", err))
			return
		}
		x, e := a.ceremonyCaller(r, id)
		if e != nil {
			a.logAdminRefusal(r, e)
			writeAdminError(w, e)
			return
		}
		defer x.Token.Zero()
		h(w, r, x)
	}
}

// participantOf maps the client's verified certificate to the cluster
// participant whose tls_name it carries.
func (a *Appliance) participantOf(r *http.Request) (tss.ID, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return 0, false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	var found tss.ID
	for _, p := range a.cfg.Cluster.Participants {
		for _, n := range names {
			if n == p.TLSName {
				if found != 0 && found != tss.ID(p.ID) {
					return 0, false // a certificate naming two participants identifies neither
				}
				found = tss.ID(p.ID)
			}
		}
	}
	return found, found != 0
}

// ceremonyOf finds the ceremony named in the path.
func (a *Appliance) ceremonyOf(r *http.Request) (*ceremony, *apiError) {
	id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	c, ok := a.ceremonies.get(id)
	if !ok {
		return nil, refuse(http.StatusNotFound, "unknown_ceremony", "%v %s", adminapi.ErrUnknownCeremony, adminapi.CeremonyID(id))
	}
	return c, nil
}

// coordinatedCeremony finds the ceremony and checks that the client is its
// coordinator (or this signer itself, in process).
func (a *Appliance) coordinatedCeremony(r *http.Request) (*ceremony, *apiError) {
	c, e := a.ceremonyOf(r)
	if e != nil {
		return nil, e
	}
	if c.plan == nil {
		_, reason := c.current()
		return nil, refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
	}
	if id, ok := a.participantOf(r); !ok || id != tss.ID(c.plan.Coordinator) {
		return nil, refuse(http.StatusForbidden, "unauthorised", "only the ceremony's coordinator (participant %d) may do this", c.plan.Coordinator)
	}
	return c, nil
}

func (a *Appliance) handleJoinCeremony(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
	if err != nil {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	var plan ceremonyPlan
	if e := web.DecodeStrict(w, r, &plan); e != nil {
		web.WriteError(w, e)
		return
	}
	if plan.ID() != id {
		web.WriteError(w, refuse(http.StatusBadRequest, "bad_request", "plan: hashes to %s, not the ceremony id in the path", adminapi.CeremonyID(plan.ID())))
		return
	}
	if from, ok := a.participantOf(r); !ok || from != tss.ID(plan.Coordinator) {
		web.WriteError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not the plan's coordinator (participant %d)", x.Client, plan.Coordinator))
		return
	}
	if e := a.recordAdmin(x, "ceremony_join "+adminapi.CeremonyID(id)); e != nil {
		web.WriteError(w, e)
		return
	}
	c, e := a.ceremonies.join(&plan)
	if e != nil {
		web.WriteError(w, e)
		return
	}
	web.WriteJSON(w, http.StatusOK, c.status())
}

func (a *Appliance) handleAbortCeremony(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
	var req adminapi.AbortRequest
	var e *apiError
	if err != nil {
		e = refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	if e == nil {
		e = web.DecodeStrict(w, r, &req)
	}
	if e == nil {
		e = checkReason(req.Reason)
	}
	if e == nil {
		e = a.recordAdmin(x, "ceremony_abort "+adminapi.CeremonyID(id))
	}
	if e == nil {
		reason := fmt.Sprintf("aborted by %s: %s", x, req.Reason)
		e = a.ceremonies.abort(r.Context(), id, reason)
	}
	web.WriteResult(w, e)
}

// checkReason accepts a short printable abort reason.
func checkReason(s string) *apiError {
	if s == "" || len(s) > 1024 {
		return refuse(http.StatusBadRequest, "bad_request", "reason: want 1 to 1024 bytes, got %d", len(s))
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return refuse(http.StatusBadRequest, "bad_request", "reason: contains a non-printable character")
		}
	}
	return nil
}

// abort ends a ceremony: everywhere if this signer coordinates it, here
// otherwise. An unknown ceremony is recorded as aborted, so that a join
// arriving late is refused.
func (m *ceremonyManager) abort(ctx context.Context, id [32]byte, reason string) *apiError {
	if co := m.coordination(id); co != nil {
		return co.requestAbort(reason)
	}
	c, ok := m.get(id)
	if !ok {
		return m.tombstone(id, reason)
	}
	if st, _ := c.current(); st == adminapi.StateComplete {
		return refuse(http.StatusConflict, "ceremony_state", "ceremony is complete: remove its accounts instead")
	}
	c.abort(ctx, reason)
	return nil
}

func (a *Appliance) handleCeremonyMessage(w http.ResponseWriter, r *http.Request) {
	from, ok := a.participantOf(r)
	if !ok {
		web.WriteError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not a participant of this cluster", tlsClientName(r, a.policy)))
		return
	}
	c, e := a.ceremonyOf(r)
	var req adminapi.MessageRequest
	if e == nil {
		e = web.DecodeStrict(w, r, &req)
	}
	defer clear(req.Message)
	if e == nil && c.plan == nil {
		_, reason := c.current()
		e = refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
	}
	if e == nil {
		e = c.deliver(r.Context(), from, req.Message)
	}
	web.WriteResult(w, e)
}

func (a *Appliance) handleStartCeremony(w http.ResponseWriter, r *http.Request, x adminapi.Actor) {
	var req adminapi.StartCeremonyRequest
	if e := web.DecodeStrict(w, r, &req); e != nil {
		web.WriteError(w, e)
		return
	}
	plan, timeout, e := a.planCeremony(&req)
	if e == nil {
		e = a.recordAdmin(x, "ceremony_start "+adminapi.CeremonyID(plan.ID()))
	}
	if e != nil {
		web.WriteError(w, e)
		return
	}
	// The coordination keeps its own copy of the token for the joins; the
	// request's is zeroed when the request ends.
	id, e := a.ceremonies.coordinate(plan, timeout, adminapi.Actor{Client: x.Client, OnBehalfOf: x.OnBehalfOf, Token: x.Token.Clone()})
	if e != nil {
		web.WriteError(w, e)
		return
	}
	a.log.Info("key generation ceremony started", "ceremony", id, "client", x.Client, "on_behalf_of", x.OnBehalfOf, "validators", req.Validators, "threshold", req.Threshold)
	web.WriteJSON(w, http.StatusOK, adminapi.StartCeremonyResponse{ID: id})
}

// Defaults of a start request.
const (
	defaultParticipantTimeout = 2 * time.Minute
	defaultCeremonyTimeout    = time.Hour
)

// planCeremony turns an operator's request into a plan, naming the first
// wrong field.
func (a *Appliance) planCeremony(req *adminapi.StartCeremonyRequest) (*ceremonyPlan, time.Duration, *apiError) {
	bad := func(format string, args ...any) (*ceremonyPlan, time.Duration, *apiError) {
		return nil, 0, refuse(http.StatusBadRequest, "bad_request", format, args...)
	}
	parse := func(field, s string, def time.Duration) (time.Duration, error) {
		if s == "" {
			return def, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s: %q is not a positive duration", field, s)
		}
		return d, nil
	}
	pt, err := parse("participant_timeout", req.ParticipantTimeout, defaultParticipantTimeout)
	if err != nil {
		return bad("%v", err)
	}
	timeout, err := parse("timeout", req.Timeout, defaultCeremonyTimeout)
	if err != nil {
		return bad("%v", err)
	}
	if timeout > maxCeremonyDuration {
		return bad("timeout: %s is longer than %s", timeout, maxCeremonyDuration)
	}
	var ids []api.Uint64
	for _, p := range a.cfg.Cluster.Participants {
		ids = append(ids, api.Uint64(p.ID))
	}
	slices.Sort(ids)
	n, t := len(ids), req.Threshold
	if req.Validators < 1 || req.Validators > adminapi.MaxCeremonyValidators {
		return bad("validators: %d is not between 1 and %d", req.Validators, adminapi.MaxCeremonyValidators)
	}
	if err := tss.CheckThreshold(t, n); err != nil {
		return bad("threshold: %v", err)
	}
	batch := req.BatchSize
	if batch == 0 {
		batch = defaultBatchSize(req.Validators, n, t)
	}
	if mb := maxBatchSize(n, t); batch < 1 || batch > mb {
		return bad("batch_size: %d is not between 1 and %d", batch, mb)
	}
	plan := &ceremonyPlan{
		ClusterID:             api.Root(a.cfg.ClusterID()),
		Coordinator:           api.Uint64(a.cfg.Node.ID),
		Participants:          ids,
		Threshold:             api.Uint64(t),
		Validators:            api.Uint64(req.Validators),
		BatchSize:             api.Uint64(batch),
		WithdrawalCredentials: req.WithdrawalCredentials,
		AmountGwei:            req.AmountGwei,
		GenesisValidatorsRoot: api.Root(a.net.GenesisValidatorsRoot()),
		NetworkName:           a.net.Name(),
		Deadline:              api.Uint64(a.now().Add(timeout).Unix()),
	}
	fork := a.net.GenesisForkVersion()
	plan.GenesisForkVersion = api.Uint64(uint32(fork[0])<<24 | uint32(fork[1])<<16 | uint32(fork[2])<<8 | uint32(fork[3]))
	if err := plan.deposit().Validate(); err != nil {
		return bad("%v", err)
	}
	if _, err := io.ReadFull(a.opts.Rand, plan.Nonce[:]); err != nil {
		return nil, 0, refuse(http.StatusServiceUnavailable, "unavailable", "drawing the ceremony nonce: %v", err)
	}
	return plan, pt, nil
}

// ceremonyMember is one participant as the coordinator drives it: over
// mutual TLS, or this signer itself in process.
type ceremonyMember interface {
	memberID() tss.ID
	join(ctx context.Context, plan *ceremonyPlan) error
	status(ctx context.Context, id [32]byte) (adminapi.CeremonyStatus, error)
	activate(ctx context.Context, id [32]byte, transcript string) error
	finalize(ctx context.Context, id [32]byte) error
	abort(ctx context.Context, id [32]byte, reason string) error
}

type remoteMember struct{ p *adminapi.Client }

func (r remoteMember) memberID() tss.ID { return r.p.ID() }

func (r remoteMember) join(ctx context.Context, plan *ceremonyPlan) error {
	b, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	return r.p.JoinCeremony(ctx, plan.ID(), b)
}

func (r remoteMember) status(ctx context.Context, id [32]byte) (adminapi.CeremonyStatus, error) {
	st, err := r.p.CeremonyStatus(ctx, adminapi.CeremonyID(id))
	if err != nil {
		return adminapi.CeremonyStatus{}, err
	}
	return *st, nil
}

func (r remoteMember) activate(ctx context.Context, id [32]byte, transcript string) error {
	return r.p.ActivateCeremony(ctx, id, transcript)
}

func (r remoteMember) finalize(ctx context.Context, id [32]byte) error {
	return r.p.FinalizeCeremony(ctx, id)
}

func (r remoteMember) abort(ctx context.Context, id [32]byte, reason string) error {
	return r.p.AbortCeremony(ctx, adminapi.CeremonyID(id), reason)
}

// localMember is the coordinator's own participant.
type localMember struct{ m *ceremonyManager }

func (l localMember) memberID() tss.ID { return tss.ID(l.m.a.cfg.Node.ID) }

func (l localMember) join(_ context.Context, plan *ceremonyPlan) error {
	_, e := l.m.join(plan)
	return web.AsStatusError(e)
}

func (l localMember) status(_ context.Context, id [32]byte) (adminapi.CeremonyStatus, error) {
	c, ok := l.m.get(id)
	if !ok {
		return adminapi.CeremonyStatus{}, &coordinator.StatusError{Code: http.StatusNotFound, Message: adminapi.ErrUnknownCeremony.Error()}
	}
	return c.status(), nil
}

func (l localMember) activate(ctx context.Context, id [32]byte, transcript string) error {
	c, ok := l.m.get(id)
	if !ok {
		return &coordinator.StatusError{Code: http.StatusNotFound, Message: adminapi.ErrUnknownCeremony.Error()}
	}
	var t [32]byte
	if _, err := hex.Decode(t[:], []byte(transcript)); err != nil || len(transcript) != 64 {
		return &coordinator.StatusError{Code: http.StatusBadRequest, Message: "transcript: not 32 bytes of hex"}
	}
	return web.AsStatusError(c.activate(ctx, t))
}

func (l localMember) finalize(_ context.Context, id [32]byte) error {
	c, ok := l.m.get(id)
	if !ok {
		return &coordinator.StatusError{Code: http.StatusNotFound, Message: adminapi.ErrUnknownCeremony.Error()}
	}
	return web.AsStatusError(c.finalize())
}

func (l localMember) abort(ctx context.Context, id [32]byte, reason string) error {
	c, ok := l.m.get(id)
	if !ok {
		return web.AsStatusError(l.m.tombstone(id, reason))
	}
	c.abort(ctx, reason)
	return nil
}
