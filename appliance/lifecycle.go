package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// Accounts come and go at run time in two steps, so that an account made
// across the cluster (by import or key generation) is never usable at some
// signers and missing at others:
//
//  1. stage: the share is sealed by this signer's HSM, written next to its
//     final file name, and the key's slashing history imported (or the key
//     registered as new). Nothing can sign yet; a staged share left by a
//     crash is deleted at the next start.
//  2. activate: the file takes its final name, the share is unsealed from
//     it (so what signs is exactly what is on disk) and the account joins.
//
// remove is keymanager DELETE: the key is disabled in slashing protection
// first (no permit can be handed out any more), then the share is zeroed
// once signatures in progress finished, the file deleted, and the key's
// history exported.

// ErrAccountExists is returned when staging an account this signer holds.
var ErrAccountExists = errors.New("account already exists on this signer")

// ErrNotStaged is returned when activating an account that was not staged.
var ErrNotStaged = errors.New("account is not staged on this signer")

type stagedShare struct {
	blob    []byte
	commit  func() error
	discard func()
}

// stageItem is one account to stage.
type stageItem struct {
	composite *bls.PublicKey
	threshold int
	share     *bls.SecretKey
	history   *protect.Interchange
}

// stageAll seals and stages every item, all or none; each history, when
// given, must only concern its item's key. Slashing registrations and
// imports go into the database in one commit each.
func (a *Appliance) stageAll(ctx context.Context, items []stageItem) ([]*bls.PublicKey, error) {
	keys := make([]api.PublicKey, len(items))
	seen := map[api.PublicKey]bool{}
	for i, it := range items {
		key := api.PublicKey(it.composite.Bytes())
		keys[i] = key
		if seen[key] {
			return nil, fmt.Errorf("accounts[%d]: %s listed twice", i, key)
		}
		seen[key] = true
		if err := tss.CheckThreshold(it.threshold, len(a.cfg.Cluster.Participants)); err != nil {
			return nil, fmt.Errorf("accounts[%d]: threshold %d for a cluster of %d: %w", i, it.threshold, len(a.cfg.Cluster.Participants), err)
		}
		if it.history != nil {
			for j, v := range it.history.Data {
				if api.PublicKey(v.PublicKey) != key {
					return nil, fmt.Errorf("accounts[%d].slashing_protection.data[%d]: history for another key %s", i, j, api.PublicKey(v.PublicKey))
				}
			}
			if it.history.GenesisValidatorsRoot != protect.Root(a.net.GenesisValidatorsRoot()) {
				return nil, fmt.Errorf("accounts[%d].slashing_protection: %w", i, protect.ErrWrongNetwork)
			}
		}
	}
	a.life.Lock()
	defer a.life.Unlock()
	for i, key := range keys {
		if _, ok := a.accounts.get(key); ok {
			return nil, fmt.Errorf("accounts[%d]: %w: %s", i, ErrAccountExists, key)
		}
		if _, ok := a.staged[key]; ok {
			return nil, fmt.Errorf("accounts[%d]: %w: %s is already staged", i, ErrAccountExists, key)
		}
	}
	var done []*stagedShare
	undo := func() {
		for _, st := range done {
			st.discard()
		}
	}
	components := make([]*bls.PublicKey, len(items))
	for i, it := range items {
		blob, err := a.sealKey.Seal(ctx, it.share, hsm.Binding{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID, Threshold: uint64(it.threshold), CompositeKey: it.composite})
		if err != nil {
			undo()
			return nil, fmt.Errorf("accounts[%d]: sealing: %w", i, err)
		}
		commit, discard, err := StageShare(a.cfg.Accounts.SharesDir, keys[i], blob)
		if err != nil {
			undo()
			return nil, fmt.Errorf("accounts[%d]: %w", i, err)
		}
		done = append(done, &stagedShare{blob: blob, commit: commit, discard: discard})
		components[i] = it.share.PublicKey()
	}
	// Histories first, then fresh keys: both only ever add refusals, so a
	// failure part-way leaves nothing unsafe behind.
	var fresh []protect.PublicKey
	for i, it := range items {
		if it.history == nil {
			fresh = append(fresh, protect.PublicKey(keys[i]))
			continue
		}
		if _, err := a.db.Import(ctx, it.history); err != nil {
			undo()
			return nil, fmt.Errorf("accounts[%d]: slashing protection: %w", i, err)
		}
	}
	if len(fresh) > 0 {
		if err := a.db.Register(ctx, fresh...); err != nil {
			undo()
			return nil, fmt.Errorf("slashing protection: %w", err)
		}
	}
	for i, st := range done {
		a.staged[keys[i]] = st
	}
	return components, nil
}

