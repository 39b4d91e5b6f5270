package ceremony

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// batch is one dkg ceremony (or, in a refresh, one resharing session) of a
// ceremony's batches at this participant.
//
// Locking: b.mu guards the state machine and what is persisted of it.
// What the ceremony reads of the batch (started, staged, the peers it
// waits for, its result) is published as an immutable batchView, written
// under b.mu and read without it. Under b.mu only leaf locks are taken
// (the out queues', the goroutine group's, the change signal's).
type batch struct {
	env   *env
	c     *ceremony // the owner: its id, directory, end and progress
	index int
	proto protocol
	err   error // the batch cannot run: its plan's accounts are malformed
	dkgID [32]byte
	out   map[tss.ID]*outQueue
	v     atomic.Pointer[batchView]

	mu        sync.Mutex
	p         machine
	persisted int  // length of the last snapshot persisted
	queued    int  // outbox messages handed to the senders
	dead      bool // the ceremony aborted: nothing may be started or persisted
	// closed: the signer is shutting down and zeroed the state machine;
	// messages are refused (retried after the restart), never taken.
	closed bool
}

// batchView is what a batch shows its ceremony.
type batchView struct {
	started, staged bool
	waiting         []tss.ID
	transcript      [32]byte
	keys            []api.PublicKey
}

func newBatch(e *env, c *ceremony, i int) *batch {
	proto, err := newProtocol(c.plan, c.id, i)
	b := &batch{env: e, c: c, index: i, proto: proto, err: err, dkgID: proto.session, out: map[tss.ID]*outQueue{}}
	for _, p := range c.plan.members() {
		if p != c.self {
			b.out[p] = newOutQueue()
		}
	}
	b.v.Store(&batchView{})
	return b
}

// view is the batch's last published view.
func (b *batch) view() batchView { return *b.v.Load() }

// publish changes the view; b.mu held.
func (b *batch) publish(change func(v *batchView)) {
	v := *b.v.Load()
	change(&v)
	b.v.Store(&v)
	b.c.changed()
}

func (b *batch) snapshotPath() string {
	return filepath.Join(b.c.dir, fmt.Sprintf("batch-%05d.snapshot", b.index))
}

// snapshotLabel binds a sealed snapshot to its place: this ceremony, this
// batch, this participant, this cluster. A snapshot file moved anywhere
// else does not unseal.
func (b *batch) snapshotLabel() []byte {
	l := append([]byte(tagSnapshot), b.c.id[:]...)
	l = binary.BigEndian.AppendUint32(l, uint32(b.index))
	l = binary.BigEndian.AppendUint64(l, uint64(b.c.self))
	cid := b.env.cfg.ClusterID
	return append(l, cid[:]...)
}

// persist seals the snapshot in the HSM and writes it durably. It is not
// cut short by the sender going away (its retry will find the state
// persisted). b.mu held.
func (b *batch) persist(ctx context.Context, snap []byte) error {
	blob, err := b.env.deps.Sealer.SealData(context.WithoutCancel(ctx), snap, b.snapshotLabel())
	if err != nil {
		return fmt.Errorf("sealing the snapshot of batch %d: %w", b.index, err)
	}
	if err := files.WriteDurable(b.snapshotPath(), blob, 0o600); err != nil {
		return fmt.Errorf("writing the snapshot of batch %d: %w", b.index, err)
	}
	b.persisted = len(snap)
	return nil
}

// start starts the batch: this participant deals, persists its sealed
// snapshot and only then hands its messages to the senders. An
// *abortError ends the ceremony.
func (b *batch) start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.startLocked(ctx)
}

