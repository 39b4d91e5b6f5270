package protect

import (
	"context"
	"fmt"
)

// ApproveBlock checks a block proposal for key against the slashing rules
// and, if it is safe, records it durably and returns a [Permit]. A refusal
// is a *[RefusalError]; any error means do not sign.
//
// A slot in an epoch after [Config.Limit]'s fails with [ErrFuture] before
// any rule is applied, and is not recorded.
func (db *DB) ApproveBlock(ctx context.Context, gvr Root, key PublicKey, b Block, opts ...ApproveOption) (Permit, error) {
	if err := db.checkRequest(ctx, gvr); err != nil {
		return Permit{}, err
	}
	lim, err := db.limit()
	if err != nil {
		return Permit{}, err
	}
	if err := lim.checkSlot("block slot", b.Slot, db.cfg.SlotsPerEpoch); err != nil {
		return Permit{}, fmt.Errorf("protect: %v: %w", key, err)
	}
	if err := db.lockUsable(); err != nil {
		return Permit{}, err
	}
	batch := db.open
	err = db.decideBlockLocked(batch, key, b)
	db.mu.Unlock()
	o := collectApproveOptions(opts)
	o.notify([]bool{err == nil})
	if err != nil {
		return Permit{}, err
	}
	if err := db.wait(ctx, batch); err != nil {
		return Permit{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.keys[key].disabled {
		return Permit{}, disabledAfterCheck(key)
	}
	return Permit{key: key, root: b.SigningRoot, valid: true}, nil
}

// decideBlockLocked checks a block and, unless it is an exact repeat,
// records it in memory and queues its record in batch.
func (db *DB) decideBlockLocked(batch *batch, key PublicKey, b Block) error {
	k, err := db.activeKeyLocked(key)
	if err != nil {
		return err
	}
	repeat, err := k.checkBlock(b, true)
	if err != nil || repeat {
		return err
	}
	k.addBlock(b.Slot, b.SigningRoot, true)
	k.normalize(db.h)
	db.markDirtyLocked(k)
	batch.reserve()
	batch.buf = appendBlockOp(batch.buf, key, b.Slot, b.SigningRoot, true)
	return nil
}

// decideAttestationLocked is decideBlockLocked for an attestation.
func (db *DB) decideAttestationLocked(batch *batch, r *AttestationRequest) error {
	k, err := db.activeKeyLocked(r.Key)
	if err != nil {
		return err
	}
	repeat, err := k.checkAttestation(r.Attestation, true)
	if err != nil || repeat {
		return err
	}
	k.addAttestation(r.Source, r.Target, r.SigningRoot, true, db.h)
	k.normalize(db.h)
	db.markDirtyLocked(k)
	batch.reserve()
	batch.buf = appendAttestationOp(batch.buf, r.Key, r.Source, r.Target, r.SigningRoot, true)
	return nil
}

// disabledAfterCheck is the answer for a request that passed its checks and
// was recorded, but whose key was disabled before the permit was handed
// out: Disable takes effect for every permit not yet handed out, so that
// once it returns none can appear.
func disabledAfterCheck(key PublicKey) error {
	return fmt.Errorf("%w: %v (disabled while the request was being recorded)", ErrDisabled, key)
}

// ApproveAttestation is ApproveBlock for one attestation.
func (db *DB) ApproveAttestation(ctx context.Context, gvr Root, key PublicKey, a Attestation, opts ...ApproveOption) (Permit, error) {
	vs, err := db.ApproveAttestations(ctx, gvr, []AttestationRequest{{Key: key, Attestation: a}}, opts...)
	if err != nil {
		return Permit{}, err
	}
	return vs[0].Permit, vs[0].Err
}

// ApproveAttestations decides a slot burst in one call: one verdict per
// request, in order, all records written in one commit. Requests are decided
// in order, so a later request for the same key sees the earlier one. The
// returned error is for the call as a whole (wrong network, cancelled,
// database failed or closed, no [Config.Limit]); then no item has a permit.
// An item whose target is after the limit's epoch fails with [ErrFuture]
// and is not recorded.
func (db *DB) ApproveAttestations(ctx context.Context, gvr Root, reqs []AttestationRequest, opts ...ApproveOption) ([]Verdict, error) {
	if err := db.checkRequest(ctx, gvr); err != nil {
		return nil, err
	}
	lim, err := db.limit()
	if err != nil {
		return nil, err
	}
	out := make([]Verdict, len(reqs))
	if err := db.lockUsable(); err != nil {
		return nil, err
	}
	batch := db.open
	approved := false
	for i := range reqs {
		if err := lim.checkEpoch("attestation target epoch", reqs[i].Target); err != nil {
			out[i].Err = fmt.Errorf("protect: %v: %w", reqs[i].Key, err)
			continue
		}
		if out[i].Err = db.decideAttestationLocked(batch, &reqs[i]); out[i].Err == nil {
			approved = true
		}
	}
	db.mu.Unlock()
	o := collectApproveOptions(opts)
	if o.decided != nil {
		passed := make([]bool, len(out))
		for i := range out {
			passed[i] = out[i].Err == nil
		}
		o.notify(passed)
	}
	if approved {
		if err := db.wait(ctx, batch); err != nil {
			return nil, err
		}
		db.mu.Lock()
		for i := range out {
			if out[i].Err != nil {
				continue
			}
			if db.keys[reqs[i].Key].disabled {
				out[i] = Verdict{Err: disabledAfterCheck(reqs[i].Key)}
				continue
			}
			out[i].Permit = Permit{key: reqs[i].Key, root: reqs[i].SigningRoot, valid: true}
		}
		db.mu.Unlock()
	}
	return out, nil
}

func (db *DB) checkRequest(ctx context.Context, gvr Root) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if gvr != db.gvr {
		return fmt.Errorf("%w: request for %v, database for %v", ErrWrongNetwork, gvr, db.gvr)
	}
	return nil
}

// lockKey takes db.mu and returns key's state, or an error without holding
// the lock.
func (db *DB) lockKey(key PublicKey) (*keyState, error) {
	if err := db.lockUsable(); err != nil {
		return nil, err
	}
	k := db.keys[key]
	if k == nil {
		db.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrUnknownKey, key)
	}
	return k, nil
}