// activate makes a staged account signable.
func (a *Appliance) activate(ctx context.Context, key api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	st, ok := a.staged[key]
	if !ok {
		if _, active := a.accounts.get(key); active {
			return nil // idempotent: a retried activation
		}
		return fmt.Errorf("%w: %s", ErrNotStaged, key)
	}
	sh, err := a.sealKey.Unseal(ctx, st.blob, hsm.Placement{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID})
	if err != nil {
		return fmt.Errorf("unsealing the staged share: %w", err)
	}
	if err := a.db.Enable(ctx, protect.PublicKey(key)); err != nil {
		sh.Key.Zero()
		return fmt.Errorf("slashing protection: %w", err)
	}
	if err := st.commit(); err != nil {
		sh.Key.Zero()
		return err
	}
	delete(a.staged, key)
	if err := a.accounts.add(sh, len(a.cfg.Cluster.Participants)); err != nil {
		sh.Key.Zero()
		return err
	}
	a.metrics.accounts.Set(float64(a.accounts.len()))
	a.coord.Invalidate()
	a.log.Info("account activated", "account", key)
	return nil
}

// discard drops a staged account (a failed import or ceremony elsewhere).
// Its slashing registration stays: it only ever adds refusals.
func (a *Appliance) discard(key api.PublicKey) bool {
	a.life.Lock()
	defer a.life.Unlock()
	st, ok := a.staged[key]
	if ok {
		st.discard()
		delete(a.staged, key)
	}
	return ok
}

// remove takes an account off this signer (keymanager DELETE) and returns
// its slashing protection history. A staged account is discarded.
func (a *Appliance) remove(ctx context.Context, key api.PublicKey) (*protect.Interchange, bool, error) {
	a.life.Lock()
	defer a.life.Unlock()
	found := false
	if st, ok := a.staged[key]; ok {
		st.discard()
		delete(a.staged, key)
		found = true
	}
	known := false
	for _, k := range a.db.Keys() {
		if api.PublicKey(k) == key {
			known = true
		}
	}
	if known {
		if err := a.db.Disable(ctx, protect.PublicKey(key)); err != nil {
			return nil, found, fmt.Errorf("slashing protection: %w", err)
		}
	}
	if a.accounts.remove(key) {
		found = true
		a.metrics.accounts.Set(float64(a.accounts.len()))
	}
	path := filepath.Join(a.cfg.Accounts.SharesDir, ShareFileName(key))
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, found, fmt.Errorf("removing %s: %w", path, err)
	}
	if err := syncDir(a.cfg.Accounts.SharesDir); err != nil {
		return nil, found, err
	}
	if !known {
		return nil, found, nil
	}
	ic, err := a.db.Export(ctx, protect.PublicKey(key))
	if err != nil {
		return nil, found, fmt.Errorf("exporting slashing protection: %w", err)
	}
	if found {
		a.log.Info("account removed", "account", key)
	}
	return ic, found, nil
}

// removeStaleStaged deletes staged shares a crash left behind: their
// activation never happened, so they must never sign.
func removeStaleStaged(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ShareFileExt+".staged") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return removed, err
			}
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}
