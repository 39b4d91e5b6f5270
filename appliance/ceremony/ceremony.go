package ceremony

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// ceremony is this signer's side of one ceremony: it moves through the
// states of adminapi.CeremonyState.
//
// Everything a participant must remember survives a restart: the plan, the
// sealed dkg snapshot of each batch (written before any message it
// produced is sent and before any message it accepted is acknowledged),
// and a small record of the states from activating on. Staged shares do
// not survive a restart (they are deleted at start-up); a resumed batch
// that is done simply stages its shares again.
//
// Locking: c.mu guards the state and what is derived from the batches when
// they are staged. It is never held while a batch's lock is taken, nor
// taken while one is held: a batch publishes what the ceremony reads of
// it (batchView) atomically, and counts progress in atomics.
type ceremony struct {
	env  *env
	id   [32]byte
	plan *plan
	dir  string
	self tss.ID
	// byDKG finds a batch from the dkg ceremony id in a message header.
	byDKG   map[[32]byte]*batch
	batches []*batch
	ended   chan struct{} // closed when the ceremony completes or aborts

	// accepted counts messages accepted across batches (the progress
	// measure); updated is the Unix time in ns of the last change.
	accepted atomic.Int64
	updated  atomic.Int64
	// version counts the changes of what status reports (the participant's
	// view and, at the coordinator, the coordination's); changes wakes
	// whoever waits for the next one.
	version atomic.Uint64
	changes signal

	mu     sync.Mutex
	state  adminapi.CeremonyState
	reason string
	// warnedStuck: a redistribution active past its deadline was
	// reported (it waits, it does not roll back alone).
	warnedStuck atomic.Bool
	staged      int // batches done and staged
	done        int // validators staged
	keys        []api.PublicKey
	transcript  [32]byte
	// keyIndex is keys as a set, built when first needed (holds); nil
	// whenever keys changes.
	keyIndex map[api.PublicKey]bool
}

func newCeremony(e *env, id [32]byte, p *plan, dir string) *ceremony {
	c := &ceremony{
		env: e, id: id, plan: p, dir: dir, self: e.cfg.Self,
		byDKG: map[[32]byte]*batch{}, ended: make(chan struct{}),
	}
	c.touch()
	if p == nil {
		return c // a tombstone: aborted before this signer joined
	}
	for i := range p.batches() {
		b := newBatch(e, c, i)
		c.batches = append(c.batches, b)
		c.byDKG[b.dkgID] = b
	}
	return c
}

// touch records a change of the participant's progress or state now.
func (c *ceremony) touch() {
	c.updated.Store(c.env.now().UnixNano())
	c.changed()
}

// changed records a change of what status reports: its version moves on
// and waiters wake.
func (c *ceremony) changed() {
	c.version.Add(1)
	c.changes.fire()
}

// wait waits until the status has moved past version after, or ctx ends,
// and reports the version then.
func (c *ceremony) wait(ctx context.Context, after uint64) uint64 {
	for {
		woken := c.changes.wait()
		if v := c.version.Load(); v > after {
			return v
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return c.version.Load()
		}
	}
}

// signal tells waiters that something changed: wait returns a channel
// closed at the next fire. Its lock is a leaf: nothing is locked under it.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// record is the small file that records a participant's state from
// activating on (and the reason of an abort). It holds no secret.
type record struct {
	State      adminapi.CeremonyState `json:"state"`
	Reason     string                 `json:"reason,omitempty"`
	Transcript string                 `json:"transcript,omitempty"`
	Keys       []api.PublicKey        `json:"keys,omitempty"`
	Updated    time.Time              `json:"updated"`
}

const (
	planFile   = "plan.json"
	recordFile = "state.json"
)

// errNotCeremony is a ceremony directory with neither plan nor record.
var errNotCeremony = errors.New("no plan and no state: not a ceremony")

