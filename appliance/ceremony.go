package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Key-generation ceremonies (DESIGN.md section 7). One signer coordinates:
// it receives the operator's start request, derives the plan, and sends it
// to every participant; then the participants run the tss/dkg state machine
// among themselves, each message going straight to its recipient over
// mutual TLS. The ceremony is split into batches of validators, each a dkg
// ceremony of its own, so that progress shows and messages stay small.
//
// A participant's side of a ceremony moves through the states of
// adminapi.CeremonyState.
//
// Everything a participant must remember survives a restart: the plan, the
// sealed dkg snapshot of each batch (written before any message it
// produced is sent and before any message it accepted is acknowledged),
// and a small record of the states from activating on. Staged shares do
// not survive a restart (they are deleted at start-up); a resumed batch
// that is done simply stages its shares again.

// ceremony is this signer's side of one ceremony.
type ceremony struct {
	m    *ceremonyManager
	id   [32]byte
	plan *ceremonyPlan
	dir  string
	self tss.ID
	// byDKG finds a batch from the dkg ceremony id in a message header.
	byDKG   map[[32]byte]*batch
	batches []*batch
	ended   chan struct{} // closed when the ceremony completes or aborts

	mu         sync.Mutex
	state      adminapi.CeremonyState
	reason     string
	accepted   int // messages accepted across batches: the progress measure
	staged     int // batches done and staged
	done       int // validators staged
	keys       []api.PublicKey
	transcript [32]byte
	updated    time.Time
	// keyIndex is keys as a set, built when first needed (holds); nil
	// whenever keys changes.
	keyIndex map[api.PublicKey]bool
}

func (m *ceremonyManager) newCeremony(id [32]byte, plan *ceremonyPlan, dir string) *ceremony {
	c := &ceremony{
		m: m, id: id, plan: plan, dir: dir, self: tss.ID(m.a.cfg.Node.ID),
		byDKG: map[[32]byte]*batch{}, ended: make(chan struct{}), updated: m.a.now(),
	}
	if plan == nil {
		return c // a tombstone: aborted before this signer joined
	}
	for i := range plan.batches() {
		cfg := plan.batchConfig(id, i)
		b := &batch{c: c, index: i, cfg: cfg, dkgID: cfg.CeremonyID(), out: map[tss.ID]*outQueue{}}
		for _, p := range plan.ids() {
			if p != c.self {
				b.out[p] = newOutQueue()
			}
		}
		c.batches = append(c.batches, b)
		c.byDKG[b.dkgID] = b
	}
	return c
}

