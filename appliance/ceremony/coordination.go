package ceremony

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// Coordination of a ceremony, at the signer the operator asked. The
// coordinator never sees a secret: participants exchange their messages
// directly. It watches every participant's status, ends the ceremony
// everywhere when one aborts, stays unreachable or stops making progress,
// activates the accounts only once every participant is staged with the
// same transcript (one participant finishing does not mean all did),
// obtains the deposit signatures through the cluster and verifies them,
// and finally tells the participants the accounts are theirs.
// Its stages (adminapi.CoordinationStage) are recorded durably, so that a
// restarted coordinator carries on.
const (
	coordinationFile = "coordination.json"
	depositFile      = "deposit_data.json"
	// pollInterval paces the coordinator's status requests.
	pollInterval = 500 * time.Millisecond
	// depositWorkers bounds the deposit signatures requested at once.
	depositWorkers = 16
)

// errAbortRequested ends a stage whose ceremony was aborted meanwhile.
var errAbortRequested = errors.New("ceremony aborted")

type coordinationRecord struct {
	Stage              adminapi.CoordinationStage `json:"stage"`
	Reason             string                     `json:"reason,omitempty"`
	Started            time.Time                  `json:"started"`
	ParticipantTimeout string                     `json:"participant_timeout"`
	Updated            time.Time                  `json:"updated"`
}

type coordination struct {
	s       *Service
	env     *env
	c       *ceremony
	members []member
	timeout time.Duration // participant timeout

	mu        sync.Mutex
	rec       coordinationRecord
	views     map[tss.ID]adminapi.CeremonyStatus
	generated int
	signed    int
	deposits  []deposit.Data
	stop      context.CancelFunc // ends the running stage on an abort
	running   bool
	// joinAs is the administrator who started the ceremony, with the
	// token: the other participants join only on an administrator's proof,
	// which this signer relays. It is kept in memory only, until every
	// participant joined; a coordination resumed after a restart has none.
	joinAs *adminapi.Actor
}

func newCoordination(s *Service, c *ceremony, timeout time.Duration) *coordination {
	co := &coordination{s: s, env: s.env, c: c, timeout: timeout, views: map[tss.ID]adminapi.CeremonyStatus{}}
	for _, id := range c.plan.members() {
		if id == c.self {
			co.members = append(co.members, localMember{s})
		} else {
			co.members = append(co.members, remoteMember{id: id, p: s.env.deps.Peers.Peer(id, nil)})
		}
	}
	return co
}

// coordinate starts coordinating plan for administrator x (whose token
// the coordination owns from now on): this signer joins, records the
// coordination, and runs it in the background.
func (s *Service) coordinate(p *plan, timeout time.Duration, x adminapi.Actor) (id string, e *web.Refusal) {
	defer func() {
		if e != nil {
			x.Token.Zero()
		}
	}()
	// One start at a time: starting is claimed under the lock, and the
	// coordinations are then checked without it.
	s.mu.Lock()
	if s.starting {
		s.mu.Unlock()
		return "", web.Refuse(http.StatusConflict, "ceremony_running", "another ceremony is being started here; wait for it or abort it")
	}
	s.starting = true
	coords := make(map[[32]byte]*coordination, len(s.coords))
	maps.Copy(coords, s.coords)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.starting = false
		s.mu.Unlock()
	}()
	for id, co := range coords {
		if st := co.stage(); !st.Ended() {
			return "", web.Refuse(http.StatusConflict, "ceremony_running", "ceremony %s is still %s here; wait for it or abort it", adminapi.CeremonyID(id), st)
		}
	}
	c, e := s.join(p)
	if e != nil {
		return "", e
	}
	co := newCoordination(s, c, timeout)
	co.joinAs = &x
	co.rec = coordinationRecord{Stage: adminapi.StageGenerating, Started: s.env.now().UTC(), ParticipantTimeout: timeout.String()}
	if err := co.save(); err != nil {
		c.abort(context.Background(), "recording the coordination failed: "+err.Error())
		return "", web.Refuse(http.StatusServiceUnavailable, "unavailable", "recording the coordination: %v", err)
	}
	s.mu.Lock()
	s.coords[c.id] = co
	s.mu.Unlock()
	s.env.group.spawn(co.run)
	return adminapi.CeremonyID(c.id), nil
}

