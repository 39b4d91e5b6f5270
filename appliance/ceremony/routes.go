package ceremony

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/tss"
)

// Access is who may call a route. The daemon's guard (appliance/authz.go)
// decides it from the client's verified certificate and administrative
// proof before the route's handler runs; the handlers here decide nothing
// about who the caller is beyond what their Caller says.
type Access uint8

// Who may call a ceremony route.
const (
	// AccessAdmin: an administrator's two proofs (mTLS identity and
	// token), directly or relayed by a cluster peer.
	AccessAdmin Access = iota + 1
	// AccessAdminOrCoordinator: an administrator, or the cluster peer
	// that coordinates the ceremony named in the path (it polls and aborts
	// with its own identity, and holds no token after a restart). A peer
	// asking about a ceremony this signer has never heard of is let in, to
	// learn so (404) and send the plan.
	AccessAdminOrCoordinator
	// AccessCoordinator: the cluster peer that coordinates the ceremony
	// named in the path.
	AccessCoordinator
	// AccessParticipant: any participant of the cluster.
	AccessParticipant
)

// Caller is who the guard let in.
type Caller struct {
	// Peer is the cluster participant the client's certificate names, or
	// 0 when it names none.
	Peer tss.ID
	// Actor is the administrative proof the guard checked (its Token set),
	// or the peer's name when the route needs none.
	Actor adminapi.Actor
}

// Route is one ceremony endpoint for the daemon to mount under its guard.
type Route struct {
	// Pattern is the http.ServeMux pattern, method and path.
	Pattern string
	Access  Access
	Handle  func(w http.ResponseWriter, r *http.Request, c Caller)
}

// Routes are the ceremony endpoints (adminapi.PathCeremonies).
func (s *Service) Routes() []Route {
	p := adminapi.PathCeremonies
	return []Route{
		{"POST " + p, AccessAdmin, s.handleStart},
		{"POST " + p + "/reshare", AccessAdmin, s.handleStartReshare},
		{"GET " + p + "/{id}", AccessAdminOrCoordinator, s.handleStatus},
		{"POST " + p + "/{id}/abort", AccessAdminOrCoordinator, s.handleAbort},
		// The administrator's start, relayed by the plan's coordinator.
		{"PUT " + p + "/{id}", AccessAdmin, s.handleJoin},
		{"POST " + p + "/{id}/activate", AccessCoordinator, s.handleActivate},
		{"POST " + p + "/{id}/finalize", AccessCoordinator, s.handleFinalize},
		{"POST " + p + "/{id}/messages", AccessParticipant, s.handleMessage},
		{"GET " + p + "/{id}/history", AccessParticipant, s.handleHistory},
	}
}

// record appends an administrative action to the audit log before it is
// carried out; when it cannot, the action is refused.
func (s *Service) record(x adminapi.Actor, action string) *web.Refusal {
	err := s.env.deps.Audit.RecordAdmin(x, action)
	if err == nil {
		return nil
	}
	var e *web.Refusal
	if errors.As(err, &e) {
		return e
	}
	return web.Refuse(http.StatusServiceUnavailable, "unavailable", "audit log unavailable")
}

