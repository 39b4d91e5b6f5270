package appliance

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/tss"
)

// Ceremony endpoints on the participant listener (mutual TLS):
//
//	POST /rampart/v1/ceremonies                  start, at the coordinator (administrators)
//	GET  /rampart/v1/ceremonies/{id}             status (administrators, or the ceremony's coordinator)
//	POST /rampart/v1/ceremonies/{id}/abort       abort (administrators, or the ceremony's coordinator)
//	PUT  /rampart/v1/ceremonies/{id}             join (the ceremony's coordinator relaying an administrator's start)
//	POST /rampart/v1/ceremonies/{id}/activate    activate (the ceremony's coordinator)
//	POST /rampart/v1/ceremonies/{id}/finalize    finalise (the ceremony's coordinator)
//	POST /rampart/v1/ceremonies/{id}/messages    one dkg message (any participant)
//
// "Administrators" means both administrative proofs (adminauth.go). A
// join carries the administrator's proof that started the ceremony,
// relayed by the coordinating signer, which keeps the token in memory only
// until every participant joined.
const pathCeremonies = "/rampart/v1/ceremonies"

// StartCeremonyRequest is the body of POST /rampart/v1/ceremonies: the
// operator asks the signer it sends this to to coordinate a ceremony among
// every participant of the cluster.
type StartCeremonyRequest struct {
	// Validators is the number of validators to create.
	Validators int `json:"validators"`
	// Threshold is the t of the new accounts (a majority of the signers).
	Threshold int `json:"threshold"`
	// WithdrawalCredentials (0x01) and AmountGwei go into the deposit data.
	WithdrawalCredentials api.Root   `json:"withdrawal_credentials"`
	AmountGwei            api.Uint64 `json:"amount_gwei"`
	// ParticipantTimeout (a Go duration, default 2m) is how long a
	// participant may stay unreachable, or the ceremony make no progress,
	// before the ceremony is aborted everywhere.
	ParticipantTimeout string `json:"participant_timeout,omitempty"`
	// Timeout (a Go duration, default 1h) bounds the whole ceremony.
	Timeout string `json:"timeout,omitempty"`
	// BatchSize overrides how many validators each dkg batch creates.
	BatchSize int `json:"batch_size,omitempty"`
}

// StartCeremonyResponse names the ceremony started.
type StartCeremonyResponse struct {
	ID string `json:"id"`
}

// CeremonyStatus is one participant's view of a ceremony; at the
// coordinator it also carries the coordination.
type CeremonyStatus struct {
	ID          string     `json:"id"`
	Participant api.Uint64 `json:"participant"`
	// State is resuming, running, staged, activating, active, complete,
	// aborting or aborted.
	State            string       `json:"state"`
	Reason           string       `json:"reason,omitempty"`
	Validators       int          `json:"validators"`
	Batches          int          `json:"batches"`
	BatchesDone      int          `json:"batches_done"`
	ValidatorsDone   int          `json:"validators_done"`
	MessagesAccepted int          `json:"messages_accepted"`
	Waiting          []api.Uint64 `json:"waiting,omitempty"`
	// Transcript is the hash over every batch's confirmed transcript, once
	// every batch is done here.
	Transcript   string              `json:"transcript,omitempty"`
	Updated      time.Time           `json:"updated"`
	Coordination *CoordinationStatus `json:"coordination,omitempty"`
}

