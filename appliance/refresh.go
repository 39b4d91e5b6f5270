package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

// A refresh (a resharing ceremony, package ceremony) gives an account this
// signer holds a new share and component key; the composite key and its
// slashing history do not change. Its steps, each under a.life:
//
//  1. stageRefresh: the new share is sealed by this signer's HSM and held
//     in memory; nothing on disk changes and the current share signs on.
//  2. activateRefresh: the sealed new share is written beside the share
//     file (.share.next), the current file is kept as .share.prev, the new
//     one renamed over it, and the share unsealed from it replaces the
//     current one in memory, which is zeroed once signatures in progress
//     finished.
//  3. finishRefresh: the .share.prev file is destroyed: the old share is
//     gone from disk as it is from memory.
//
// rollBackRefresh undoes step 2 for an aborted ceremony, from the files
// alone (it runs after a restart too): .share.prev returns in place of the
// new share. A crash at any point leaves a .share file holding either the
// old or the new share, both valid shares of the same key: the worst a
// crash does is stop this signer's partials combining with the others'
// until the ceremony's abort or finalisation settles it.

// errRefreshPending refuses a refresh while an earlier one of the same
// account is neither finalised nor rolled back.
var errRefreshPending = errors.New("an earlier refresh of the account is not finished")

// heldShare is a copy of the share this signer holds for an account now.
type heldShare struct {
	composite, component *bls.PublicKey
	threshold            int
	// secret is a copy: the caller zeroes it.
	secret *bls.SecretKey
}

// heldShares copies the current shares of keys, all active here.
func (a *Appliance) heldShares(keys []api.PublicKey) ([]heldShare, error) {
	out := make([]heldShare, 0, len(keys))
	fail := func(err error) ([]heldShare, error) {
		for _, h := range out {
			h.secret.Zero()
		}
		return nil, err
	}
	for i, key := range keys {
		acc, ok := a.accounts.get(key)
		if !ok {
			return fail(fmt.Errorf("accounts[%d]: %s is not an active account of this signer", i, key))
		}
		acc.mu.RLock()
		if acc.removed {
			acc.mu.RUnlock()
			return fail(fmt.Errorf("accounts[%d]: %s: %w", i, key, errRemoved))
		}
		raw := acc.share.Bytes()
		acc.mu.RUnlock()
		sk, err := bls.SecretKeyFromBytes(raw[:])
		clear(raw[:])
		if err != nil {
			return fail(fmt.Errorf("accounts[%d]: %s: copying the share: %w", i, key, err))
		}
		out = append(out, heldShare{composite: acc.composite, component: acc.component, threshold: acc.threshold, secret: sk})
	}
	return out, nil
}

// refreshPaths are the share file of key and its refresh companions.
func (a *Appliance) refreshPaths(key api.PublicKey) (cur, prev, next string) {
	dir := a.cfg.Accounts.SharesDir
	base := filepath.Join(dir, key.String())
	return base + files.ShareExt, base + files.PreviousExt, base + files.NextExt
}

// stageRefresh seals the new shares of accounts this signer holds, all or
// none, and returns each one's component public key. Nothing signs with
// them until activateRefresh.
func (a *Appliance) stageRefresh(ctx context.Context, items []stageItem) ([]*bls.PublicKey, error) {
	a.life.Lock()
	defer a.life.Unlock()
	keys := make([]api.PublicKey, len(items))
	accs := make([]*account, len(items))
	for i, it := range items {
		key := api.PublicKey(it.composite.Bytes())
		keys[i] = key
		acc, ok := a.accounts.get(key)
		accs[i] = acc
		if !ok {
			return nil, fmt.Errorf("accounts[%d]: %s is not an active account of this signer", i, key)
		}
		if it.members == nil && acc.threshold != it.threshold {
			return nil, fmt.Errorf("accounts[%d]: %s has threshold %d here, the refresh %d", i, key, acc.threshold, it.threshold)
		}
		if it.members != nil {
			// A new configuration (a redistribution): never an older
			// one than the account has here, nor the same one again.
			if it.generation <= acc.generation {
				return nil, fmt.Errorf("accounts[%d]: %s is at configuration generation %d here; the redistribution makes generation %d: a signer never goes back to an older configuration", i, key, acc.generation, it.generation)
			}
			if err := a.checkConfiguration(it); err != nil {
				return nil, fmt.Errorf("accounts[%d]: %w", i, err)
			}
		}
		if _, ok := a.refreshing[key]; ok {
			return nil, fmt.Errorf("accounts[%d]: %w: a refreshed share of %s is staged already", i, errRefreshPending, key)
		}
		if _, prev, _ := a.refreshPaths(key); fileExists(prev) {
			return nil, fmt.Errorf("accounts[%d]: %w: %s exists (the ceremony that left it is neither finalised nor aborted)", i, errRefreshPending, prev)
		}
	}
	blobs := make([][]byte, len(items))
	components := make([]*bls.PublicKey, len(items))
	for i, it := range items {
		// A refresh changes the shares, not the configuration: the
		// account's members and generation stay as they are; a
		// redistribution names its new ones.
		members, generation := accs[i].members, accs[i].generation
		if it.members != nil {
			members, generation = it.members, it.generation
		}
		blob, err := a.sealKey.Seal(ctx, it.share, hsm.Binding{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID, Threshold: uint64(it.threshold), CompositeKey: it.composite,
			Members: members, Generation: generation})
		if err != nil {
			return nil, fmt.Errorf("accounts[%d]: sealing: %w", i, err)
		}
		blobs[i], components[i] = blob, it.share.PublicKey()
	}
	for i, key := range keys {
		a.refreshing[key] = blobs[i]
	}
	return components, nil
}