// ceremonyOf finds the ceremony named in the path.
func (s *Service) ceremonyOf(r *http.Request) (*ceremony, *web.Refusal) {
	id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
	if err != nil {
		return nil, web.Refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	c, ok := s.get(id)
	if !ok {
		return nil, web.Refuse(http.StatusNotFound, "unknown_ceremony", "%v %s", adminapi.ErrUnknownCeremony, adminapi.CeremonyID(id))
	}
	return c, nil
}

// plannedCeremony is ceremonyOf for a ceremony this signer holds the plan
// of: one it knows only as aborted is gone (410).
func (s *Service) plannedCeremony(r *http.Request) (*ceremony, *web.Refusal) {
	c, e := s.ceremonyOf(r)
	if e == nil && c.plan == nil {
		_, reason := c.current()
		return nil, refuseAborted(reason)
	}
	return c, e
}

// handleStatus answers a ceremony's status. With ?after=V&wait=D it
// answers once the status has moved past version V, or after D (at most
// Config.MaxWait), whichever comes first: a caller watching a ceremony
// learns of each change when it happens, without polling.
func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request, _ Caller) {
	c, e := s.ceremonyOf(r)
	var after uint64
	var wait time.Duration
	if e == nil {
		after, wait, e = waitParams(r, s.env.cfg.MaxWait)
	}
	if e != nil {
		web.WriteError(w, e)
		return
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		c.wait(ctx, after)
		cancel()
	}
	st := c.status()
	if co := s.coordination(c.id); co != nil {
		st.Coordination = co.status()
	}
	web.WriteJSON(w, http.StatusOK, st)
}

// waitParams reads a status request's after (a version) and wait (a Go
// duration, cut to most).
func waitParams(r *http.Request, most time.Duration) (uint64, time.Duration, *web.Refusal) {
	q := r.URL.Query()
	var after uint64
	var wait time.Duration
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, web.Refuse(http.StatusBadRequest, "bad_request", "after: %q is not a version number", v)
		}
		after = n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, 0, web.Refuse(http.StatusBadRequest, "bad_request", "wait: %q is not a duration", v)
		}
		wait = min(d, most)
	}
	return after, wait, nil
}

func (s *Service) handleActivate(w http.ResponseWriter, r *http.Request, _ Caller) {
	c, e := s.plannedCeremony(r)
	var req adminapi.ActivateRequest
	if e == nil {
		e = web.DecodeStrict(w, r, &req)
	}
	var t [32]byte
	if e == nil {
		if err := deposit.LowerHex(req.Transcript, t[:]); err != nil {
			e = web.Refuse(http.StatusBadRequest, "bad_request", "transcript: %v", err)
		}
	}
	if e == nil {
		// Activation runs to its end even if the coordinator stops
		// waiting: it retries, and finds it done or in progress.
		e = c.activate(context.WithoutCancel(r.Context()), t)
	}
	web.WriteResult(w, e)
}

func (s *Service) handleFinalize(w http.ResponseWriter, r *http.Request, _ Caller) {
	c, e := s.plannedCeremony(r)
	if e == nil {
		e = c.finalize(context.WithoutCancel(r.Context()))
	}
	web.WriteResult(w, e)
}

