package appliance

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// batch is one dkg ceremony of a ceremony's batches at this participant.
//
// Locking: b.mu guards the state machine and what is persisted of it; the
// fields marked "c.mu" are read by status and the scheduler under the
// ceremony's lock, and written holding both (b.mu first).
type batch struct {
	c     *ceremony
	index int
	cfg   dkg.Config
	dkgID [32]byte
	out   map[tss.ID]*outQueue

	mu        sync.Mutex
	p         *dkg.Participant
	persisted int  // length of the last snapshot persisted
	queued    int  // outbox messages handed to the senders
	dead      bool // the ceremony aborted: nothing may be started or persisted

	// c.mu
	started    bool
	staged     bool
	waiting    []tss.ID
	transcript [32]byte
	keys       []api.PublicKey
}

// flags returns started and staged; the caller holds c.mu.
func (b *batch) flags() (started, staged bool) { return b.started, b.staged }

// isStaged reports whether the batch's shares are staged.
func (b *batch) isStaged() bool {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return b.staged
}

// result returns the transcript and keys of a staged batch; the caller
// holds c.mu.
func (b *batch) result() ([32]byte, []api.PublicKey) { return b.transcript, b.keys }

// waitingFor returns the participants the running batch waits for; the
// caller holds c.mu.
func (b *batch) waitingFor() []tss.ID {
	if !b.started || b.staged {
		return nil
	}
	return b.waiting
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
	cid := b.c.m.a.cfg.ClusterID()
	return append(l, cid[:]...)
}

// persist seals the snapshot in the HSM and writes it durably. It is not
// cut short by the sender going away (its retry will find the state
// persisted). b.mu held.
func (b *batch) persist(ctx context.Context, snap dkg.Snapshot) error {
	blob, err := b.c.m.a.sealKey.SealData(context.WithoutCancel(ctx), snap, b.snapshotLabel())
	if err != nil {
		return fmt.Errorf("sealing the snapshot of batch %d: %w", b.index, err)
	}
	if err := files.WriteDurable(b.snapshotPath(), blob, 0o600); err != nil {
		return fmt.Errorf("writing the snapshot of batch %d: %w", b.index, err)
	}
	b.persisted = len(snap)
	return nil
}

// startIfNeeded starts the batch: this participant deals, persists its
// sealed snapshot and only then hands its messages to the senders. It
// returns an abort reason when the ceremony cannot go on.
func (b *batch) startIfNeeded(ctx context.Context) string {
	b.mu.Lock()
	reason := b.startLocked(ctx)
	b.mu.Unlock()
	if reason == "" {
		b.afterUnlock(ctx)
	}
	return reason
}

func (b *batch) startLocked(ctx context.Context) string {
	c := b.c
	c.mu.Lock()
	started := b.started
	c.mu.Unlock()
	if started || b.dead || c.isEnded() {
		return ""
	}
	p, err := dkg.New(b.cfg, c.self, c.m.a.opts.Rand)
	if err != nil {
		return fmt.Sprintf("batch %d: dealing: %v", b.index, err)
	}
	snap := p.Snapshot()
	err = b.persist(ctx, snap)
	snap.Zero()
	if err != nil {
		p.Zero()
		return err.Error()
	}
	b.p = p
	c.mu.Lock()
	b.started = true
	c.mu.Unlock()
	for id := range b.out {
		c.m.spawn(func(ctx context.Context) { c.sendLoop(ctx, b, id) })
	}
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
	reason, err := b.resumeLocked(ctx, blob)
	b.mu.Unlock()
	if err != nil {
		return false, err
	}
	if reason != "" {
		return false, errors.New(reason)
	}
	b.afterUnlock(ctx)
	return true, nil
}

func (b *batch) resumeLocked(ctx context.Context, blob []byte) (string, error) {
	c := b.c
	if b.dead {
		return "", nil
	}
	snap, err := c.m.a.sealKey.UnsealData(ctx, blob, b.snapshotLabel())
	if err != nil {
		return "", err
	}
	p, err := dkg.Resume(snap, c.m.a.opts.Rand)
	persisted := len(snap)
	clear(snap)
	if err != nil {
		return "", err
	}
	if p.CeremonyID() != b.dkgID {
		p.Zero()
		return "", errors.New("the snapshot belongs to another batch")
	}
	if _, err := p.Result(); errors.Is(err, dkg.ErrAborted) {
		p.Zero()
		return dkgAbortReason(b, err), nil
	}
	b.p, b.persisted = p, persisted
	c.mu.Lock()
	b.started = true
	c.mu.Unlock()
	for id := range b.out {
		c.m.spawn(func(ctx context.Context) { c.sendLoop(ctx, b, id) })
	}
	return b.stepLocked(ctx), nil
}

// deliver hands one message from peer from to its batch. The message is
// acknowledged (nil) only once what it changed is persisted.
func (c *ceremony) deliver(ctx context.Context, from tss.ID, msg []byte) *apiError {
	switch st, reason := c.current(); st {
	case adminapi.StateResuming:
		return refuse(http.StatusServiceUnavailable, "unavailable", "ceremony is resuming after a restart")
	case adminapi.StateAborting, adminapi.StateAborted:
		return refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
	case adminapi.StateRunning:
	default:
		return nil // every batch is done here: late messages change nothing
	}
	// The header carries the dkg ceremony id, which names the batch.
	const idStart, idEnd = 6, 38
	if len(msg) < idEnd {
		return refuse(http.StatusBadRequest, "bad_request", "message: %d bytes, too short for a dkg message", len(msg))
	}
	var dkgID [32]byte
	copy(dkgID[:], msg[idStart:idEnd])
	b, ok := c.byDKG[dkgID]
	if !ok {
		return refuse(http.StatusBadRequest, "bad_request", "message: belongs to no batch of this ceremony")
	}
	b.mu.Lock()
	reason, e := b.deliverLocked(ctx, from, msg)
	b.mu.Unlock()
	if reason != "" {
		c.abort(ctx, reason)
		return refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
	}
	if e == nil {
		b.afterUnlock(ctx)
	}
	return e
}