// ceremonyRecord is the small file that records a participant's state from
// activating on (and the reason of an abort). It holds no secret.
type ceremonyRecord struct {
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

func (m *ceremonyManager) loadCeremony(id [32]byte, dir string) (*ceremony, error) {
	var plan *ceremonyPlan
	if b, err := os.ReadFile(filepath.Join(dir, planFile)); err == nil {
		plan = &ceremonyPlan{}
		if err := json.Unmarshal(b, plan); err != nil {
			return nil, fmt.Errorf("%s: %w", planFile, err)
		}
		if plan.ID() != id {
			return nil, fmt.Errorf("%s does not hash to the directory's ceremony id", planFile)
		}
		if plan.BatchSize < 1 || plan.Validators < 1 || plan.Validators > adminapi.MaxCeremonyValidators {
			return nil, fmt.Errorf("%s: %d validators in batches of %d", planFile, plan.Validators, plan.BatchSize)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c := m.newCeremony(id, plan, dir)
	c.state = adminapi.StateResuming
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if plan == nil {
			return nil, errNotCeremony
		}
		return c, nil
	case err != nil:
		return nil, err
	}
	var rec ceremonyRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", recordFile, err)
	}
	switch rec.State {
	case adminapi.StateActivating, adminapi.StateActive, adminapi.StateComplete, adminapi.StateAborted:
	default:
		return nil, fmt.Errorf("%s: unknown state %q", recordFile, rec.State)
	}
	if plan == nil && rec.State != adminapi.StateAborted {
		return nil, fmt.Errorf("%s: state %s without a plan", recordFile, rec.State)
	}
	c.state, c.reason, c.keys, c.updated = rec.State, rec.Reason, rec.Keys, rec.Updated
	if t, err := hex.DecodeString(rec.Transcript); err == nil && len(t) == 32 {
		copy(c.transcript[:], t)
	}
	if c.state == adminapi.StateComplete || c.state == adminapi.StateAborted {
		close(c.ended)
	}
	return c, nil
}

// writeRecord persists the record of the current state, durably.
func (c *ceremony) writeRecord(rec ceremonyRecord) error {
	rec.Updated = c.m.a.now().UTC()
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
	if c.m.a.now().After(c.plan.deadline()) {
		c.abort(ctx, "deadline passed while this participant was down")
		return
	}
	resumed := 0
	for _, b := range c.batches {
		ok, err := b.resume(ctx)
		if err != nil {
			c.abort(ctx, fmt.Sprintf("cannot resume batch %d: %v", b.index, err))
			return
		}
		if ok {
			resumed++
		}
	}
	c.mu.Lock()
	if c.state == adminapi.StateResuming {
		c.state = adminapi.StateRunning
	}
	c.mu.Unlock()
	c.m.a.log.Info("resumed key generation ceremony", append(c.log(), "batches_resumed", resumed)...)
	c.batchStaged(ctx)
}

// startBatches starts this participant's next batches, keeping
// batchWindow of them running.
func (c *ceremony) startBatches(ctx context.Context) {
	for {
		c.mu.Lock()
		if c.state != adminapi.StateRunning {
			c.mu.Unlock()
			return
		}
		running := 0
		var next *batch
		for _, b := range c.batches {
			started, staged := b.flags()
			switch {
			case started && !staged:
				running++
			case !started && next == nil:
				next = b
			}
		}
		c.mu.Unlock()
		if next == nil || running >= batchWindow {
			return
		}
		if reason := next.startIfNeeded(ctx); reason != "" {
			c.abort(ctx, reason)
			return
		}
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
	c.staged, c.done = 0, 0
	all := true
	for _, x := range c.batches {
		if x.staged {
			c.staged++
			c.done += x.cfg.Validators
		} else {
			all = false
		}
	}
	c.updated = c.m.a.now()
	if all {
		h := sha256.New()
		h.Write([]byte(tagTranscripts))
		h.Write(c.id[:])
		c.keys = c.keys[:0]
		for _, x := range c.batches {
			t, keys := x.result()
			h.Write(t[:])
			c.keys = append(c.keys, keys...)
		}
		h.Sum(c.transcript[:0])
		c.keyIndex = nil
		c.state = adminapi.StateStaged
	}
	c.mu.Unlock()
	if all {
		c.m.a.log.Info("key generation ceremony done here; shares sealed and staged", append(c.log(), "validators", len(c.keys), "transcript", hex.EncodeToString(c.transcript[:]))...)
		return
	}
	c.m.spawn(c.startBatches)
}

// abort ends the ceremony without accounts: every batch's secrets are
// zeroed, staged shares discarded, accounts already activated removed
// (disabled in slashing protection first), snapshots deleted, and the
// reason recorded. It is idempotent; a complete ceremony is not aborted.
func (c *ceremony) abort(ctx context.Context, reason string) {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	prev := c.state
	if prev == adminapi.StateComplete || prev == adminapi.StateAborting || prev == adminapi.StateAborted {
		c.mu.Unlock()
		return
	}
	// Aborting until everything is removed, so that a status reading
	// "aborted" means nothing of the ceremony is left here.
	c.state, c.reason, c.updated = adminapi.StateAborting, reason, c.m.a.now()
	close(c.ended)
	keys := slices.Clone(c.keys)
	c.mu.Unlock()
	for _, b := range c.batches {
		keys = append(keys, b.kill()...)
	}
	slices.SortFunc(keys, func(x, y api.PublicKey) int { return strings.Compare(string(x[:]), string(y[:])) })
	keys = slices.Compact(keys)
	log := c.m.a.log
	for _, k := range keys {
		if prev == adminapi.StateActivating || prev == adminapi.StateActive {
			if _, _, err := c.m.a.remove(ctx, k, adminapi.SystemActor("aborting ceremony "+adminapi.CeremonyID(c.id))); err != nil {
				log.Error("aborted ceremony: removing an account failed; remove it by hand", append(c.log(), "account", k, "err", err)...)
			}
			continue
		}
		c.m.a.discard(k)
	}
	c.deleteSnapshots()
	if err := c.writeRecord(ceremonyRecord{State: adminapi.StateAborted, Reason: reason}); err != nil {
		log.Error("recording the abort of a ceremony failed", append(c.log(), "err", err)...)
	}
	c.mu.Lock()
	c.state, c.updated = adminapi.StateAborted, c.m.a.now()
	c.mu.Unlock()
	log.Warn("key generation ceremony aborted; nothing of it can sign", append(c.log(), "reason", reason, "was", prev, "accounts_dropped", len(keys))...)
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
func (c *ceremony) activate(ctx context.Context, transcript [32]byte) *apiError {
	c.mu.Lock()
	switch c.state {
	case adminapi.StateActive, adminapi.StateComplete:
		c.mu.Unlock()
		return nil
	case adminapi.StateStaged:
	case adminapi.StateActivating:
		c.mu.Unlock()
		return refuse(http.StatusServiceUnavailable, "unavailable", "activation in progress")
	case adminapi.StateAborting, adminapi.StateAborted:
		defer c.mu.Unlock()
		return refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, c.reason)
	default:
		defer c.mu.Unlock()
		return refuse(http.StatusConflict, "ceremony_state", "ceremony is %s here, not staged", c.state)
	}
	if transcript != c.transcript {
		defer c.mu.Unlock()
		return refuse(http.StatusConflict, "ceremony_transcript", "transcript %x differs from this participant's %x", transcript, c.transcript)
	}
	c.state = adminapi.StateActivating
	keys := slices.Clone(c.keys)
	rec := ceremonyRecord{State: adminapi.StateActivating, Transcript: hex.EncodeToString(c.transcript[:]), Keys: keys}
	c.mu.Unlock()
	fail := func(err error) *apiError {
		c.abort(ctx, fmt.Sprintf("activating the accounts failed on participant %d: %v", c.self, err))
		return refuse(http.StatusInternalServerError, "ceremony_activation", "activating: %v", err)
	}
	if err := c.writeRecord(rec); err != nil {
		return fail(err)
	}
	for _, k := range keys {
		if c.isEnded() {
			break // aborted meanwhile: the abort removes what was activated
		}
		if err := c.m.a.activate(ctx, k); err != nil {
			return fail(err)
		}
	}
	c.mu.Lock()
	if c.state != adminapi.StateActivating {
		reason := c.reason
		c.mu.Unlock()
		return refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
	}
	rec.State = adminapi.StateActive
	// Recorded under the lock, so that an abort either sees the ceremony
	// active (and removes its accounts) or wins before this line.
	err := c.writeRecord(rec)
	if err == nil {
		c.state, c.updated = adminapi.StateActive, c.m.a.now()
	}
	c.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	c.deleteSnapshots()
	c.m.a.log.Info("ceremony accounts activated", append(c.log(), "accounts", len(keys))...)
	return nil
}

// finalize ends a ceremony whose accounts are active: they are this
// signer's like any other from now on.
func (c *ceremony) finalize() *apiError {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case adminapi.StateComplete:
		return nil
	case adminapi.StateActive:
	case adminapi.StateAborting, adminapi.StateAborted:
		return refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, c.reason)
	default:
		return refuse(http.StatusConflict, "ceremony_state", "ceremony is %s here, not active", c.state)
	}
	rec := ceremonyRecord{State: adminapi.StateComplete, Transcript: hex.EncodeToString(c.transcript[:]), Keys: c.keys}
	if err := c.writeRecord(rec); err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "recording completion: %v", err)
	}
	c.state, c.updated = adminapi.StateComplete, c.m.a.now()
	close(c.ended)
	c.m.a.log.Info("key generation ceremony complete", append(c.log(), "accounts", len(c.keys))...)
	return nil
}