// CoordinationStatus is the coordinator's view of a ceremony.
type CoordinationStatus struct {
	// Stage is generating, activating, depositing, finalizing, complete or
	// aborted.
	Stage   string    `json:"stage"`
	Reason  string    `json:"reason,omitempty"`
	Started time.Time `json:"started"`
	// ValidatorsGenerated counts validators done at every participant.
	ValidatorsGenerated int `json:"validators_generated"`
	// DepositsSigned counts verified deposit signatures.
	DepositsSigned        int        `json:"deposits_signed"`
	Validators            int        `json:"validators"`
	Threshold             int        `json:"threshold"`
	WithdrawalCredentials api.Root   `json:"withdrawal_credentials"`
	AmountGwei            api.Uint64 `json:"amount_gwei"`
	GenesisForkVersion    string     `json:"genesis_fork_version"`
	NetworkName           string     `json:"network_name"`
	// Participants is the last status seen from each participant.
	Participants []CeremonyStatus `json:"participants"`
	// Accounts and DepositData are set once complete, in validator order.
	Accounts    []api.PublicKey `json:"accounts,omitempty"`
	DepositData []deposit.Data  `json:"deposit_data,omitempty"`
}

// Deposit returns the deposit parameters the ceremony was started with.
func (s *CoordinationStatus) Deposit() (deposit.Params, error) {
	var fork [4]byte
	if err := strictHex(strings.TrimPrefix(s.GenesisForkVersion, "0x"), fork[:]); err != nil {
		return deposit.Params{}, fmt.Errorf("genesis_fork_version: %v", err)
	}
	return deposit.Params{WithdrawalCredentials: s.WithdrawalCredentials, AmountGwei: uint64(s.AmountGwei), GenesisForkVersion: fork, NetworkName: s.NetworkName}, nil
}

// Requests between signers.
type (
	abortRequest struct {
		Reason string `json:"reason"`
	}
	activateRequest struct {
		Transcript string `json:"transcript"`
	}
	messageRequest struct {
		Message []byte `json:"message"`
	}
)

// ceremonyRoutes adds the ceremony endpoints.
func (a *Appliance) ceremonyRoutes(mux *http.ServeMux) {
	m := a.ceremonies
	mux.HandleFunc("POST "+pathCeremonies, a.adminGuard(true, a.handleStartCeremony))
	mux.HandleFunc("GET "+pathCeremonies+"/{id}", a.ceremonyGuard(func(w http.ResponseWriter, r *http.Request, _ adminActor) {
		c, e := a.ceremonyOf(r)
		if e != nil {
			writeError(w, e)
			return
		}
		st := c.status()
		if co := m.coordination(c.id); co != nil {
			st.Coordination = co.status()
		}
		writeJSON(w, http.StatusOK, st)
	}))
	mux.HandleFunc("POST "+pathCeremonies+"/{id}/abort", a.ceremonyGuard(a.handleAbortCeremony))
	mux.HandleFunc("PUT "+pathCeremonies+"/{id}", a.adminGuard(true, a.handleJoinCeremony))
	mux.HandleFunc("POST "+pathCeremonies+"/{id}/activate", func(w http.ResponseWriter, r *http.Request) {
		c, e := a.coordinatedCeremony(r)
		var req activateRequest
		if e == nil {
			e = decodeStrict(w, r, &req)
		}
		var t [32]byte
		if e == nil {
			if err := strictHex(req.Transcript, t[:]); err != nil {
				e = refuse(http.StatusBadRequest, "bad_request", "transcript: %v", err)
			}
		}
		if e == nil {
			// Activation runs to its end even if the coordinator stops
			// waiting: it retries, and finds it done or in progress.
			e = c.activate(context.WithoutCancel(r.Context()), t)
		}
		writeResult(w, e)
	})
	mux.HandleFunc("POST "+pathCeremonies+"/{id}/finalize", func(w http.ResponseWriter, r *http.Request) {
		c, e := a.coordinatedCeremony(r)
		if e == nil {
			e = c.finalize()
		}
		writeResult(w, e)
	})
	mux.HandleFunc("POST "+pathCeremonies+"/{id}/messages", a.handleCeremonyMessage)
}

// ceremonyGuard serves a ceremony's status or abort to an administrator,
// or to the cluster peer coordinating the ceremony (ceremonyCaller).
func (a *Appliance) ceremonyGuard(h func(w http.ResponseWriter, r *http.Request, x adminActor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := parseCeremonyID(r.PathValue("id"))
		if err != nil {
			writeError(w, refuse(http.StatusBadRequest, "bad_request", "%v", err))
			return
		}
		x, e := a.ceremonyCaller(r, id)
		if e != nil {
			a.logAdminRefusal(r, e)
			writeAdminError(w, e)
			return
		}
		defer x.token.Zero()
		h(w, r, x)
	}
}