// discardRefresh drops a staged refreshed share.
func (a *Appliance) discardRefresh(key api.PublicKey) {
	a.life.Lock()
	defer a.life.Unlock()
	delete(a.refreshing, key)
}

// activateRefresh puts the staged refreshed share of key in place of the
// current one, on disk then in memory; the current sealed share is kept
// as .share.prev until finishRefresh or rollBackRefresh.
func (a *Appliance) activateRefresh(ctx context.Context, key api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	blob, ok := a.refreshing[key]
	if !ok {
		return fmt.Errorf("%w: no refreshed share of %s", errNotStaged, key)
	}
	if _, ok := a.accounts.get(key); !ok {
		return fmt.Errorf("account %s is not active here (removed during the refresh?)", key)
	}
	cur, prev, next := a.refreshPaths(key)
	if fileExists(prev) {
		return fmt.Errorf("%w: %s exists", errRefreshPending, prev)
	}
	sh, err := a.sealKey.Unseal(ctx, blob, hsm.Placement{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID})
	if err != nil {
		return fmt.Errorf("unsealing the refreshed share: %w", err)
	}
	if api.PublicKey(sh.Info.CompositeKey) != key {
		sh.Key.Zero()
		return fmt.Errorf("the refreshed share of %s is sealed for another account", key)
	}
	dir := a.cfg.Accounts.SharesDir
	if err := files.WriteSynced(next, blob, 0o600); err != nil {
		os.Remove(next + ".tmp")
		sh.Key.Zero()
		return fmt.Errorf("writing the refreshed share: %w", err)
	}
	// The old file keeps its content under the new name until the
	// ceremony ends; the rename then replaces the share file atomically.
	if err := os.Link(cur, prev); err != nil {
		os.Remove(next)
		sh.Key.Zero()
		return fmt.Errorf("keeping the current share: %w", err)
	}
	if err := os.Rename(next, cur); err != nil {
		os.Remove(prev)
		os.Remove(next)
		sh.Key.Zero()
		return fmt.Errorf("placing the refreshed share: %w", err)
	}
	if err := files.SyncDir(dir); err != nil {
		// The rename happened; the directory entry may not be durable
		// yet, which a crash resolves either way (old or new share).
		a.log.Warn("syncing the shares directory after a refresh failed", "account", key, "err", err)
	}
	delete(a.refreshing, key)
	if err := a.accounts.replace(sh, a.cfg.participantIDs(), a.cfg.version1Members()); err != nil {
		sh.Key.Zero()
		return err
	}
	if a.coord != nil {
		a.coord.Invalidate()
	}
	a.log.Info("refreshed share activated; the old share is zeroed in memory and kept sealed until the ceremony ends", "account", key)
	return nil
}

// rollBackRefresh undoes activateRefresh (an aborted ceremony): the
// previous share returns in place, on disk and in memory, and a staged
// refreshed share is dropped. Without a .share.prev file there is nothing
// to undo (never activated here, or finalised).
func (a *Appliance) rollBackRefresh(ctx context.Context, key api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	delete(a.refreshing, key)
	cur, prev, _ := a.refreshPaths(key)
	blob, err := os.ReadFile(prev)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the previous share: %w", err)
	}
	sh, err := a.sealKey.Unseal(ctx, blob, hsm.Placement{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID})
	if err != nil {
		return fmt.Errorf("unsealing the previous share: %w", err)
	}
	if api.PublicKey(sh.Info.CompositeKey) != key {
		sh.Key.Zero()
		return fmt.Errorf("%s holds the share of another account", prev)
	}
	if err := os.Rename(prev, cur); err != nil {
		sh.Key.Zero()
		return fmt.Errorf("putting the previous share back: %w", err)
	}
	if err := files.SyncDir(a.cfg.Accounts.SharesDir); err != nil {
		a.log.Warn("syncing the shares directory after a refresh rollback failed", "account", key, "err", err)
	}
	if _, ok := a.accounts.get(key); ok {
		if err := a.accounts.replace(sh, a.cfg.participantIDs(), a.cfg.version1Members()); err != nil {
			sh.Key.Zero()
			return err
		}
	} else {
		sh.Key.Zero() // removed meanwhile: its file is back, it stays off
	}
	if a.coord != nil {
		a.coord.Invalidate()
	}
	a.log.Warn("refresh rolled back: the previous share signs again", "account", key)
	return nil
}

