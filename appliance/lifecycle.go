package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
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
// once signatures in progress finished, the share file moved to a
// pending-destruction record (destroyed later unless restored), and the
// key's history exported.

// errAccountExists is returned when staging an account this signer holds.
var errAccountExists = errors.New("account already exists on this signer")

// errNotStaged is returned when activating an account that was not staged.
var errNotStaged = errors.New("account is not staged on this signer")

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
	// members and generation name the account's configuration when it is
	// not the cluster's (a redistribution's): each member a participant.
	members    []uint64
	generation uint64
}

// checkConfiguration checks an item's threshold against its members,
// or the cluster's participants.
func (a *Appliance) checkConfiguration(it stageItem) error {
	cluster := a.cfg.participantIDs()
	members := it.members
	if members == nil {
		members = cluster // sealed naming the cluster's participants
	}
	return checkMembers(members, cluster, a.cfg.Node.ID, it.threshold)
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
		if err := a.checkConfiguration(it); err != nil {
			return nil, fmt.Errorf("accounts[%d]: %w", i, err)
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
			return nil, fmt.Errorf("accounts[%d]: %w: %s", i, errAccountExists, key)
		}
		if _, ok := a.staged[key]; ok {
			return nil, fmt.Errorf("accounts[%d]: %w: %s is already staged", i, errAccountExists, key)
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
		members := it.members
		if members == nil {
			members = a.cfg.participantIDs() // the share names its configuration: the cluster's now
		}
		blob, err := a.sealKey.Seal(ctx, it.share, hsm.Binding{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID, Threshold: uint64(it.threshold), CompositeKey: it.composite,
			Members: members, Generation: it.generation})
		if err != nil {
			undo()
			return nil, fmt.Errorf("accounts[%d]: sealing: %w", i, err)
		}
		commit, discard, err := files.StageShare(a.cfg.Accounts.SharesDir, keys[i], blob)
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

// activateAll makes staged accounts signable, many at a time (a
// ceremony's): their shares unsealed together, their slashing protection
// enabled in one commit, their share files placed with one directory
// sync, and only then do they join. Accounts already active are skipped
// (a retried activation). On an error the accounts that joined before it
// stay (the caller's abort removes them) and the others stay staged.
func (a *Appliance) activateAll(ctx context.Context, keys []api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	var todo []api.PublicKey
	var blobs [][]byte
	listed := make(map[api.PublicKey]bool, len(keys))
	for _, key := range keys {
		if listed[key] {
			continue // a key listed twice is activated once
		}
		listed[key] = true
		st, ok := a.staged[key]
		if !ok {
			if _, active := a.accounts.get(key); active {
				continue
			}
			return fmt.Errorf("%w: %s", errNotStaged, key)
		}
		todo = append(todo, key)
		blobs = append(blobs, st.blob)
	}
	if len(todo) == 0 {
		return nil
	}
	set, err := a.sealKey.UnsealAll(ctx, blobs, hsm.Placement{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID})
	if err != nil {
		return fmt.Errorf("unsealing the staged shares: %w", err)
	}
	// The accounts take the keys from here on; each one not handed over
	// is zeroed.
	shares := set.Shares()
	handed := 0
	defer func() {
		for _, sh := range shares[handed:] {
			sh.Key.Zero()
		}
	}()
	pks := make([]protect.PublicKey, len(todo))
	for i, key := range todo {
		if api.PublicKey(shares[i].Info.CompositeKey) != key {
			return fmt.Errorf("the staged share of %s is sealed for another account", key)
		}
		pks[i] = protect.PublicKey(key)
	}
	if err := a.db.Enable(ctx, pks...); err != nil {
		return fmt.Errorf("slashing protection: %w", err)
	}
	dir := a.cfg.Accounts.SharesDir
	for i, key := range todo {
		if err := files.PlaceStaged(dir, key); err != nil {
			a.unplace(todo[:i])
			return err
		}
	}
	if err := files.SyncDir(dir); err != nil {
		a.unplace(todo)
		return fmt.Errorf("syncing the shares directory: %w", err)
	}
	joined := func() {
		a.metrics.accounts.Set(float64(a.accounts.len()))
		a.coord.Invalidate()
	}
	for i, key := range todo {
		if err := a.accounts.add(shares[i], a.cfg.participantIDs(), a.cfg.version1Members()); err != nil {
			handed = i
			a.unplace(todo[i:])
			joined() // those before it did
			return err
		}
		handed = i + 1
		delete(a.staged, key)
	}
	joined()
	if len(todo) == 1 {
		a.log.Info("account activated", "account", todo[0])
	} else {
		a.log.Info("accounts activated", "accounts", len(todo), "first", todo[0])
	}
	return nil
}

// unplace puts the share files of accounts placed by activateAll that
// never joined back under their staged names: they stay staged, a later
// activation can place them again and a discard removes them, and nothing
// that never signed is left under a final name for the next start to load.
func (a *Appliance) unplace(keys []api.PublicKey) {
	dir := a.cfg.Accounts.SharesDir
	for _, k := range keys {
		if err := files.UnplaceStaged(dir, k); err != nil {
			a.log.Error("putting back the share file of an account that did not join failed; delete it before the next start", "account", k, "err", err)
		}
	}
	files.SyncDir(dir)
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

// remove takes an account off this signer (keymanager DELETE, the
// administrative DELETE, an import rolled back, an aborted ceremony) and
// returns its slashing protection history. A staged account is discarded.
// An active one stops signing at once: it is disabled in slashing
// protection first (no permit can be handed out any more), then its share
// is zeroed once signatures in progress finished; its sealed share moves
// to a pending-destruction record, destroyed accounts.destroy_after later
// unless restored (pending.go).
func (a *Appliance) remove(ctx context.Context, key api.PublicKey, x adminapi.Actor) (*protect.Interchange, bool, error) {
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
	if a.coord != nil {
		a.coord.Invalidate()
	}
	if err := a.retireShareFile(key, x); err != nil {
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
		a.log.Warn("account removed: it signs nothing more here; its sealed share is destroyed when due unless restored", "account", key,
			"client", x.Client, "on_behalf_of", x.OnBehalfOf, "destroy_after", a.cfg.Accounts.DestroyAfter.String())
	}
	return ic, found, nil
}

// retireShareFile moves key's share file, if any, into a pending-
// destruction record: the record is durable before the share file goes.
// a.life held.
func (a *Appliance) retireShareFile(key api.PublicKey, x adminapi.Actor) error {
	dir := a.cfg.Accounts.SharesDir
	path := filepath.Join(dir, files.ShareName(key))
	blob, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if _, held := a.pending.holding(key, blob); !held {
		if _, err := a.pending.add(key, blob, x, a.now(), a.cfg.Accounts.DestroyAfter); err != nil {
			return err
		}
		a.pendingChanged()
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return files.SyncDir(dir)
}

// restore brings back a removed account whose share is still pending
// destruction here: its share file returns, it is unsealed and enabled in
// slashing protection again. It is safe only if the key signed nowhere
// else meanwhile (its history here would lack those signatures).
func (a *Appliance) restore(ctx context.Context, key api.PublicKey) error {
	a.life.Lock()
	defer a.life.Unlock()
	a.destroyDueLocked()
	recs := a.pending.of(key)
	if len(recs) == 0 {
		return fmt.Errorf("%w: %s (never removed here, or destroyed when due)", adminapi.ErrNotPending, key)
	}
	if _, ok := a.accounts.get(key); ok {
		return fmt.Errorf("%w: %s is active here (imported again since its removal?)", errAccountExists, key)
	}
	if _, ok := a.staged[key]; ok {
		return fmt.Errorf("%w: %s is staged here by an import or ceremony in progress", errAccountExists, key)
	}
	name := recs[0].ID + files.PendingExt
	rec, err := a.pending.read(name)
	if err != nil {
		return fmt.Errorf("pending destruction %s: %w", recs[0].ID, err)
	}
	sh, err := a.sealKey.Unseal(ctx, rec.Share, hsm.Placement{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID})
	if err != nil {
		return fmt.Errorf("unsealing the removed share: %w", err)
	}
	if api.PublicKey(sh.Info.CompositeKey) != key {
		sh.Key.Zero()
		return fmt.Errorf("pending destruction %s holds the share of another account", recs[0].ID)
	}
	// The share file first, then slashing protection: a crash in between
	// leaves a disabled key beside its file, which the next start takes
	// for an interrupted removal (reconcileRemovals).
	commit, discard, err := files.StageShare(a.cfg.Accounts.SharesDir, key, rec.Share)
	if err != nil {
		sh.Key.Zero()
		return err
	}
	if err := commit(); err != nil {
		discard()
		sh.Key.Zero()
		return err
	}
	undo := func() {
		os.Remove(filepath.Join(a.cfg.Accounts.SharesDir, files.ShareName(key)))
		files.SyncDir(a.cfg.Accounts.SharesDir)
		sh.Key.Zero()
	}
	if err := a.db.Enable(ctx, protect.PublicKey(key)); err != nil {
		undo()
		return fmt.Errorf("slashing protection: %w", err)
	}
	if err := a.accounts.add(sh, a.cfg.participantIDs(), a.cfg.version1Members()); err != nil {
		a.db.Disable(context.WithoutCancel(ctx), protect.PublicKey(key))
		undo()
		return err
	}
	if err := a.pending.drop(name); err != nil {
		a.log.Error("account restored, but its pending-destruction record could not be deleted; it is deleted at the next start", "account", key, "err", err)
	}
	a.pendingChanged()
	a.metrics.accounts.Set(float64(a.accounts.len()))
	if a.coord != nil {
		a.coord.Invalidate()
	}
	a.log.Warn("account restored: it signs again here", "account", key, "removed_at", rec.RemovedAt, "removed_by", rec.Client, "on_behalf_of", rec.OnBehalfOf)
	return nil
}

// destroyDueLocked destroys every removed share whose grace period is
// over. It reports whether every due share was destroyed. a.life held.
func (a *Appliance) destroyDueLocked() bool {
	ok := true
	for _, pd := range a.pending.due(a.now()) {
		if err := a.pending.drop(pd.ID + files.PendingExt); err != nil {
			a.log.Error("destroying a removed share failed; retrying later", "account", pd.PublicKey, "err", err)
			ok = false
			continue
		}
		a.log.Warn("removed share destroyed: its grace period is over", "account", pd.PublicKey, "removed_at", pd.RemovedAt,
			"removed_by", pd.Client, "on_behalf_of", pd.OnBehalfOf)
	}
	a.pendingChanged()
	return ok
}

// reconcileRemovals finishes at start-up what a crash interrupted, before
// anything signs: an account whose key slashing protection disabled was
// being removed (its share file goes to a pending record, if not there
// yet), and a pending record whose account is enabled with the same share
// file was being restored (the record goes). Then due shares are
// destroyed.
func (a *Appliance) reconcileRemovals(ctx context.Context) error {
	a.life.Lock()
	defer a.life.Unlock()
	dir := a.cfg.Accounts.SharesDir
	withRecord := map[api.PublicKey]bool{}
	for _, pd := range a.pending.list() {
		withRecord[pd.PublicKey] = true
	}
	for _, key := range a.accounts.keys() {
		path := filepath.Join(dir, files.ShareName(key))
		if !a.db.Disabled(protect.PublicKey(key)) {
			if !withRecord[key] {
				continue
			}
			blob, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("share file %s: %w", path, err)
			}
			if name, ok := a.pending.holding(key, blob); ok {
				if err := a.pending.drop(name); err != nil {
					return err
				}
				a.log.Warn("finished restoring an account that a restart interrupted", "account", key)
			}
			continue
		}
		if fileExists(a.suspendedPath(key)) {
			// Suspended by a redistribution that leaves this signer out,
			// not removed: the ceremony (loaded next) finishes or undoes it.
			continue
		}
		a.accounts.remove(key)
		if err := a.retireShareFile(key, adminapi.SystemActor("finishing a removal interrupted by a restart")); err != nil {
			return fmt.Errorf("finishing the removal of %s: %w", key, err)
		}
		a.log.Warn("finished removing an account that a restart interrupted: it stays removed", "account", key)
	}
	a.metrics.accounts.Set(float64(a.accounts.len()))
	a.destroyDueLocked()
	return nil
}

// destroyerIdle is how long the destroyer sleeps with nothing due; a new
// record wakes it earlier.
const destroyerIdle = time.Hour

// runDestroyer destroys removed shares when they fall due, until ctx ends.
// It runs on the injected clock (Options.Now and Options.After).
func (a *Appliance) runDestroyer(ctx context.Context) {
	for {
		a.life.Lock()
		ok := a.destroyDueLocked()
		next, any := a.pending.next()
		a.life.Unlock()
		wait := destroyerIdle
		if any {
			wait = min(max(next.Sub(a.now()), 0), destroyerIdle)
		}
		if !ok {
			wait = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-a.opts.After(wait):
		case <-a.pending.wake:
		}
	}
}

// pendingChanged updates what shows the pending destructions.
func (a *Appliance) pendingChanged() {
	n := a.pending.len()
	a.metrics.pending.Set(float64(n))
	detail := map[string]any{"count": n}
	if next, ok := a.pending.next(); ok {
		detail["next_due"] = next
	}
	a.health.detail("accounts_pending_destruction", detail)
}

// prove signs the proof-of-possession message with this signer's share of
// each key, staged or active: the administrative check of an import.
func (a *Appliance) prove(ctx context.Context, keys []api.PublicKey) ([]*bls.Signature, error) {
	root := adminapi.ProofSigningRoot(a.net)
	a.life.Lock()
	defer a.life.Unlock()
	out := make([]*bls.Signature, len(keys))
	for i, key := range keys {
		if acc, ok := a.accounts.get(key); ok {
			sig, err := acc.sign(root)
			if err != nil {
				return nil, fmt.Errorf("keys[%d]: %w", i, err)
			}
			out[i] = sig
			continue
		}
		st, ok := a.staged[key]
		if !ok {
			return nil, fmt.Errorf("keys[%d]: %w: %s is neither staged nor active here", i, errNotStaged, key)
		}
		sh, err := a.sealKey.Unseal(ctx, st.blob, hsm.Placement{ClusterID: a.cfg.ClusterID(), Participant: a.cfg.Node.ID})
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: unsealing the staged share: %w", i, err)
		}
		out[i] = sh.Key.Sign(root)
		sh.Key.Zero()
	}
	return out, nil
}

// removeStaleStaged deletes staged shares a crash left behind: their
// activation never happened, so they must never sign (a refreshed share
// not yet renamed into place included: refresh.go).
func removeStaleStaged(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), files.StagedExt) || strings.HasSuffix(e.Name(), files.NextExt) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return removed, err
			}
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}