func loadCeremony(e *env, id [32]byte, dir string) (*ceremony, error) {
	var p *plan
	if b, err := os.ReadFile(filepath.Join(dir, planFile)); err == nil {
		p = &plan{}
		if err := json.Unmarshal(b, p); err != nil {
			return nil, fmt.Errorf("%s: %w", planFile, err)
		}
		if p.ID() != id {
			return nil, fmt.Errorf("%s does not hash to the directory's ceremony id", planFile)
		}
		if p.BatchSize < 1 || p.Validators < 1 || p.Validators > adminapi.MaxCeremonyValidators {
			return nil, fmt.Errorf("%s: %d validators in batches of %d", planFile, p.Validators, p.BatchSize)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c := newCeremony(e, id, p, dir)
	c.state = adminapi.StateResuming
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if p == nil {
			return nil, errNotCeremony
		}
		return c, nil
	case err != nil:
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", recordFile, err)
	}
	switch rec.State {
	case adminapi.StateActivating, adminapi.StateActive, adminapi.StateComplete, adminapi.StateAborted:
	default:
		return nil, fmt.Errorf("%s: unknown state %q", recordFile, rec.State)
	}
	if p == nil && rec.State != adminapi.StateAborted {
		return nil, fmt.Errorf("%s: state %s without a plan", recordFile, rec.State)
	}
	c.state, c.reason, c.keys = rec.State, rec.Reason, rec.Keys
	c.updated.Store(rec.Updated.UnixNano())
	if t, err := hex.DecodeString(rec.Transcript); err == nil && len(t) == 32 {
		copy(c.transcript[:], t)
	}
	if c.state == adminapi.StateComplete || c.state == adminapi.StateAborted {
		close(c.ended)
	}
	return c, nil
}

// writeRecord persists the record of the current state, durably.
func (c *ceremony) writeRecord(rec record) error {
	rec.Updated = c.env.now().UTC()
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	return files.WriteDurable(filepath.Join(c.dir, recordFile), b, 0o600)
}

func (c *ceremony) current() (adminapi.CeremonyState, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.reason
}

func (c *ceremony) isEnded() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

func (c *ceremony) log() []any {
	return []any{"ceremony", adminapi.CeremonyID(c.id)}
}

func (c *ceremony) logger() *slog.Logger { return c.env.cfg.Log }

// refuseAborted is the answer about a ceremony that ended without
// accounts.
func refuseAborted(reason string) *web.Refusal {
	return web.Refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
}

// resume replays the ceremony's sealed snapshots after a restart, or
// finishes what a restart interrupted.
func (c *ceremony) resume(ctx context.Context) {
	st, _ := c.current()
	switch st {
	case adminapi.StateActivating:
		// Some accounts may be active and others not: nothing half-made
		// may stay, so the ceremony ends here and the coordinator, seeing
		// it, ends it everywhere.
		c.abort(ctx, "this participant restarted while activating the accounts")
		return
	case adminapi.StateResuming:
	case adminapi.StateActive, adminapi.StateComplete, adminapi.StateAborted:
		// A crash may have left snapshots behind the final record.
		if c.plan != nil {
			c.deleteSnapshots()
		}
		return
	default:
		return
	}
	if c.env.now().After(c.plan.deadline()) {
		c.abort(ctx, "deadline passed while this participant was down")
		return
	}
	resumed := 0
	for _, b := range c.batches {
		ok, err := b.resume(ctx)
		if err != nil {
			c.abort(ctx, reasonOf(err, fmt.Sprintf("cannot resume batch %d", b.index)))
			return
		}
		if ok {
			resumed++
		}
	}
	c.mu.Lock()
	if c.state == adminapi.StateResuming {
		c.state = adminapi.StateRunning
		c.changed()
	}
	c.mu.Unlock()
	c.logger().Info("resumed "+c.plan.what(), append(c.log(), "batches_resumed", resumed)...)
	c.batchStaged(ctx)
}

// startBatches starts this participant's next batches, keeping
// batchWindow of them running.
func (c *ceremony) startBatches(ctx context.Context) {
	for {
		if st, _ := c.current(); st != adminapi.StateRunning {
			return
		}
		running := 0
		var next *batch
		for _, b := range c.batches {
			v := b.view()
			switch {
			case v.started && !v.staged:
				running++
			case !v.started && next == nil:
				next = b
			}
		}
		if next == nil || running >= batchWindow {
			return
		}
		if err := next.start(ctx); err != nil {
			c.abort(ctx, reasonOf(err, ""))
			return
		}
		c.afterStep(ctx, next)
	}
}

// afterStep tells the ceremony when a batch got staged.
func (c *ceremony) afterStep(ctx context.Context, b *batch) {
	if b.view().staged {
		c.batchStaged(ctx)
	}
}

// batchStaged records a batch whose shares are staged; once every batch
// is, the ceremony is staged and waits for the coordinator.
func (c *ceremony) batchStaged(ctx context.Context) {
	c.mu.Lock()
	if c.state != adminapi.StateRunning {
		c.mu.Unlock()
		return
	}
	views := make([]batchView, len(c.batches))
	c.staged, c.done = 0, 0
	all := true
	for i, x := range c.batches {
		views[i] = x.view()
		if views[i].staged {
			c.staged++
			c.done += x.proto.validators
		} else {
			all = false
		}
	}
	c.touch()
	if all {
		h := sha256.New()
		h.Write([]byte(tagTranscripts))
		h.Write(c.id[:])
		c.keys = c.keys[:0]
		for _, v := range views {
			h.Write(v.transcript[:])
			c.keys = append(c.keys, v.keys...)
		}
		h.Sum(c.transcript[:0])
		c.keyIndex = nil
		c.state = adminapi.StateStaged
	}
	c.mu.Unlock()
	if all {
		c.logger().Info(c.plan.what()+" done here; shares sealed and staged", append(c.log(), "validators", len(c.keys), "transcript", hex.EncodeToString(c.transcript[:]))...)
		return
	}
	c.env.group.spawn(c.startBatches)
}

// stage seals and stages batch index's shares: new accounts, a refresh's
// new shares of existing ones, or a repair's shares at the repaired
// participant, with the slashing history of every other participant.
func (c *ceremony) stage(ctx context.Context, index int, shares []Share) ([]*bls.PublicKey, error) {
	switch {
	case c.plan.refresh(), c.plan.continues(c.self):
		return c.env.deps.Refreshes.StageRefresh(ctx, shares)
	case c.plan.repair(), c.plan.joins(c.self):
		histories, err := c.histories(ctx, index)
		if err != nil {
			return nil, err
		}
		return c.env.deps.Repairs.StageRepaired(ctx, shares, histories)
	}
	return c.env.deps.Accounts.Stage(ctx, shares)
}

// helping reports whether this participant helps a repair: it deals, and
// its own shares do not change.
func (c *ceremony) helping() bool {
	return c.plan != nil && c.plan.repair() && c.self != tss.ID(c.plan.Repaired)
}

// dealsOnly reports whether this participant deals and receives nothing:
// a repair's helper, or a member a redistribution leaves out.
func (c *ceremony) dealsOnly() bool {
	return c.helping() || (c.plan != nil && c.plan.leaves(c.self))
}

// replaces reports whether this participant's new shares replace shares
// it holds: a refresh, or a member a redistribution keeps.
func (c *ceremony) replaces() bool {
	return c.plan != nil && (c.plan.refresh() || c.plan.continues(c.self))
}

// historySources are the participants whose slashing history a repaired
// or joining participant starts from: every other participant of a
// repair, every old member taking part in a redistribution.
func (c *ceremony) historySources() []tss.ID {
	var out []tss.ID
	for _, id := range c.plan.members() {
		if id == c.self || (c.plan.redistribute() && !slices.Contains(c.plan.OldMembers, api.Uint64(id))) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// histories fetches, at a repaired participant, the slashing history of
// batch index's accounts from every other participant (each over mutual
// TLS, answering only the plan's repaired participant): the repaired
// shares start from their merge. Every helper must answer.
func (c *ceremony) histories(ctx context.Context, index int) ([][]byte, error) {
	var out [][]byte
	for _, id := range c.historySources() {
		p := c.env.deps.Peers.Peer(id, nil)
		var h []byte
		var err error
		for attempt := range 3 {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-c.env.clock.After(time.Duration(attempt) * time.Second):
				}
			}
			hctx, cancel := context.WithTimeout(ctx, attemptTimeout(int(c.plan.BatchSize)))
			h, err = p.CeremonyHistory(hctx, c.id, index)
			cancel()
			if err == nil || permanent(err) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("the slashing history of participant %s: %w", id, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// discard drops a staged share.
func (c *ceremony) discard(key api.PublicKey) {
	switch {
	case c.replaces():
		c.env.deps.Refreshes.DiscardRefresh(key)
	case c.dealsOnly():
	default:
		c.env.deps.Accounts.Discard(key)
	}
}

// startSenders starts the loops that deliver a started batch's messages,
// one per peer.
func (c *ceremony) startSenders(b *batch) {
	for id := range b.out {
		c.env.group.spawn(func(ctx context.Context) { c.sendLoop(ctx, b, id) })
	}
}

// abort ends the ceremony without accounts: every batch's secrets are
// zeroed, staged shares discarded, accounts already activated removed
// (disabled in slashing protection first), snapshots deleted, and the
// reason recorded. It is idempotent; a complete ceremony is not aborted.
func (c *ceremony) abort(ctx context.Context, reason string) {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	prev := c.state
	if prev == adminapi.StateComplete || prev.Aborted() {
		c.mu.Unlock()
		return
	}
	// Aborting until everything is removed, so that a status reading
	// "aborted" means nothing of the ceremony is left here.
	c.state, c.reason = adminapi.StateAborting, reason
	c.touch()
	close(c.ended)
	keys := slices.Clone(c.keys)
	c.mu.Unlock()
	for _, b := range c.batches {
		keys = append(keys, b.kill()...)
	}
	slices.SortFunc(keys, func(x, y api.PublicKey) int { return strings.Compare(string(x[:]), string(y[:])) })
	keys = slices.Compact(keys)
	log := c.logger()
	accounts := c.env.deps.Accounts
	activated := prev == adminapi.StateActivating || prev == adminapi.StateActive
	for _, k := range keys {
		switch {
		case activated && c.plan != nil && c.plan.leaves(c.self):
			// The old shares sign again: the new configuration is not.
			if err := c.env.deps.Refreshes.Unsuspend(ctx, []api.PublicKey{k}); err != nil {
				log.Error("aborted redistribution: letting this signer's share sign again failed; restore the account (rampartctl accounts restore) if it was removed", append(c.log(), "account", k, "err", err)...)
			}
		case c.dealsOnly():
			// Nothing of a repair is on a helper but its snapshots.
		case activated && c.replaces():
			// The previous share comes back: nothing of the refresh
			// signs, and the account keeps signing with its old shares.
			if err := c.env.deps.Refreshes.RollBackRefresh(ctx, k); err != nil {
				log.Error("aborted refresh: putting the previous share back failed; this signer's partials for the account do not combine until it is repaired", append(c.log(), "account", k, "err", err)...)
			}
		case activated && c.plan != nil && c.plan.joins(c.self):
			// A joining member's new shares go at once: restored, they
			// would revive a configuration that never became active.
			if err := c.env.deps.Refreshes.Purge(ctx, k); err != nil {
				log.Error("aborted redistribution: removing a joined account failed; remove it by hand", append(c.log(), "account", k, "err", err)...)
			}
		case activated:
			if err := accounts.Remove(ctx, k, "aborting ceremony "+adminapi.CeremonyID(c.id)); err != nil {
				log.Error("aborted ceremony: removing an account failed; remove it by hand", append(c.log(), "account", k, "err", err)...)
			}
		default:
			c.discard(k)
		}
	}
	c.deleteSnapshots()
	if err := c.writeRecord(record{State: adminapi.StateAborted, Reason: reason}); err != nil {
		log.Error("recording the abort of a ceremony failed", append(c.log(), "err", err)...)
	}
	c.mu.Lock()
	c.state = adminapi.StateAborted
	c.touch()
	c.mu.Unlock()
	log.Warn(c.plan.what()+" aborted; nothing of it can sign", append(c.log(), "reason", reason, "was", prev, "accounts_dropped", len(keys))...)
}

// deleteSnapshots removes every sealed snapshot of the ceremony.
func (c *ceremony) deleteSnapshots() {
	for _, b := range c.batches {
		os.Remove(b.snapshotPath())
	}
	files.SyncDir(c.dir)
}

// activate makes the ceremony's staged accounts signable on this signer,
// once the coordinator has seen every participant staged with the same
// transcript (idempotent).
func (c *ceremony) activate(ctx context.Context, transcript [32]byte) *web.Refusal {
	c.mu.Lock()
	switch c.state {
	case adminapi.StateActive, adminapi.StateComplete:
		c.mu.Unlock()
		return nil
	case adminapi.StateStaged:
	case adminapi.StateActivating:
		c.mu.Unlock()
		return web.Refuse(http.StatusServiceUnavailable, "unavailable", "activation in progress")
	case adminapi.StateAborting, adminapi.StateAborted:
		defer c.mu.Unlock()
		return refuseAborted(c.reason)
	default:
		defer c.mu.Unlock()
		return web.Refuse(http.StatusConflict, "ceremony_state", "ceremony is %s here, not staged", c.state)
	}
	if transcript != c.transcript {
		defer c.mu.Unlock()
		return web.Refuse(http.StatusConflict, "ceremony_transcript", "transcript %x differs from this participant's %x", transcript, c.transcript)
	}
	c.state = adminapi.StateActivating
	c.changed()
	keys := slices.Clone(c.keys)
	rec := record{State: adminapi.StateActivating, Transcript: hex.EncodeToString(c.transcript[:]), Keys: keys}
	c.mu.Unlock()
	fail := func(err error) *web.Refusal {
		c.abort(ctx, fmt.Sprintf("activating the accounts failed on participant %d: %v", c.self, err))
		return web.Refuse(http.StatusInternalServerError, "ceremony_activation", "activating: %v", err)
	}
	if err := c.writeRecord(rec); err != nil {
		return fail(err)
	}
	if (c.plan.repair() && !c.helping()) || c.plan.joins(c.self) {
		// The others' histories again, as they are now: what they signed
		// since each batch's were fetched (a vote with an old source
		// surrounds nothing they signed since). Then the shares sign
		// nothing below the cutover: what the others sign between this
		// export and the activation is below it.
		for i := range c.plan.batches() {
			lo, hi := c.plan.batchRange(i)
			histories, err := c.histories(ctx, i)
			if err != nil {
				return fail(err)
			}
			if err := c.env.deps.Repairs.ImportHistories(ctx, c.plan.keys()[lo:hi], histories); err != nil {
				return fail(err)
			}
		}
		epoch, err := c.env.deps.Repairs.Cutover(ctx, keys)
		if err != nil {
			return fail(err)
		}
		c.logger().Info("repaired accounts: slashing protection floors at the cutover epoch", append(c.log(), "cutover_epoch", epoch, "accounts", len(keys))...)
	}
	for chunk := range slices.Chunk(keys, activationChunk) {
		if c.isEnded() {
			break // aborted meanwhile: the abort removes what was activated
		}
		if err := c.activateSome(ctx, chunk); err != nil {
			return fail(err)
		}
	}
	c.mu.Lock()
	if c.state != adminapi.StateActivating {
		reason := c.reason
		c.mu.Unlock()
		return refuseAborted(reason)
	}
	rec.State = adminapi.StateActive
	// Recorded under the lock, so that an abort either sees the ceremony
	// active (and removes its accounts) or wins before this line.
	err := c.writeRecord(rec)
	if err == nil {
		c.state = adminapi.StateActive
		c.touch()
	}
	c.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	c.deleteSnapshots()
	c.logger().Info("ceremony accounts activated", append(c.log(), "accounts", len(keys))...)
	return nil
}

// activationChunk is how many accounts one activation step takes: each
// step is one slashing-database commit and one shares-directory sync, and
// an abort is noticed between steps.
const activationChunk = 256

// activateSome activates staged accounts, or refreshed shares one by one;
// a repair's helper has nothing to activate.
func (c *ceremony) activateSome(ctx context.Context, keys []api.PublicKey) error {
	switch {
	case c.replaces():
		for _, k := range keys {
			if err := c.env.deps.Refreshes.ActivateRefresh(ctx, k); err != nil {
				return err
			}
		}
		return nil
	case c.plan.leaves(c.self):
		// The new configuration becomes active: the old shares here sign
		// no block or attestation any more, so no quorum of the old one
		// stands beside it.
		return c.env.deps.Refreshes.Suspend(ctx, keys)
	case c.dealsOnly():
		return nil
	}
	return c.env.deps.Accounts.Activate(ctx, keys)
}

// finalize ends a ceremony whose accounts are active: they are this
// signer's like any other from now on. A refresh's previous shares are
// destroyed first (their sealed files; they left memory at activation).
func (c *ceremony) finalize(ctx context.Context) *web.Refusal {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case adminapi.StateComplete:
		return nil
	case adminapi.StateActive:
	case adminapi.StateAborting, adminapi.StateAborted:
		return refuseAborted(c.reason)
	default:
		return web.Refuse(http.StatusConflict, "ceremony_state", "ceremony is %s here, not active", c.state)
	}
	switch {
	case c.replaces():
		for _, k := range c.keys {
			if err := c.env.deps.Refreshes.FinishRefresh(ctx, k); err != nil {
				return web.Refuse(http.StatusServiceUnavailable, "unavailable", "destroying the previous share of %s: %v", k, err)
			}
		}
	case c.plan.leaves(c.self):
		// The new configuration is active everywhere: this signer's
		// shares of it are destroyed, on disk and in memory.
		for _, k := range c.keys {
			if err := c.env.deps.Refreshes.Leave(ctx, k); err != nil {
				return web.Refuse(http.StatusServiceUnavailable, "unavailable", "destroying the share of %s this signer no longer belongs to: %v", k, err)
			}
		}
	}
	rec := record{State: adminapi.StateComplete, Transcript: hex.EncodeToString(c.transcript[:]), Keys: c.keys}
	if err := c.writeRecord(rec); err != nil {
		return web.Refuse(http.StatusServiceUnavailable, "unavailable", "recording completion: %v", err)
	}
	c.state = adminapi.StateComplete
	c.touch()
	close(c.ended)
	c.logger().Info(c.plan.what()+" complete", append(c.log(), "accounts", len(c.keys))...)
	return nil
}

// deadline is when the ceremony is given up here if it has not moved on:
// its plan's deadline until it is active, the grace after it while it
// waits to be finalised; none once it ended.
func (c *ceremony) deadline() (time.Time, bool) {
	if c.plan == nil {
		return time.Time{}, false
	}
	switch st, _ := c.current(); st {
	case adminapi.StateRunning, adminapi.StateStaged:
		return c.plan.deadline(), true
	case adminapi.StateActive:
		if c.plan.redistribute() {
			return time.Time{}, false // waits for its coordinator: never rolled back alone
		}
		return c.plan.deadline().Add(activationGrace), true
	}
	return time.Time{}, false
}

// checkDeadline gives the ceremony up once its deadline has passed
// without activation, or its grace without finalisation.
func (c *ceremony) checkDeadline(ctx context.Context) {
	if c.plan == nil {
		return
	}
	now := c.env.now()
	switch st, _ := c.current(); st {
	case adminapi.StateRunning, adminapi.StateStaged:
		if now.After(c.plan.deadline()) {
			c.abort(ctx, fmt.Sprintf("deadline %s passed before the accounts were activated", c.plan.deadline().UTC().Format(time.RFC3339)))
		}
	case adminapi.StateActive:
		if now.After(c.plan.deadline().Add(activationGrace)) {
			if c.plan.redistribute() {
				// Others may have finalised: rolling back alone could
				// leave a quorum of each configuration. The coordinator
				// (which resumes after a restart) or an operator ends it.
				if !c.warnedStuck.Swap(true) {
					c.logger().Error("redistribution active here and not finalised past its deadline: it stays active until its coordinator finalises or aborts it (rampartctl reshare redistribute --id ID attaches to it)", c.log()...)
				}
				return
			}
			c.abort(ctx, "the coordinator did not finalise the ceremony in time")
		}
	}
}

// zero drops every secret held in memory (at shutdown); snapshots stay on
// disk, sealed, for the next start.
func (c *ceremony) zero() {
	for _, b := range c.batches {
		b.zero()
	}
}

// status reports this participant's view.
func (c *ceremony) status() adminapi.CeremonyStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := adminapi.CeremonyStatus{
		ID: adminapi.CeremonyID(c.id), Participant: api.Uint64(c.self), State: c.state, Reason: c.reason,
		MessagesAccepted: int(c.accepted.Load()), BatchesDone: c.staged, ValidatorsDone: c.done,
		Updated: time.Unix(0, c.updated.Load()).UTC(), Version: c.version.Load(),
	}
	if c.plan != nil {
		st.Validators, st.Batches = int(c.plan.Validators), c.plan.batches()
	}
	if c.state.Staged() {
		st.Transcript = hex.EncodeToString(c.transcript[:])
		st.ValidatorsDone, st.BatchesDone = st.Validators, st.Batches
	}
	waiting := map[tss.ID]bool{}
	for _, b := range c.batches {
		if v := b.view(); v.started && !v.staged {
			for _, id := range v.waiting {
				waiting[id] = true
			}
		}
	}
	for id := range waiting {
		st.Waiting = append(st.Waiting, api.Uint64(id))
	}
	slices.Sort(st.Waiting)
	return st
}

// holds reports whether key is an account this ceremony activated here
// (active, or complete).
func (c *ceremony) holds(key api.PublicKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != adminapi.StateActive && c.state != adminapi.StateComplete {
		return false
	}
	if c.keyIndex == nil {
		c.keyIndex = make(map[api.PublicKey]bool, len(c.keys))
		for _, k := range c.keys {
			c.keyIndex[k] = true
		}
	}
	return c.keyIndex[key]
}

// progressed counts an accepted message.
func (c *ceremony) progressed() {
	c.accepted.Add(1)
	c.touch()
}

// deliver hands one message from peer from to its batch. The message is
// acknowledged (nil) only once what it changed is persisted.
func (c *ceremony) deliver(ctx context.Context, from tss.ID, msg []byte) *web.Refusal {
	switch st, reason := c.current(); st {
	case adminapi.StateResuming:
		return web.Refuse(http.StatusServiceUnavailable, "unavailable", "ceremony is resuming after a restart")
	case adminapi.StateAborting, adminapi.StateAborted:
		return refuseAborted(reason)
	case adminapi.StateRunning:
	default:
		return nil // every batch is done here: late messages change nothing
	}
	// The header carries the dkg ceremony id, which names the batch.
	const idStart, idEnd = 6, 38
	if len(msg) < idEnd {
		return web.Refuse(http.StatusBadRequest, "bad_request", "message: %d bytes, too short for a dkg message", len(msg))
	}
	var dkgID [32]byte
	copy(dkgID[:], msg[idStart:idEnd])
	b, ok := c.byDKG[dkgID]
	if !ok {
		return web.Refuse(http.StatusBadRequest, "bad_request", "message: belongs to no batch of this ceremony")
	}
	err := b.deliver(ctx, from, msg)
	var refusal *web.Refusal
	var ab *abortError
	switch {
	case err == nil:
		c.afterStep(ctx, b)
		return nil
	case errors.As(err, &ab):
		c.abort(ctx, ab.reason)
		return refuseAborted(ab.reason)
	case errors.Is(err, errEnded):
		_, reason := c.current()
		return refuseAborted(reason)
	case errors.Is(err, errNotPersisted):
		return web.Refuse(http.StatusServiceUnavailable, "unavailable", "could not persist the ceremony state; retry")
	case errors.As(err, &refusal):
		return refusal
	}
	return web.Refuse(http.StatusServiceUnavailable, "unavailable", "%v", err)
}