// loadCoordination reads a coordination this signer recorded, if any.
func loadCoordination(s *Service, c *ceremony) (*coordination, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, coordinationFile))
	if errors.Is(err, os.ErrNotExist) || c.plan == nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec coordinationRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", coordinationFile, err)
	}
	timeout, err := time.ParseDuration(rec.ParticipantTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s: participant_timeout: %w", coordinationFile, err)
	}
	co := newCoordination(s, c, timeout)
	co.rec = rec
	if rec.Stage == adminapi.StageComplete && !c.plan.reshares() {
		data, err := os.ReadFile(filepath.Join(c.dir, depositFile))
		if err != nil {
			return nil, err
		}
		if co.deposits, err = deposit.ParseFile(data, c.plan.deposit()); err != nil {
			return nil, fmt.Errorf("%s: %w", depositFile, err)
		}
		co.signed = len(co.deposits)
	}
	return co, nil
}

func (co *coordination) save() error {
	co.mu.Lock()
	co.rec.Updated = co.env.now().UTC()
	b, err := json.MarshalIndent(co.rec, "", "  ")
	co.mu.Unlock()
	if err != nil {
		return err
	}
	return files.WriteDurable(filepath.Join(co.c.dir, coordinationFile), b, 0o600)
}

func (co *coordination) stage() adminapi.CoordinationStage {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.rec.Stage
}

func (co *coordination) setStage(stage adminapi.CoordinationStage) error {
	co.mu.Lock()
	if co.rec.Stage == adminapi.StageAborted {
		co.mu.Unlock()
		return errAbortRequested
	}
	co.rec.Stage = stage
	co.mu.Unlock()
	co.c.changed()
	co.s.log.Info("ceremony coordination", append(co.c.log(), "stage", stage)...)
	return co.save()
}

func (co *coordination) log() []any { return co.c.log() }

// run drives the coordination through its stages until it completes or
// aborts, or the signer stops (a restarted signer carries on from the
// recorded stage).
func (co *coordination) run(ctx context.Context) {
	co.mu.Lock()
	if co.running {
		co.mu.Unlock()
		return
	}
	co.running = true
	co.mu.Unlock()
	defer func() {
		co.mu.Lock()
		co.running = false
		if st := co.rec.Stage; st == adminapi.StageComplete || st == adminapi.StageAborted || ctx.Err() != nil {
			co.forgetTokenLocked()
		}
		co.mu.Unlock()
	}()
	next := map[adminapi.CoordinationStage]adminapi.CoordinationStage{adminapi.StageGenerating: adminapi.StageActivating, adminapi.StageActivating: adminapi.StageDepositing, adminapi.StageDepositing: adminapi.StageFinalizing, adminapi.StageFinalizing: adminapi.StageComplete}
	if co.c.plan.reshares() {
		// A resharing makes no deposit: its keys have one already.
		next[adminapi.StageActivating] = adminapi.StageFinalizing
	}
	for {
		stage := co.stage()
		if stage == adminapi.StageAborted {
			co.broadcastAbort(ctx)
			return
		}
		if stage == adminapi.StageComplete || ctx.Err() != nil {
			return
		}
		sctx, cancel := context.WithCancel(ctx)
		co.mu.Lock()
		co.stop = cancel
		co.mu.Unlock()
		var err error
		switch stage {
		case adminapi.StageGenerating:
			err = co.generate(sctx)
		case adminapi.StageActivating:
			err = co.activateAll(sctx)
		case adminapi.StageDepositing:
			err = co.signDeposits(sctx)
		case adminapi.StageFinalizing:
			err = co.finalizeAll(sctx)
		}
		cancel()
		switch {
		case co.stage() == adminapi.StageAborted:
			continue
		case ctx.Err() != nil:
			return // stopping: resume from this stage at the next start
		case err != nil && stage == adminapi.StageFinalizing && co.c.plan.redistribute():
			// Every member activated the new configuration; some did not
			// finalise yet. Rolling back would leave some on each side:
			// finalising is retried until every member answered.
			co.s.log.Error("finalising a redistribution: a member did not answer; retrying (it is never rolled back once active everywhere)", append(co.log(), "err", err)...)
			select {
			case <-ctx.Done():
				return
			case <-co.env.clock.After(max(co.timeout, 5*time.Second)):
			}
			continue
		case err != nil:
			co.fail(err.Error())
			continue
		}
		if stage == adminapi.StageGenerating {
			// Every participant joined: the token is no longer needed.
			co.mu.Lock()
			co.forgetTokenLocked()
			co.mu.Unlock()
		}
		if err := co.setStage(next[stage]); err != nil && !errors.Is(err, errAbortRequested) {
			co.fail(fmt.Sprintf("recording stage %s: %v", next[stage], err))
		}
	}
}