// finishRefresh destroys the previous sealed share of key once the
// refresh is final everywhere.
func (a *Appliance) finishRefresh(key api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	_, prev, _ := a.refreshPaths(key)
	if err := os.Remove(prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("destroying the previous share: %w", err)
	}
	return files.SyncDir(a.cfg.Accounts.SharesDir)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// suspendedPath marks a key suspended by a redistribution that leaves
// this signer out (disabled in slashing protection, not removed), so that
// a restart does not take the disabled key for an interrupted removal.
func (a *Appliance) suspendedPath(key api.PublicKey) string {
	return filepath.Join(a.cfg.Accounts.SharesDir, key.String()+".suspended")
}

// suspendLeaving stops keys signing any block or attestation here (they
// are disabled in slashing protection): a redistribution that leaves this
// signer out activated the new configuration, and the old shares must not
// form a quorum beside it. resumeLeaving undoes it for an aborted one.
func (a *Appliance) suspendLeaving(ctx context.Context, keys []api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	for _, key := range keys {
		if err := files.WriteSynced(a.suspendedPath(key), nil, 0o600); err != nil {
			return fmt.Errorf("marking %s suspended: %w", key, err)
		}
	}
	if err := files.SyncDir(a.cfg.Accounts.SharesDir); err != nil {
		return err
	}
	for _, key := range keys {
		if err := a.db.Disable(ctx, protect.PublicKey(key)); err != nil {
			return fmt.Errorf("slashing protection of %s: %w", key, err)
		}
	}
	if a.coord != nil {
		a.coord.Invalidate()
	}
	a.log.Warn("accounts suspended: a redistribution leaving this signer out is active; they sign no block or attestation here", "accounts", len(keys))
	return nil
}

func (a *Appliance) resumeLeaving(ctx context.Context, keys []api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	pks := make([]protect.PublicKey, len(keys))
	for i, k := range keys {
		pks[i] = protect.PublicKey(k)
		if _, ok := a.accounts.get(k); !ok {
			a.log.Error("aborted redistribution: an account suspended here is not loaded (removed meanwhile?): restore it (rampartctl accounts restore)", "account", k)
		}
	}
	if err := a.db.Enable(ctx, pks...); err != nil {
		return fmt.Errorf("slashing protection: %w", err)
	}
	for _, k := range keys {
		os.Remove(a.suspendedPath(k))
	}
	if a.coord != nil {
		a.coord.Invalidate()
	}
	a.log.Warn("accounts resumed: the redistribution that would have left this signer out was aborted", "accounts", len(keys))
	return files.SyncDir(a.cfg.Accounts.SharesDir)
}

// leave takes key off this signer: a redistribution gave the account a
// configuration without it, active everywhere. As any removal, the share
// leaves memory at once and its sealed file is destroyed after
// accounts.destroy_after (one administrator's credential never destroys a
// share sooner); its slashing history stays. A refresh companion file and
// the suspension mark are deleted.
func (a *Appliance) leave(ctx context.Context, key api.PublicKey) error {
	if _, _, err := a.remove(ctx, key, adminapi.SystemActor("left the account's configuration (a redistribution)")); err != nil {
		return err
	}
	a.life.Lock()
	defer a.life.Unlock()
	delete(a.refreshing, key)
	_, prev, next := a.refreshPaths(key)
	for _, f := range []string{prev, next, a.suspendedPath(key)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("destroying %s: %w", f, err)
		}
	}
	return files.SyncDir(a.cfg.Accounts.SharesDir)
}

// purgeJoined takes off, at once, an account an aborted redistribution had
// given this signer: its share never belonged to an active configuration,
// and restored it would revive one. The key is disabled in slashing
// protection (its history stays) and the share file deleted.
func (a *Appliance) purgeJoined(ctx context.Context, key api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	delete(a.refreshing, key)
	if err := a.db.Disable(ctx, protect.PublicKey(key)); err != nil && !errors.Is(err, protect.ErrUnknownKey) {
		return fmt.Errorf("slashing protection: %w", err)
	}
	if a.accounts.remove(key) {
		a.metrics.accounts.Set(float64(a.accounts.len()))
	}
	if a.coord != nil {
		a.coord.Invalidate()
	}
	cur, prev, next := a.refreshPaths(key)
	for _, f := range []string{cur, prev, next} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("destroying %s: %w", f, err)
		}
	}
	return files.SyncDir(a.cfg.Accounts.SharesDir)
}