func (b *batch) deliverLocked(ctx context.Context, from tss.ID, msg []byte) (string, *apiError) {
	c := b.c
	if b.dead || c.isEnded() {
		_, reason := c.current()
		return "", refuse(http.StatusGone, "ceremony_aborted", "%v: %s", adminapi.ErrCeremonyAborted, reason)
	}
	c.mu.Lock()
	started, staged := b.started, b.staged
	c.mu.Unlock()
	if staged {
		return "", nil
	}
	if !started {
		// A faster peer started this batch first: start it here too.
		if reason := b.startLocked(ctx); reason != "" {
			return reason, nil
		}
		if b.p == nil {
			return "", refuse(http.StatusServiceUnavailable, "unavailable", "batch %d cannot start yet", b.index)
		}
	}
	if b.p == nil {
		return "", nil // staged meanwhile
	}
	if _, err := b.p.Deliver(from, msg); err != nil {
		if errors.Is(err, dkg.ErrAborted) {
			return dkgAbortReason(b, err), nil
		}
		c.m.a.log.Warn("ceremony message refused", append(c.log(), "batch", b.index, "from", from, "err", err)...)
		return "", refuse(http.StatusBadRequest, "bad_request", "message: %v", err)
	}
	if reason := b.stepLocked(ctx); reason != "" {
		if reason == errPersist {
			return "", refuse(http.StatusServiceUnavailable, "unavailable", "could not persist the ceremony state; retry")
		}
		return reason, nil
	}
	return "", nil
}

// errPersist is the step result for a snapshot that could not be
// persisted: the message is not acknowledged, and its retry persists it.
const errPersist = "\x00persist"

// stepLocked runs after the state machine changed: it persists the sealed
// snapshot if anything was accepted, hands new messages to the senders
// (only after they are persisted), and stages the shares of a finished
// batch. It returns an abort reason, errPersist, or "". b.mu held.
func (b *batch) stepLocked(ctx context.Context) string {
	c := b.c
	snap := b.p.Snapshot()
	changed := len(snap) != b.persisted
	var err error
	if changed {
		err = b.persist(ctx, snap)
	}
	snap.Zero()
	if err != nil {
		c.m.a.log.Error("persisting a ceremony snapshot failed", append(c.log(), "batch", b.index, "err", err)...)
		return errPersist
	}
	if changed && b.queued > 0 {
		c.progressed()
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
	c.mu.Lock()
	b.waiting = b.p.Waiting()
	c.mu.Unlock()
	switch b.p.Phase() {
	case dkg.PhaseDone:
		return b.stageLocked(ctx)
	case dkg.PhaseAborted:
		_, err := b.p.Result()
		return dkgAbortReason(b, err)
	}
	return ""
}

// stageLocked seals and stages the shares of a finished batch (in this
// signer's HSM, keys registered in slashing protection), then zeroes the
// state machine. b.mu held.
func (b *batch) stageLocked(ctx context.Context) string {
	c := b.c
	a := c.m.a
	res, err := b.p.Result()
	if err != nil {
		return dkgAbortReason(b, err)
	}
	items := make([]stageItem, len(res.Validators))
	defer func() {
		for _, it := range items {
			if it.share != nil {
				it.share.Zero()
			}
		}
	}()
	keys := make([]api.PublicKey, len(res.Validators))
	for i, v := range res.Validators {
		raw := v.Share.Bytes()
		sk, err := bls.SecretKeyFromBytes(raw[:])
		clear(raw[:])
		if err != nil {
			return fmt.Sprintf("batch %d: own share of validator %d: %v", b.index, i, err)
		}
		items[i] = stageItem{composite: v.Account.Composite, threshold: v.Account.Threshold, share: sk}
		keys[i] = api.PublicKey(v.Account.Composite.Bytes())
	}
	components, err := a.stageAll(context.WithoutCancel(ctx), items)
	if err != nil {
		return fmt.Sprintf("batch %d: staging the shares on participant %d: %v", b.index, c.self, err)
	}
	for i, v := range res.Validators {
		want, _ := v.Account.PublicKey(c.self)
		if !components[i].Equal(want) {
			for _, k := range keys {
				a.discard(k)
			}
			return fmt.Sprintf("batch %d: the staged share of validator %d does not match its component key", b.index, i)
		}
	}
	// Every qualified peer confirmed, so each has this participant's
	// shares: the copies still queued are dropped with the secrets.
	for _, q := range b.out {
		q.dropShares()
	}
	b.p.Zero()
	b.p = nil
	c.mu.Lock()
	b.staged, b.transcript, b.keys, b.waiting = true, res.Transcript, keys, nil
	c.mu.Unlock()
	for _, q := range b.out {
		q.wake()
	}
	return ""
}

// afterUnlock tells the ceremony when the batch got staged.
func (b *batch) afterUnlock(ctx context.Context) {
	if b.isStaged() {
		b.c.batchStaged(ctx)
	}
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
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return b.keys
}