// forgetTokenLocked zeroes the administrator's token. co.mu held.
func (co *coordination) forgetTokenLocked() {
	if co.joinAs != nil {
		co.joinAs.Token.Zero()
		co.joinAs = nil
	}
}

// errJoinNeedsToken: a participant has not joined and this signer no
// longer holds the administrator's token to send it the plan.
var errJoinNeedsToken = errors.New("this coordinating signer restarted since the ceremony started and keeps the administrator's token in memory only, so it cannot send the plan again: start the ceremony again (rampartctl dkg, rampartctl reshare)")

// join sends the plan to a participant, relaying the administrator's
// proof to a remote one.
func (co *coordination) join(ctx context.Context, mb member, p *plan) error {
	rm, remote := mb.(remoteMember)
	if !remote {
		return mb.join(ctx, p)
	}
	co.mu.Lock()
	var relay Peer
	if x := co.joinAs; x != nil {
		relay = co.env.deps.Peers.Peer(rm.id, x)
	}
	co.mu.Unlock()
	if relay == nil {
		return errJoinNeedsToken
	}
	return remoteMember{id: rm.id, p: relay}.join(ctx, p)
}

// fail aborts the ceremony everywhere with reason; run broadcasts it.
func (co *coordination) fail(reason string) {
	co.mu.Lock()
	if co.rec.Stage == adminapi.StageAborted || co.rec.Stage == adminapi.StageComplete {
		co.mu.Unlock()
		return
	}
	co.rec.Stage, co.rec.Reason = adminapi.StageAborted, reason
	stop := co.stop
	co.mu.Unlock()
	co.c.changed()
	co.s.log.Warn("ceremony aborted by its coordinator", append(co.log(), "reason", reason)...)
	if err := co.save(); err != nil {
		co.s.log.Error("recording the abort failed", append(co.log(), "err", err)...)
	}
	co.c.abort(context.Background(), reason)
	if stop != nil {
		stop()
	}
}

// requestAbort is an administrator's abort of a coordinated ceremony.
func (co *coordination) requestAbort(reason string) *web.Refusal {
	switch co.stage() {
	case adminapi.StageComplete:
		return web.Refuse(http.StatusConflict, "ceremony_state", "ceremony is complete: remove its accounts instead")
	case adminapi.StageAborted:
		return nil
	case adminapi.StageFinalizing:
		if co.c.plan.redistribute() {
			return web.Refuse(http.StatusConflict, "ceremony_state", "the new configuration is active on every member: a redistribution being finalised is not aborted (a partial roll-back would leave a quorum of each configuration); it finishes once every member answers")
		}
	}
	co.fail(reason)
	co.env.group.spawn(co.run) // the stage loop may have ended already (a restart)
	return nil
}