// checkDeadline gives the ceremony up once its deadline has passed
// without activation, or its grace without finalisation.
func (c *ceremony) checkDeadline(ctx context.Context) {
	st, _ := c.current()
	if c.plan == nil {
		return
	}
	now := c.m.a.now()
	switch st {
	case adminapi.StateRunning, adminapi.StateStaged:
		if now.After(c.plan.deadline()) {
			c.abort(ctx, fmt.Sprintf("deadline %s passed before the accounts were activated", c.plan.deadline().UTC().Format(time.RFC3339)))
		}
	case adminapi.StateActive:
		if now.After(c.plan.deadline().Add(activationGrace)) {
			c.abort(ctx, "the coordinator did not finalise the ceremony in time")
		}
	}
}

// zero drops every secret held in memory (at shutdown); snapshots stay on
// disk, sealed, for the next start.
func (c *ceremony) zero() {
	for _, b := range c.batches {
		b.mu.Lock()
		if b.p != nil {
			b.p.Zero()
			b.p = nil
		}
		b.mu.Unlock()
		for _, q := range b.out {
			q.clear()
		}
	}
}

// status reports this participant's view.
func (c *ceremony) status() adminapi.CeremonyStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := adminapi.CeremonyStatus{
		ID: adminapi.CeremonyID(c.id), Participant: api.Uint64(c.self), State: c.state, Reason: c.reason,
		MessagesAccepted: c.accepted, BatchesDone: c.staged, ValidatorsDone: c.done, Updated: c.updated.UTC(),
	}
	if c.plan != nil {
		st.Validators, st.Batches = int(c.plan.Validators), c.plan.batches()
	}
	switch c.state {
	case adminapi.StateStaged, adminapi.StateActivating, adminapi.StateActive, adminapi.StateComplete:
		st.Transcript = hex.EncodeToString(c.transcript[:])
		st.ValidatorsDone, st.BatchesDone = st.Validators, st.Batches
	}
	waiting := map[tss.ID]bool{}
	for _, b := range c.batches {
		for _, id := range b.waitingFor() {
			waiting[id] = true
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

// allowsDeposit reports whether participant from may have this signer's
// DEPOSIT partial d of key without a DEPOSIT grant: key is an account of a
// ceremony this signer joined and activated, from is that ceremony's
// coordinator, and the deposit is exactly the one the ceremony's plan,
// which this signer holds, commits to (public key, withdrawal credentials
// and amount; the network's genesis fork version is checked with every
// DEPOSIT). A deposit with other withdrawal credentials or another amount
// is refused, whoever coordinates.
func (m *ceremonyManager) allowsDeposit(from tss.ID, key api.PublicKey, d *signing.Deposit) bool {
	if api.PublicKey(d.Pubkey) != key {
		return false
	}
	for _, c := range m.all() {
		if c.plan == nil || tss.ID(c.plan.Coordinator) != from || !c.holds(key) {
			continue
		}
		return d.WithdrawalCredentials == phase0.Root(c.plan.WithdrawalCredentials) && uint64(d.Amount) == uint64(c.plan.AmountGwei)
	}
	return false
}

// progressed counts an accepted message.
func (c *ceremony) progressed() {
	c.mu.Lock()
	c.accepted++
	c.updated = c.m.a.now()
	c.mu.Unlock()
}

// dkgAbortReason describes a dkg abort for the record.
func dkgAbortReason(b *batch, err error) string {
	switch {
	case errors.Is(err, dkg.ErrTranscriptMismatch):
		return fmt.Sprintf("batch %d: participants confirmed different transcripts: %v", b.index, err)
	case errors.Is(err, dkg.ErrNotEnoughQualified):
		return fmt.Sprintf("batch %d: too many participants disqualified: %v", b.index, err)
	}
	return fmt.Sprintf("batch %d: %v", b.index, err)
}