func (b *batch) startLocked(ctx context.Context) error {
	if b.view().started || b.dead || b.closed || b.c.isEnded() {
		return nil
	}
	if b.err != nil {
		return abortf("batch %d: %v", b.index, b.err)
	}
	p, err := b.proto.start(ctx, b.env, b.c.self)
	if err != nil {
		return abortf("batch %d: dealing: %v", b.index, err)
	}
	snap := p.Snapshot()
	err = b.persist(ctx, snap)
	clear(snap)
	if err != nil {
		p.Zero()
		return &abortError{reason: err.Error()}
	}
	b.p = p
	b.publish(func(v *batchView) { v.started = true })
	b.c.startSenders(b)
	return b.stepLocked(ctx)
}

// resume replays the batch's sealed snapshot after a restart. It reports
// false for a batch that was never started here.
func (b *batch) resume(ctx context.Context) (bool, error) {
	blob, err := os.ReadFile(b.snapshotPath())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dead || b.closed {
		return false, nil
	}
	if b.err != nil {
		return false, b.err
	}
	snap, err := b.env.deps.Sealer.UnsealData(ctx, blob, b.snapshotLabel())
	if err != nil {
		return false, err
	}
	p, err := b.proto.resume(ctx, b.env, b.c.self, snap)
	persisted := len(snap)
	clear(snap)
	if err != nil {
		return false, err
	}
	if _, _, err := p.Result(); aborted(err) {
		p.Zero()
		return false, dkgAbort(b.index, err)
	}
	b.p, b.persisted = p, persisted
	b.publish(func(v *batchView) { v.started = true })
	b.c.startSenders(b)
	if err := b.stepLocked(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// deliver hands one message from peer from to the batch. It returns nil
// once what the message changed is persisted, errEnded for a ceremony
// that ended, errNotPersisted, an *abortError that ends the ceremony, or a
// *web.Refusal of the message alone.
func (b *batch) deliver(ctx context.Context, from tss.ID, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dead || b.c.isEnded() {
		return errEnded
	}
	if b.closed {
		// Acknowledging now would lose the message: the state machine
		// is gone and nothing more is persisted before the restart.
		return web.Refuse(http.StatusServiceUnavailable, "unavailable", "this signer is shutting down; batch %d resumes after its restart", b.index)
	}
	v := b.view()
	if v.staged {
		return nil
	}
	if !v.started {
		// A faster peer started this batch first: start it here too.
		if err := b.startLocked(ctx); err != nil {
			return err
		}
		if b.p == nil && !b.view().staged {
			return web.Refuse(http.StatusServiceUnavailable, "unavailable", "batch %d cannot start yet", b.index)
		}
	}
	if b.p == nil {
		return nil // staged when it started: every message it needed was there
	}
	if err := b.p.Deliver(from, msg); err != nil {
		if aborted(err) {
			return dkgAbort(b.index, err)
		}
		b.env.cfg.Log.Warn("ceremony message refused", append(b.c.log(), "batch", b.index, "from", from, "err", err)...)
		return web.Refuse(http.StatusBadRequest, "bad_request", "message: %v", err)
	}
	return b.stepLocked(ctx)
}

// stepLocked runs after the state machine changed: it persists the sealed
// snapshot if anything was accepted, hands new messages to the senders
// (only after they are persisted), and stages the shares of a finished
// batch. It returns errNotPersisted, an *abortError, or nil. b.mu held.
func (b *batch) stepLocked(ctx context.Context) error {
	snap := b.p.Snapshot()
	changed := len(snap) != b.persisted
	var err error
	if changed {
		err = b.persist(ctx, snap)
	}
	clear(snap)
	if err != nil {
		b.env.cfg.Log.Error("persisting a ceremony snapshot failed", append(b.c.log(), "batch", b.index, "err", err)...)
		return errNotPersisted
	}
	if changed && b.queued > 0 {
		b.c.progressed()
	}
	out := b.p.Outbox()
	for _, m := range out[b.queued:] {
		for id, q := range b.out {
			if m.To == 0 || m.To == id {
				q.push(m)
			}
		}
	}
	b.queued = len(out)
	waiting := b.p.Waiting()
	b.publish(func(v *batchView) { v.waiting = waiting })
	switch b.p.Phase() {
	case dkg.PhaseDone:
		return b.stageLocked(ctx)
	case dkg.PhaseAborted:
		_, _, err := b.p.Result()
		return dkgAbort(b.index, err)
	}
	return nil
}

// stageLocked seals and stages the shares of a finished batch (in this
// signer's HSM, keys registered in slashing protection), then zeroes the
// state machine. b.mu held.
func (b *batch) stageLocked(ctx context.Context) error {
	transcript, validators, err := b.p.Result()
	if err != nil {
		return dkgAbort(b.index, err)
	}
	if b.c.dealsOnly() {
		// A helper of a repair, or a member a redistribution leaves out:
		// nothing is staged here.
		keys := make([]api.PublicKey, len(validators))
		for i, v := range validators {
			keys[i] = api.PublicKey(v.Account.Composite.Bytes())
		}
		return b.finishLocked(transcript, keys)
	}
	shares := make([]Share, len(validators))
	defer func() {
		for _, s := range shares {
			if s.Secret != nil {
				s.Secret.Zero()
			}
		}
	}()
	keys := make([]api.PublicKey, len(validators))
	for i, v := range validators {
		raw := v.Share.Bytes()
		sk, err := bls.SecretKeyFromBytes(raw[:])
		clear(raw[:])
		if err != nil {
			return abortf("batch %d: own share of validator %d: %v", b.index, i, err)
		}
		shares[i] = Share{Composite: v.Account.Composite, Threshold: v.Account.Threshold, Secret: sk}
		if pl := b.c.plan; pl.redistribute() {
			for _, id := range pl.NewMembers {
				shares[i].Members = append(shares[i].Members, uint64(id))
			}
			shares[i].Generation = uint64(pl.Generation)
		} else if pl.repair() {
			shares[i].Generation = uint64(pl.Generation) // the account's, unchanged
		}
		keys[i] = api.PublicKey(v.Account.Composite.Bytes())
	}
	components, err := b.c.stage(context.WithoutCancel(ctx), b.index, shares)
	if err != nil {
		return abortf("batch %d: staging the shares on participant %d: %v", b.index, b.c.self, err)
	}
	for i, v := range validators {
		want, _ := v.Account.PublicKey(b.c.self)
		if !components[i].Equal(want) {
			for _, k := range keys {
				b.c.discard(k)
			}
			return abortf("batch %d: the staged share of validator %d does not match its component key", b.index, i)
		}
	}
	return b.finishLocked(transcript, keys)
}

// finishLocked ends a batch whose result is staged: its state machine is
// zeroed and its view published as staged. b.mu held.
func (b *batch) finishLocked(transcript [32]byte, keys []api.PublicKey) error {
	// Every qualified peer confirmed, so each has this participant's
	// shares: the copies still queued are dropped with the secrets.
	for _, q := range b.out {
		q.dropShares()
	}
	b.p.Zero()
	b.p = nil
	b.publish(func(v *batchView) { v.staged, v.transcript, v.keys, v.waiting = true, transcript, keys, nil })
	for _, q := range b.out {
		q.wake()
	}
	return nil
}

// kill stops the batch for an abort: the state machine aborts and zeroes
// its secrets, queued messages are dropped, and the keys it staged are
// returned for discarding.
func (b *batch) kill() []api.PublicKey {
	b.mu.Lock()
	b.dead = true
	if b.p != nil {
		b.p.Abort("ceremony aborted")
		b.p.Zero()
		b.p = nil
	}
	b.mu.Unlock()
	for _, q := range b.out {
		q.clear()
	}
	return b.view().keys
}

// zero drops the batch's secrets held in memory (at shutdown); the batch
// takes no message after it.
func (b *batch) zero() {
	b.mu.Lock()
	b.closed = true
	if b.p != nil {
		b.p.Zero()
		b.p = nil
	}
	b.mu.Unlock()
	for _, q := range b.out {
		q.clear()
	}
}