// broadcastAbort tells every participant, retrying those that are down
// until they answer or the ceremony's deadline and grace have passed (a
// participant that comes back later learns it from its peers, or gives up
// at the deadline itself).
func (co *coordination) broadcastAbort(ctx context.Context) {
	_, reason := co.c.current()
	until := co.c.plan.deadline().Add(activationGrace)
	co.each(ctx, func(ctx context.Context, mb member) error {
		backoff := sendBackoffMin
		for {
			err := mb.abort(ctx, co.c.id, reason)
			if err == nil || peer.Status(err) == http.StatusConflict || co.env.now().After(until) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-co.env.clock.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	})
}

// each runs f for every participant at once and joins the errors, each
// naming its participant.
func (co *coordination) each(ctx context.Context, f func(context.Context, member) error) error {
	errs := make([]error, len(co.members))
	var wg sync.WaitGroup
	for i, mb := range co.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx, mb); err != nil {
				errs[i] = fmt.Errorf("participant %s: %w", mb.memberID(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// permanent reports whether a participant's answer will not change by
// asking again.
func permanent(err error) bool {
	switch peer.Status(err) {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusConflict, http.StatusGone, http.StatusInternalServerError:
		return true
	}
	return false
}

// generate watches the participants until every one is staged with the
// same transcript. Participants that do not know the ceremony yet are
// (re)sent the plan.
func (co *coordination) generate(ctx context.Context) error {
	pl := co.c.plan
	start := co.env.now()
	contact := map[tss.ID]time.Time{}
	lastErr := map[tss.ID]error{}
	for _, mb := range co.members {
		contact[mb.memberID()] = start
	}
	lastProgress, lastAccepted := start, -1
	var mu sync.Mutex
	for {
		refused := co.each(ctx, func(ctx context.Context, mb member) error {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			st, err := mb.status(pctx, co.c.id)
			if peer.Status(err) == http.StatusNotFound {
				if err = co.join(pctx, mb, pl); permanent(err) || errors.Is(err, errJoinNeedsToken) {
					return fmt.Errorf("has not joined: %w", err)
				}
				if err == nil {
					st, err = mb.status(pctx, co.c.id)
				}
			}
			if err != nil {
				mu.Lock()
				lastErr[mb.memberID()] = err
				mu.Unlock()
				return nil
			}
			now := co.env.now()
			mu.Lock()
			contact[mb.memberID()] = now
			mu.Unlock()
			co.mu.Lock()
			old, seen := co.views[mb.memberID()]
			co.views[mb.memberID()] = st
			co.mu.Unlock()
			if !seen || !sameView(old, st) {
				co.c.changed()
			}
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if refused != nil {
			return refused
		}
		now := co.env.now()
		co.mu.Lock()
		views := make([]adminapi.CeremonyStatus, 0, len(co.views))
		for _, v := range co.views {
			views = append(views, v)
		}
		co.mu.Unlock()
		accepted, generated, staged := 0, int(pl.Validators), 0
		waiting := map[api.Uint64]bool{}
		transcripts := map[string][]api.Uint64{}
		for _, v := range views {
			if v.State.Aborted() {
				return fmt.Errorf("participant %d aborted: %s", v.Participant, v.Reason)
			}
			accepted += v.MessagesAccepted
			generated = min(generated, v.ValidatorsDone)
			for _, w := range v.Waiting {
				waiting[w] = true
			}
			if v.State.Staged() {
				staged++
				transcripts[v.Transcript] = append(transcripts[v.Transcript], v.Participant)
			}
		}
		if len(views) < len(co.members) {
			generated = 0
		}
		co.mu.Lock()
		moved := co.generated != generated
		co.generated = generated
		co.mu.Unlock()
		if moved {
			co.c.changed()
		}
		for _, mb := range co.members {
			id := mb.memberID()
			if since := now.Sub(contact[id]); since > co.timeout {
				return fmt.Errorf("participant %s unreachable for %s (participant timeout %s): %v", id, since.Round(time.Second), co.timeout, lastErr[id])
			}
		}
		if staged == len(co.members) {
			if len(transcripts) != 1 {
				return fmt.Errorf("participants finished with different transcripts: %s", describeTranscripts(transcripts))
			}
			return nil
		}
		if accepted != lastAccepted {
			lastAccepted, lastProgress = accepted, now
		} else if now.Sub(lastProgress) > co.timeout {
			var ids []string
			for w := range waiting {
				ids = append(ids, fmt.Sprint(w))
			}
			slices.Sort(ids)
			return fmt.Errorf("no progress for %s: participants are waiting for participant(s) %s", co.timeout, strings.Join(ids, ", "))
		}
		if now.After(pl.deadline()) {
			return fmt.Errorf("deadline %s passed", pl.deadline().UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-co.env.clock.After(pollInterval):
		}
	}
}

// sameView reports whether a participant's view shows the same progress
// (its version moves with this signer's own changes too).
func sameView(a, b adminapi.CeremonyStatus) bool {
	return a.State == b.State && a.Reason == b.Reason && a.MessagesAccepted == b.MessagesAccepted &&
		a.BatchesDone == b.BatchesDone && a.ValidatorsDone == b.ValidatorsDone && a.Transcript == b.Transcript &&
		slices.Equal(a.Waiting, b.Waiting)
}

func describeTranscripts(t map[string][]api.Uint64) string {
	var parts []string
	for tr, ids := range t {
		slices.Sort(ids)
		parts = append(parts, fmt.Sprintf("%v have %s", ids, tr))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// retry calls f until it succeeds, fails permanently, or the participant
// timeout passes. Each attempt may take as long as a participant needs to
// activate every account (an HSM unseal and a durable write each).
func (co *coordination) retry(ctx context.Context, f func(context.Context) error) error {
	attempt := max(co.timeout, time.Minute+time.Duration(co.c.plan.Validators)*20*time.Millisecond)
	until := co.env.now().Add(attempt)
	backoff := sendBackoffMin
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := f(actx)
		cancel()
		if err == nil || permanent(err) || ctx.Err() != nil || co.env.now().After(until) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-co.env.clock.After(backoff):
		}
		backoff = min(2*backoff, sendBackoffMax)
	}
}

// activateAll activates the accounts at every participant. A failure
// anywhere aborts the ceremony, which removes them everywhere.
func (co *coordination) activateAll(ctx context.Context) error {
	if now := co.env.now(); now.After(co.c.plan.deadline()) {
		return fmt.Errorf("deadline %s passed before activation", co.c.plan.deadline().UTC().Format(time.RFC3339))
	}
	transcript := co.c.status().Transcript
	if transcript == "" {
		return errors.New("this participant has no transcript to activate")
	}
	if err := co.each(ctx, func(ctx context.Context, mb member) error {
		return co.retry(ctx, func(ctx context.Context) error { return mb.activate(ctx, co.c.id, transcript) })
	}); err != nil {
		return fmt.Errorf("activating: %w", err)
	}
	return nil
}

// signDeposits obtains each validator's DEPOSIT signature through the
// cluster (threshold-signed, verified by the coordinator), builds its
// deposit data and verifies it again, independently, before keeping it.
func (co *coordination) signDeposits(ctx context.Context) error {
	params := co.c.plan.deposit()
	co.c.mu.Lock()
	keys := slices.Clone(co.c.keys)
	co.c.mu.Unlock()
	if err := co.env.deps.Signer.Refresh(ctx); err != nil {
		return fmt.Errorf("deposits: discovering the new accounts: %w", err)
	}
	out := make([]deposit.Data, len(keys))
	errs := make([]error, len(keys))
	work := make(chan int)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(depositWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				d, err := co.signDeposit(wctx, params, keys[i])
				if err != nil {
					errs[i] = err
					cancel()
					continue
				}
				out[i] = d
				co.mu.Lock()
				co.signed++
				co.mu.Unlock()
				co.c.changed()
			}
		}()
	}
feed:
	for i := range keys {
		select {
		case work <- i:
		case <-wctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("deposits: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := files.WriteDurable(filepath.Join(co.c.dir, depositFile), deposit.MarshalFile(out), 0o600); err != nil {
		return fmt.Errorf("deposits: %w", err)
	}
	co.mu.Lock()
	co.deposits = out
	co.mu.Unlock()
	co.c.changed()
	return nil
}

// signDeposit obtains one deposit signature, retrying a little: the
// coordinator already retries participants, so repeated failure is real.
func (co *coordination) signDeposit(ctx context.Context, params deposit.Params, key api.PublicKey) (deposit.Data, error) {
	body, err := params.RequestBody(key)
	if err != nil {
		return deposit.Data{}, err
	}
	req, err := signing.ParseRequest(body)
	if err != nil {
		return deposit.Data{}, fmt.Errorf("%s: %w", key, err)
	}
	sg, err := req.Verify(co.env.cfg.Network)
	if err != nil {
		return deposit.Data{}, fmt.Errorf("%s: %w", key, err)
	}
	// The root every participant computes must be the one the deposit
	// tools verify.
	if root, err := deposit.SigningRoot(params, key); err != nil || root != sg.SigningRoot {
		return deposit.Data{}, fmt.Errorf("%w: %s: the DEPOSIT signing root differs from the deposit tools' (%v)", deposit.ErrRefused, key, err)
	}
	var lastErr error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return deposit.Data{}, ctx.Err()
			case <-co.env.clock.After(time.Duration(attempt) * time.Second):
			}
		}
		sig, err := co.env.deps.Signer.Sign(ctx, key, sg.SigningRoot, body)
		if err != nil {
			lastErr = err
			continue
		}
		return deposit.New(params, key, api.Signature(sig.Bytes()))
	}
	return deposit.Data{}, fmt.Errorf("deposit signature of %s: %w", key, lastErr)
}

// finalizeAll tells every participant the ceremony is complete.
func (co *coordination) finalizeAll(ctx context.Context) error {
	if err := co.each(ctx, func(ctx context.Context, mb member) error {
		return co.retry(ctx, func(ctx context.Context) error { return mb.finalize(ctx, co.c.id) })
	}); err != nil {
		return fmt.Errorf("finalizing: %w", err)
	}
	co.s.log.Info(co.c.plan.what()+" complete everywhere", append(co.log(), "validators", co.c.plan.Validators)...)
	return nil
}

// status reports the coordination.
func (co *coordination) status() *adminapi.CoordinationStatus {
	pl := co.c.plan
	d := pl.deposit()
	co.mu.Lock()
	defer co.mu.Unlock()
	st := &adminapi.CoordinationStatus{
		Stage: co.rec.Stage, Reason: co.rec.Reason, Started: co.rec.Started,
		ValidatorsGenerated: co.generated, DepositsSigned: co.signed,
		Validators: int(pl.Validators), Threshold: int(pl.Threshold),
		WithdrawalCredentials: pl.WithdrawalCredentials, AmountGwei: pl.AmountGwei,
		GenesisForkVersion: "0x" + hex.EncodeToString(d.GenesisForkVersion[:]), NetworkName: pl.NetworkName,
		Kind: pl.Kind, Repaired: pl.Repaired,
	}
	if pl.redistribute() {
		st.OldMembers, st.NewMembers, st.NewThreshold, st.Generation = pl.OldMembers, pl.NewMembers, pl.NewThreshold, pl.Generation
		for _, id := range pl.OldMembers {
			switch {
			case slices.Contains(pl.NewMembers, id):
			case slices.Contains(pl.Helpers, id):
				st.Left = append(st.Left, id)
			default:
				st.NotReached = append(st.NotReached, id)
			}
		}
	}
	if co.rec.Stage != adminapi.StageGenerating {
		st.ValidatorsGenerated = st.Validators
	}
	if co.rec.Stage == adminapi.StageAborted {
		st.ValidatorsGenerated, st.DepositsSigned = 0, 0
	}
	for _, mb := range co.members {
		if v, ok := co.views[mb.memberID()]; ok {
			st.Participants = append(st.Participants, v)
		}
	}
	if co.rec.Stage == adminapi.StageComplete && pl.reshares() {
		st.Accounts = pl.keys()
	}
	if co.rec.Stage == adminapi.StageComplete && !pl.reshares() {
		st.DepositData = co.deposits
		for _, dd := range co.deposits {
			var k api.PublicKey
			hex.Decode(k[:], []byte(dd.Pubkey))
			st.Accounts = append(st.Accounts, k)
		}
	}
	return st
}