func writeResult(w http.ResponseWriter, e *apiError) {
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// decodeStrict reads a JSON body with no unknown field.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body, e := readBody(w, r)
	if e != nil {
		return e
	}
	defer clear(body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refuse(http.StatusBadRequest, "bad_request", "%v", scrubJSONError(err))
	}
	if dec.More() {
		return refuse(http.StatusBadRequest, "bad_request", "data after the JSON object")
	}
	return nil
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
	id, err := parseCeremonyID(r.PathValue("id"))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	c, ok := a.ceremonies.get(id)
	if !ok {
		return nil, refuse(http.StatusNotFound, "unknown_ceremony", "%v %s", ErrUnknownCeremony, ceremonyIDString(id))
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
		return nil, refuse(http.StatusGone, "ceremony_aborted", "%v: %s", ErrCeremonyAborted, reason)
	}
	if id, ok := a.participantOf(r); !ok || id != tss.ID(c.plan.Coordinator) {
		return nil, refuse(http.StatusForbidden, "unauthorised", "only the ceremony's coordinator (participant %d) may do this", c.plan.Coordinator)
	}
	return c, nil
}

func (a *Appliance) handleJoinCeremony(w http.ResponseWriter, r *http.Request, x adminActor) {
	id, err := parseCeremonyID(r.PathValue("id"))
	if err != nil {
		writeError(w, refuse(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	var plan ceremonyPlan
	if e := decodeStrict(w, r, &plan); e != nil {
		writeError(w, e)
		return
	}
	if plan.ID() != id {
		writeError(w, refuse(http.StatusBadRequest, "bad_request", "plan: hashes to %s, not the ceremony id in the path", ceremonyIDString(plan.ID())))
		return
	}
	if from, ok := a.participantOf(r); !ok || from != tss.ID(plan.Coordinator) {
		writeError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not the plan's coordinator (participant %d)", x.client, plan.Coordinator))
		return
	}
	if e := a.recordAdmin(x, "ceremony_join "+ceremonyIDString(id)); e != nil {
		writeError(w, e)
		return
	}
	c, e := a.ceremonies.join(&plan)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, c.status())
}

func (a *Appliance) handleAbortCeremony(w http.ResponseWriter, r *http.Request, x adminActor) {
	id, err := parseCeremonyID(r.PathValue("id"))
	var req abortRequest
	var e *apiError
	if err != nil {
		e = refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	if e == nil {
		e = decodeStrict(w, r, &req)
	}
	if e == nil {
		e = checkReason(req.Reason)
	}
	if e == nil {
		e = a.recordAdmin(x, "ceremony_abort "+ceremonyIDString(id))
	}
	if e == nil {
		reason := fmt.Sprintf("aborted by %s: %s", x, req.Reason)
		e = a.ceremonies.abort(r.Context(), id, reason)
	}
	writeResult(w, e)
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
	if st, _ := c.current(); st == stateComplete {
		return refuse(http.StatusConflict, "ceremony_state", "ceremony is complete: remove its accounts instead")
	}
	c.abort(ctx, reason)
	return nil
}

func (a *Appliance) handleCeremonyMessage(w http.ResponseWriter, r *http.Request) {
	from, ok := a.participantOf(r)
	if !ok {
		writeError(w, refuse(http.StatusForbidden, "unauthorised", "client %q is not a participant of this cluster", tlsClientName(r, a.policy)))
		return
	}
	c, e := a.ceremonyOf(r)
	var req messageRequest
	if e == nil {
		e = decodeStrict(w, r, &req)
	}
	defer clear(req.Message)
	if e == nil && c.plan == nil {
		_, reason := c.current()
		e = refuse(http.StatusGone, "ceremony_aborted", "%v: %s", ErrCeremonyAborted, reason)
	}
	if e == nil {
		e = c.deliver(r.Context(), from, req.Message)
	}
	writeResult(w, e)
}

func (a *Appliance) handleStartCeremony(w http.ResponseWriter, r *http.Request, x adminActor) {
	var req StartCeremonyRequest
	if e := decodeStrict(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	plan, timeout, e := a.planCeremony(&req)
	if e == nil {
		e = a.recordAdmin(x, "ceremony_start "+ceremonyIDString(plan.ID()))
	}
	if e != nil {
		writeError(w, e)
		return
	}
	// The coordination keeps its own copy of the token for the joins; the
	// request's is zeroed when the request ends.
	id, e := a.ceremonies.coordinate(plan, timeout, adminActor{client: x.client, onBehalfOf: x.onBehalfOf, token: x.token.clone()})
	if e != nil {
		writeError(w, e)
		return
	}
	a.log.Info("key generation ceremony started", "ceremony", id, "client", x.client, "on_behalf_of", x.onBehalfOf, "validators", req.Validators, "threshold", req.Threshold)
	writeJSON(w, http.StatusOK, StartCeremonyResponse{ID: id})
}

// Defaults of a start request.
const (
	defaultParticipantTimeout = 2 * time.Minute
	defaultCeremonyTimeout    = time.Hour
)

// planCeremony turns an operator's request into a plan, naming the first
// wrong field.
func (a *Appliance) planCeremony(req *StartCeremonyRequest) (*ceremonyPlan, time.Duration, *apiError) {
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
	if req.Validators < 1 || req.Validators > MaxCeremonyValidators {
		return bad("validators: %d is not between 1 and %d", req.Validators, MaxCeremonyValidators)
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

// Peer methods for ceremonies.

// StartCeremony asks this signer to coordinate a ceremony and returns its
// id.
func (p *Peer) StartCeremony(ctx context.Context, req *StartCeremonyRequest) (string, error) {
	var resp StartCeremonyResponse
	if err := p.Do(ctx, http.MethodPost, pathCeremonies, req, &resp); err != nil {
		return "", err
	}
	if _, err := parseCeremonyID(resp.ID); err != nil {
		return "", fmt.Errorf("participant %s: %w", p.id, err)
	}
	return resp.ID, nil
}

// CeremonyStatus returns this signer's view of a ceremony (with the
// coordination, if it coordinates it).
// An unknown ceremony matches [ErrUnknownCeremony].
func (p *Peer) CeremonyStatus(ctx context.Context, id string) (*CeremonyStatus, error) {
	var st CeremonyStatus
	if err := p.Do(ctx, http.MethodGet, pathCeremonies+"/"+id, nil, &st); err != nil {
		return nil, ceremonyError(err)
	}
	return &st, nil
}

// AbortCeremony ends a ceremony (everywhere, when this signer coordinates
// it).
func (p *Peer) AbortCeremony(ctx context.Context, id, reason string) error {
	return ceremonyError(p.Do(ctx, http.MethodPost, pathCeremonies+"/"+id+"/abort", abortRequest{Reason: reason}, nil))
}

// ceremonyError adds to a participant's refusal the sentinel error the
// caller decides on; the refusal's status stays readable with
// coordinator.Status.
func ceremonyError(err error) error {
	switch coordinator.Status(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrUnknownCeremony, err)
	case http.StatusGone:
		return fmt.Errorf("%w: %w", ErrCeremonyAborted, err)
	}
	return err
}

func (p *Peer) deliverCeremonyMessage(ctx context.Context, id [32]byte, msg []byte) error {
	return p.Do(ctx, http.MethodPost, pathCeremonies+"/"+ceremonyIDString(id)+"/messages", messageRequest{Message: msg}, nil)
}

// ceremonyMember is one participant as the coordinator drives it: over
// mutual TLS, or this signer itself in process.
type ceremonyMember interface {
	memberID() tss.ID
	join(ctx context.Context, plan *ceremonyPlan) error
	status(ctx context.Context, id [32]byte) (CeremonyStatus, error)
	activate(ctx context.Context, id [32]byte, transcript string) error
	finalize(ctx context.Context, id [32]byte) error
	abort(ctx context.Context, id [32]byte, reason string) error
}

type remoteMember struct{ p *Peer }

func (r remoteMember) memberID() tss.ID { return r.p.id }

func (r remoteMember) join(ctx context.Context, plan *ceremonyPlan) error {
	return r.p.Do(ctx, http.MethodPut, pathCeremonies+"/"+ceremonyIDString(plan.ID()), plan, nil)
}

func (r remoteMember) status(ctx context.Context, id [32]byte) (CeremonyStatus, error) {
	st, err := r.p.CeremonyStatus(ctx, ceremonyIDString(id))
	if err != nil {
		return CeremonyStatus{}, err
	}
	return *st, nil
}

func (r remoteMember) activate(ctx context.Context, id [32]byte, transcript string) error {
	return r.p.Do(ctx, http.MethodPost, pathCeremonies+"/"+ceremonyIDString(id)+"/activate", activateRequest{Transcript: transcript}, nil)
}

func (r remoteMember) finalize(ctx context.Context, id [32]byte) error {
	return r.p.Do(ctx, http.MethodPost, pathCeremonies+"/"+ceremonyIDString(id)+"/finalize", struct{}{}, nil)
}

func (r remoteMember) abort(ctx context.Context, id [32]byte, reason string) error {
	return r.p.AbortCeremony(ctx, ceremonyIDString(id), reason)
}

// localMember is the coordinator's own participant.
type localMember struct{ m *ceremonyManager }

func (l localMember) memberID() tss.ID { return tss.ID(l.m.a.cfg.Node.ID) }

func (l localMember) join(_ context.Context, plan *ceremonyPlan) error {
	_, e := l.m.join(plan)
	return asStatusError(e)
}

func (l localMember) status(_ context.Context, id [32]byte) (CeremonyStatus, error) {
	c, ok := l.m.get(id)
	if !ok {
		return CeremonyStatus{}, &coordinator.StatusError{Code: http.StatusNotFound, Message: ErrUnknownCeremony.Error()}
	}
	return c.status(), nil
}

func (l localMember) activate(ctx context.Context, id [32]byte, transcript string) error {
	c, ok := l.m.get(id)
	if !ok {
		return &coordinator.StatusError{Code: http.StatusNotFound, Message: ErrUnknownCeremony.Error()}
	}
	var t [32]byte
	if _, err := hex.Decode(t[:], []byte(transcript)); err != nil || len(transcript) != 64 {
		return &coordinator.StatusError{Code: http.StatusBadRequest, Message: "transcript: not 32 bytes of hex"}
	}
	return asStatusError(c.activate(ctx, t))
}

func (l localMember) finalize(_ context.Context, id [32]byte) error {
	c, ok := l.m.get(id)
	if !ok {
		return &coordinator.StatusError{Code: http.StatusNotFound, Message: ErrUnknownCeremony.Error()}
	}
	return asStatusError(c.finalize())
}

func (l localMember) abort(ctx context.Context, id [32]byte, reason string) error {
	c, ok := l.m.get(id)
	if !ok {
		return asStatusError(l.m.tombstone(id, reason))
	}
	c.abort(ctx, reason)
	return nil
}

// asStatusError turns a refusal into the error a remote participant's
// would be, so the coordinator treats both alike.
func asStatusError(e *apiError) error {
	if e == nil {
		return nil
	}
	return statusError(e)
}

// strictHex decodes lower-case hex without 0x of exactly len(dst) bytes.
func strictHex(s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%d hex digits, want %d", len(s), 2*len(dst))
	}
	if s != strings.ToLower(s) {
		return errors.New("not lower-case hex")
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return errors.New("not hexadecimal")
	}
	return nil
}