func (s *Service) handleJoin(w http.ResponseWriter, r *http.Request, caller Caller) {
	id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
	if err != nil {
		web.WriteError(w, web.Refuse(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	var p plan
	if e := web.DecodeStrict(w, r, &p); e != nil {
		web.WriteError(w, e)
		return
	}
	if p.ID() != id {
		web.WriteError(w, web.Refuse(http.StatusBadRequest, "bad_request", "plan: hashes to %s, not the ceremony id in the path", adminapi.CeremonyID(p.ID())))
		return
	}
	// Who coordinates is in the body: only the plan's coordinator relays
	// the start to the others.
	if caller.Peer == 0 || caller.Peer != tss.ID(p.Coordinator) {
		web.WriteError(w, web.Refuse(http.StatusForbidden, "unauthorised", "client %q is not the plan's coordinator (participant %d)", caller.Actor.Client, p.Coordinator))
		return
	}
	if e := s.record(caller.Actor, "ceremony_join "+adminapi.CeremonyID(id)); e != nil {
		web.WriteError(w, e)
		return
	}
	c, e := s.join(&p)
	if e != nil {
		web.WriteError(w, e)
		return
	}
	web.WriteJSON(w, http.StatusOK, c.status())
}

func (s *Service) handleAbort(w http.ResponseWriter, r *http.Request, caller Caller) {
	id, err := adminapi.ParseCeremonyID(r.PathValue("id"))
	var req adminapi.AbortRequest
	var e *web.Refusal
	if err != nil {
		e = web.Refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
	if e == nil {
		e = web.DecodeStrict(w, r, &req)
	}
	if e == nil {
		e = checkReason(req.Reason)
	}
	if e == nil {
		e = s.record(caller.Actor, "ceremony_abort "+adminapi.CeremonyID(id))
	}
	if e == nil {
		e = s.abort(r.Context(), id, caller.Peer, fmt.Sprintf("aborted by %s: %s", caller.Actor, req.Reason))
	}
	web.WriteResult(w, e)
}

// checkReason accepts a short printable abort reason.
func checkReason(s string) *web.Refusal {
	if s == "" || len(s) > 1024 {
		return web.Refuse(http.StatusBadRequest, "bad_request", "reason: want 1 to 1024 bytes, got %d", len(s))
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return web.Refuse(http.StatusBadRequest, "bad_request", "reason: contains a non-printable character")
		}
	}
	return nil
}

func (s *Service) handleMessage(w http.ResponseWriter, r *http.Request, caller Caller) {
	c, e := s.plannedCeremony(r)
	var req adminapi.MessageRequest
	if e == nil {
		e = web.DecodeStrict(w, r, &req)
	}
	defer clear(req.Message)
	if e == nil {
		e = c.deliver(r.Context(), caller.Peer, req.Message)
	}
	web.WriteResult(w, e)
}

// handleHistory answers a repair's repaired participant, and no one
// else, the slashing history of one batch's accounts, so that its
// repaired shares start from what this signer signed.
func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request, caller Caller) {
	c, e := s.plannedCeremony(r)
	if e == nil {
		switch {
		case !c.plan.repair() && !c.plan.redistribute():
			e = web.Refuse(http.StatusBadRequest, "bad_request", "ceremony %s is neither a share repair nor a redistribution", adminapi.CeremonyID(c.id))
		case c.plan.repair() && (caller.Peer == 0 || caller.Peer != tss.ID(c.plan.Repaired)):
			e = web.Refuse(http.StatusForbidden, "unauthorised", "only the repaired participant (%d) may read the history of a repair", c.plan.Repaired)
		case c.plan.redistribute() && (caller.Peer == 0 || !c.plan.joins(caller.Peer)):
			e = web.Refuse(http.StatusForbidden, "unauthorised", "only a member joining the accounts (%v, not in %v) may read the history of a redistribution", c.plan.NewMembers, c.plan.OldMembers)
		case c.plan.repair() && !c.helping():
			e = web.Refuse(http.StatusBadRequest, "bad_request", "this signer is the repaired participant: it has no history to give")
		case c.plan.redistribute() && !slices.Contains(c.plan.OldMembers, api.Uint64(c.self)):
			e = web.Refuse(http.StatusBadRequest, "bad_request", "this signer joins the accounts: it has no history to give")
		case s.env.deps.Repairs == nil:
			e = web.Refuse(http.StatusNotImplemented, "not_implemented", "this signer cannot help a repair")
		}
	}
	var batch int
	if e == nil {
		n, err := strconv.Atoi(r.URL.Query().Get("batch"))
		if err != nil || n < 0 || n >= c.plan.batches() {
			e = web.Refuse(http.StatusBadRequest, "bad_request", "batch: %q is not a batch of the ceremony (0 to %d)", r.URL.Query().Get("batch"), c.plan.batches()-1)
		}
		batch = n
	}
	if e == nil {
		if st, reason := c.current(); st.Aborted() {
			e = refuseAborted(reason)
		}
	}
	if e != nil {
		web.WriteError(w, e)
		return
	}
	lo, hi := c.plan.batchRange(batch)
	doc, err := s.env.deps.Repairs.ExportHistory(r.Context(), c.plan.keys()[lo:hi])
	if err != nil {
		web.WriteError(w, web.Refuse(http.StatusServiceUnavailable, "unavailable", "exporting the slashing history: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(doc)
}

func (s *Service) handleStart(w http.ResponseWriter, r *http.Request, caller Caller) {
	var req adminapi.StartCeremonyRequest
	if e := web.DecodeStrict(w, r, &req); e != nil {
		web.WriteError(w, e)
		return
	}
	p, timeout, e := s.planFor(&req)
	s.startPlanned(w, caller, p, timeout, e, "")
}

// startPlanned answers a start request planned as p (or refused with e):
// it records the start in the audit log (the action followed by detail),
// coordinates the ceremony and answers with its id.
func (s *Service) startPlanned(w http.ResponseWriter, caller Caller, p *plan, timeout time.Duration, e *web.Refusal, detail string) {
	if e == nil {
		e = s.record(caller.Actor, "ceremony_start "+adminapi.CeremonyID(p.ID())+detail)
	}
	if e != nil {
		web.WriteError(w, e)
		return
	}
	// The coordination keeps its own copy of the token for the joins; the
	// request's is zeroed when the request ends.
	x := caller.Actor
	id, e := s.coordinate(p, timeout, adminapi.Actor{Client: x.Client, OnBehalfOf: x.OnBehalfOf, Token: x.Token.Clone()})
	if e != nil {
		web.WriteError(w, e)
		return
	}
	s.log.Info(p.what()+" started", "ceremony", id, "client", x.Client, "on_behalf_of", x.OnBehalfOf, "validators", p.Validators, "threshold", p.Threshold)
	web.WriteJSON(w, http.StatusOK, adminapi.StartCeremonyResponse{ID: id})
}

// Defaults of a start request.
const (
	defaultParticipantTimeout = 2 * time.Minute
	defaultCeremonyTimeout    = time.Hour
)

// planFor turns an operator's request into a plan, naming the first wrong
// field.
func (s *Service) planFor(req *adminapi.StartCeremonyRequest) (*plan, time.Duration, *web.Refusal) {
	bad := func(format string, args ...any) (*plan, time.Duration, *web.Refusal) {
		return nil, 0, web.Refuse(http.StatusBadRequest, "bad_request", format, args...)
	}
	pt, timeout, e := parseTimeouts(req.ParticipantTimeout, req.Timeout)
	if e != nil {
		return nil, 0, e
	}
	cfg := &s.env.cfg
	var ids []api.Uint64
	for _, id := range cfg.Participants {
		ids = append(ids, api.Uint64(id))
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
	p := &plan{
		ClusterID:             api.Root(cfg.ClusterID),
		Coordinator:           api.Uint64(cfg.Self),
		Participants:          ids,
		Threshold:             api.Uint64(t),
		Validators:            api.Uint64(req.Validators),
		BatchSize:             api.Uint64(batch),
		WithdrawalCredentials: req.WithdrawalCredentials,
		AmountGwei:            req.AmountGwei,
		GenesisValidatorsRoot: api.Root(cfg.Network.GenesisValidatorsRoot()),
		NetworkName:           cfg.Network.Name(),
		Deadline:              api.Uint64(s.env.now().Add(timeout).Unix()),
	}
	fork := cfg.Network.GenesisForkVersion()
	p.GenesisForkVersion = api.Uint64(uint32(fork[0])<<24 | uint32(fork[1])<<16 | uint32(fork[2])<<8 | uint32(fork[3]))
	if err := p.deposit().Validate(); err != nil {
		return bad("%v", err)
	}
	if _, err := io.ReadFull(cfg.Rand, p.Nonce[:]); err != nil {
		return nil, 0, web.Refuse(http.StatusServiceUnavailable, "unavailable", "drawing the ceremony nonce: %v", err)
	}
	return p, pt, nil
}

func (s *Service) handleStartReshare(w http.ResponseWriter, r *http.Request, caller Caller) {
	var req adminapi.StartReshareRequest
	if e := web.DecodeStrict(w, r, &req); e != nil {
		web.WriteError(w, e)
		return
	}
	p, timeout, e := s.resharePlan(r.Context(), &req)
	s.startPlanned(w, caller, p, timeout, e, " reshare "+req.Mode)
}

// maxPlanBytes bounds a plan's JSON: the coordinator sends it to every
// participant in one request.
const maxPlanBytes = web.MaxBody - 64<<10

// resharePlan turns an operator's resharing request into a plan, naming
// the first wrong field. The accounts' public configuration is the one
// this signer's coordinator discovers now (a repaired participant's
// component keys interpolated from the others'); every participant
// checks its own component keys against its shares when its batches
// start, and the repaired one its repaired shares against its keys.
func (s *Service) resharePlan(ctx context.Context, req *adminapi.StartReshareRequest) (*plan, time.Duration, *web.Refusal) {
	bad := func(format string, args ...any) (*plan, time.Duration, *web.Refusal) {
		return nil, 0, web.Refuse(http.StatusBadRequest, "bad_request", format, args...)
	}
	cfg := &s.env.cfg
	var repaired tss.ID
	switch req.Mode {
	case adminapi.ReshareRefresh:
		if req.Participant != 0 || len(req.Helpers) != 0 {
			return bad("participant, helpers: a refresh names none (every signer takes part)")
		}
	case adminapi.ReshareRepair:
		repaired = tss.ID(req.Participant)
		switch {
		case !slices.Contains(cfg.Participants, repaired):
			return bad("participant: %d is not a participant of this cluster", req.Participant)
		case repaired == cfg.Self:
			return bad("participant: %d is this signer, which holds no shares to repair with: start the repair at another signer", req.Participant)
		}
		for i, h := range req.Helpers {
			switch {
			case !slices.Contains(cfg.Participants, tss.ID(h)):
				return bad("helpers[%d]: %d is not a participant of this cluster", i, h)
			case tss.ID(h) == repaired:
				return bad("helpers[%d]: %d is the repaired participant", i, h)
			}
		}
		if len(req.Helpers) > 0 && !slices.Contains(req.Helpers, api.Uint64(cfg.Self)) {
			return bad("helpers: this signer (%d) coordinates and must help", cfg.Self)
		}
	case adminapi.ReshareRedistribute:
		if req.Participant != 0 {
			return bad("participant: a redistribution names new_members and new_threshold, not a participant")
		}
		if len(req.NewMembers) == 0 {
			return bad("new_members: required: the participants of the new configuration")
		}
		for i, id := range req.NewMembers {
			if !slices.Contains(cfg.Participants, tss.ID(id)) {
				return bad("new_members[%d]: %d is not a participant of this cluster (add it to cluster.participants on every signer first)", i, id)
			}
		}
		if err := tss.CheckThreshold(int(min(req.NewThreshold, 1<<16)), len(req.NewMembers)); err != nil {
			return bad("new_threshold: %v", err)
		}
	default:
		return bad("mode: %q is none of %q, %q, %q", req.Mode, adminapi.ReshareRefresh, adminapi.ReshareRepair, adminapi.ReshareRedistribute)
	}
	if req.Mode != adminapi.ReshareRedistribute && (len(req.NewMembers) != 0 || req.NewThreshold != 0) {
		return bad("new_members, new_threshold: only a redistribution names them")
	}
	dir := s.env.deps.Directory
	if dir == nil || s.env.deps.Refreshes == nil || s.env.deps.Repairs == nil {
		return nil, 0, web.Refuse(http.StatusNotImplemented, "not_implemented", "this signer cannot coordinate a resharing")
	}
	pt, timeout, e := parseTimeouts(req.ParticipantTimeout, req.Timeout)
	if e != nil {
		return nil, 0, e
	}
	keys := slices.Clone(req.Accounts)
	if len(keys) == 0 {
		keys = dir.Keys()
		if len(keys) == 0 {
			return bad("accounts: this signer holds no account to refresh")
		}
	}
	if len(keys) > adminapi.MaxCeremonyValidators {
		return bad("accounts: %d listed, at most %d", len(keys), adminapi.MaxCeremonyValidators)
	}
	accounts, err := dir.PublicConfig(ctx, keys, ConfigQuery{Lost: repaired, Redistribution: req.Mode == adminapi.ReshareRedistribute})
	if err != nil {
		return bad("accounts: %v", err)
	}
	var ids []api.Uint64
	for _, id := range cfg.Participants {
		ids = append(ids, api.Uint64(id))
	}
	slices.Sort(ids)
	t := accounts[0].Threshold
	kind := kindRefresh
	switch {
	case repaired != 0:
		kind = kindRepair
	case req.Mode == adminapi.ReshareRedistribute:
		kind = kindRedistribute
	}
	members := ids // whose component keys the accounts list
	if kind == kindRedistribute {
		members = nil
		for _, c := range accounts[0].Components {
			members = append(members, api.Uint64(c.ID))
		}
	}
	p := &plan{
		Kind:                  kind,
		Repaired:              api.Uint64(repaired),
		ClusterID:             api.Root(cfg.ClusterID),
		Coordinator:           api.Uint64(cfg.Self),
		Participants:          ids,
		Threshold:             api.Uint64(t),
		Validators:            api.Uint64(len(accounts)),
		GenesisValidatorsRoot: api.Root(cfg.Network.GenesisValidatorsRoot()),
		NetworkName:           cfg.Network.Name(),
		Deadline:              api.Uint64(s.env.now().Add(timeout).Unix()),
	}
	fork := cfg.Network.GenesisForkVersion()
	p.GenesisForkVersion = api.Uint64(uint32(fork[0])<<24 | uint32(fork[1])<<16 | uint32(fork[2])<<8 | uint32(fork[3]))
	for i, a := range accounts {
		if a.Threshold != t {
			return bad("accounts[%d]: %s has threshold %d, accounts[0] %d: refresh accounts of one threshold at a time", i, keys[i], a.Threshold, t)
		}
		if len(a.Components) != len(members) {
			return bad("accounts[%d]: %s has %d members, accounts[0] %d: reshare accounts of one configuration at a time", i, keys[i], len(a.Components), len(members))
		}
		pa := planAccount{Key: api.PublicKey(a.Composite.Bytes())}
		for k, c := range a.Components {
			if api.Uint64(c.ID) != members[k] {
				return bad("accounts[%d]: %s: member %s is not accounts[0]'s member %d: reshare accounts of one configuration at a time", i, keys[i], c.ID, members[k])
			}
			pa.Components = append(pa.Components, api.PublicKey(c.PublicKey.Bytes()))
		}
		p.Accounts = append(p.Accounts, pa)
	}
	if err := tss.CheckThreshold(t, len(members)); err != nil {
		return bad("threshold: %v", err)
	}
	if kind == kindRedistribute {
		if e := s.redistribution(p, req, keys, members); e != nil {
			return nil, 0, e
		}
	} else {
		// A refresh or a repair keeps the accounts' generation: each
		// participant holding them checks it is theirs.
		gen, err := dir.Generation(keys)
		if err != nil {
			return bad("accounts: %v (the coordinating signer must hold every account it reshares)", err)
		}
		p.Generation = api.Uint64(gen)
	}
	if t < 2 {
		return bad("threshold: a %s at threshold %d is not possible", kind, t)
	}
	if repaired != 0 {
		// Every other signer helps unless the operator names fewer (some
		// are down): at least the threshold.
		helpers := slices.Clone(req.Helpers)
		if len(helpers) == 0 {
			for _, id := range ids {
				if id != api.Uint64(repaired) {
					helpers = append(helpers, id)
				}
			}
		}
		slices.Sort(helpers)
		helpers = slices.Compact(helpers)
		if len(helpers) < t {
			return bad("helpers: %d signers help, fewer than the threshold %d", len(helpers), t)
		}
		p.Helpers = helpers
	}
	n := len(ids)
	if kind == kindRedistribute {
		n, t = len(p.members()), max(t, int(p.NewThreshold))
	}
	batch := req.BatchSize
	if batch == 0 {
		batch = defaultBatchSize(len(accounts), n, t)
	}
	if mb := maxBatchSize(n, t); batch < 1 || batch > mb {
		return bad("batch_size: %d is not between 1 and %d", batch, mb)
	}
	p.BatchSize = api.Uint64(batch)
	if _, err := io.ReadFull(cfg.Rand, p.Nonce[:]); err != nil {
		return nil, 0, web.Refuse(http.StatusServiceUnavailable, "unavailable", "drawing the ceremony nonce: %v", err)
	}
	if b, err := json.Marshal(p); err != nil || len(b) > maxPlanBytes {
		return bad("accounts: %d are too many for one plan (%d bytes, at most %d): reshare them in parts", len(accounts), len(b), maxPlanBytes)
	}
	return p, pt, nil
}

// redistribution completes a redistribution plan: its old and new
// configurations, dealers and generation.
func (s *Service) redistribution(p *plan, req *adminapi.StartReshareRequest, keys []api.PublicKey, old []api.Uint64) *web.Refusal {
	bad := func(format string, args ...any) *web.Refusal {
		return web.Refuse(http.StatusBadRequest, "bad_request", format, args...)
	}
	self := api.Uint64(s.env.cfg.Self)
	newMembers := slices.Clone(req.NewMembers)
	slices.Sort(newMembers)
	if len(slices.Compact(newMembers)) != len(req.NewMembers) {
		return bad("new_members: a participant is listed twice")
	}
	dealers := slices.Clone(req.Helpers)
	if len(dealers) == 0 {
		dealers = slices.Clone(old)
	}
	slices.Sort(dealers)
	dealers = slices.Compact(dealers)
	for i, d := range dealers {
		if !slices.Contains(old, d) {
			return bad("helpers[%d]: %d is not a current member of the accounts (%v): only they hold shares to deal", i, d, old)
		}
	}
	switch {
	case !slices.Contains(dealers, self):
		return bad("helpers: this signer (%d) coordinates and must deal: start the redistribution at a current member that deals", self)
	case len(dealers) < int(p.Threshold):
		return bad("helpers: %d dealers, fewer than the current threshold %d", len(dealers), p.Threshold)
	case int(req.NewThreshold) < 2:
		return bad("new_threshold: %d; a configuration at threshold 1 gives one signer the whole key", req.NewThreshold)
	case slices.Equal(old, newMembers) && p.Threshold == req.NewThreshold:
		return bad("new_members, new_threshold: the accounts have this configuration already; to change only the shares, refresh them")
	}
	gen, err := s.env.deps.Directory.Generation(keys)
	if err != nil {
		return bad("accounts: %v (the coordinating signer must hold every account it redistributes)", err)
	}
	p.OldMembers, p.NewMembers, p.NewThreshold, p.Helpers, p.Generation = old, newMembers, req.NewThreshold, dealers, api.Uint64(gen+1)
	return nil
}

// parseTimeouts reads a start request's participant timeout and ceremony
// timeout, each with its default.
func parseTimeouts(participant, ceremony string) (time.Duration, time.Duration, *web.Refusal) {
	parse := func(field, s string, def time.Duration) (time.Duration, *web.Refusal) {
		if s == "" {
			return def, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, web.Refuse(http.StatusBadRequest, "bad_request", "%s: %q is not a positive duration", field, s)
		}
		return d, nil
	}
	pt, e := parse("participant_timeout", participant, defaultParticipantTimeout)
	if e != nil {
		return 0, 0, e
	}
	timeout, e := parse("timeout", ceremony, defaultCeremonyTimeout)
	if e != nil {
		return 0, 0, e
	}
	if timeout > maxCeremonyDuration {
		return 0, 0, web.Refuse(http.StatusBadRequest, "bad_request", "timeout: %s is longer than %s", timeout, maxCeremonyDuration)
	}
	return pt, timeout, nil
}