func (db *DB) activeKeyLocked(key PublicKey) (*keyState, error) {
	k := db.keys[key]
	if k == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownKey, key)
	}
	if k.disabled {
		return nil, fmt.Errorf("%w: %v", ErrDisabled, key)
	}
	return k, nil
}

// Register adds keys with empty history, durably. Registering a key that
// exists changes nothing (a disabled key stays disabled). Only register a
// key that has never signed anywhere, such as one just made by key
// generation; a key with a past must come in through [DB.Import] with its
// history.
func (db *DB) Register(ctx context.Context, keys ...PublicKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.lockUsable(); err != nil {
		return err
	}
	b := db.open
	for _, key := range keys {
		if db.keys[key] == nil {
			k := &keyState{key: key}
			db.keys[key] = k
			db.markDirtyLocked(k)
			b.reserve()
			b.buf = appendKeyOp(b.buf, opRegister, key)
		}
	}
	db.mu.Unlock()
	return db.wait(ctx, b)
}

// Disable stops key from signing: from the moment Disable is called no
// permit for it is handed out (requests already recorded but not yet
// answered get ErrDisabled), and once it returns every permit ever handed
// out for it has its record committed, so an export taken next holds
// everything the key signed (the keymanager API's DELETE: disable, then
// export). If Disable returns an error the key may or may not be disabled
// on disk, but it signs nothing until the database is reopened.
func (db *DB) Disable(ctx context.Context, key PublicKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.adminMu.Lock()
	defer db.adminMu.Unlock()
	k, err := db.lockKey(key)
	if err != nil {
		return err
	}
	k.disabled = true
	db.markDirtyLocked(k)
	b := db.open
	b.reserve()
	b.buf = appendKeyOp(b.buf, opDisable, key)
	db.mu.Unlock()
	return db.wait(ctx, b)
}

// Enable lets disabled keys sign again, once the change is durable: all
// of them in one commit (a ceremony activates thousands at once). Import
// each key's history from wherever it signed meanwhile first. An unknown
// key fails the whole call before anything is written.
func (db *DB) Enable(ctx context.Context, keys ...PublicKey) error {
	if len(keys) == 0 {
		return nil
	}
	db.adminMu.Lock()
	defer db.adminMu.Unlock()
	// Enable is written by its own leader and applied in memory only after
	// the commit, while still holding the token, so neither a request nor a
	// checkpoint can see an enabled key that the file does not have.
	if err := db.acquire(ctx); err != nil {
		return err
	}
	defer db.release()
	if err := db.lockUsable(); err != nil {
		return err
	}
	// A key enabled in memory is enabled on disk (Disable marks it in
	// memory before its commit): only disabled ones need a record, so
	// enabling keys just registered costs no commit.
	var ks []*keyState
	for _, key := range keys {
		k := db.keys[key]
		if k == nil {
			db.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrUnknownKey, key)
		}
		if k.disabled {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		db.mu.Unlock()
		return nil
	}
	b := db.open
	for _, k := range ks {
		b.reserve()
		b.buf = appendKeyOp(b.buf, opEnable, k.key)
		db.markDirtyLocked(k)
	}
	db.mu.Unlock()
	db.commitOpen()
	if b.err != nil {
		return b.err
	}
	db.mu.Lock()
	for _, k := range ks {
		k.disabled = false
	}
	db.mu.Unlock()
	return nil
}
