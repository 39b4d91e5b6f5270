package appliance

import (
	"context"
	"errors"
	"fmt"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

// A share repair (a resharing ceremony, package ceremony) gives this
// signer, a replaced server under the same participant id, its shares of
// existing accounts again, from the other signers; no key and no other
// share changes. Its slashing protection must cover everything the
// accounts signed anywhere before:
//
//  1. stageRepaired imports every helper's exported history (EIP-3076,
//     with RaiseWatermarks: record by record, any record any helper
//     holds refuses what conflicts with it), then stages the shares as
//     new accounts;
//  2. repairCutover, just before activation, raises the watermarks to an
//     epoch past every signature the helpers can have made since their
//     export (protect.CutoverFloors): no block below its first slot, no
//     attestation with a target below it.
//
// Imports only ever add refusals, so a repair that fails leaves nothing
// unsafe behind.

// cutoverEpoch is the epoch a repaired share's watermarks are raised to,
// given the current one: one past the last the helpers may sign for, the
// current epoch plus slashing.future_epochs (their clock's allowance, the
// same in a cluster), so no signature they made between their export and
// the activation lies at or above it (2 with the default allowance of 1).
func cutoverEpoch(now, futureEpochs uint64) uint64 { return now + futureEpochs + 1 }

// exportHistory is the slashing protection history of keys, as an
// EIP-3076 document.
func (a *Appliance) exportHistory(ctx context.Context, keys []api.PublicKey) ([]byte, error) {
	pks := make([]protect.PublicKey, len(keys))
	for i, k := range keys {
		pks[i] = protect.PublicKey(k)
	}
	ic, err := a.db.Export(ctx, pks...)
	if err != nil {
		return nil, err
	}
	return ic.Marshal()
}

// stageRepaired imports the helpers' histories of the items' keys, then
// stages the repaired shares as new accounts (all or none).
func (a *Appliance) stageRepaired(ctx context.Context, items []stageItem, histories [][]byte) ([]*bls.PublicKey, error) {
	for _, it := range items {
		if _, ok := a.accounts.get(api.PublicKey(it.composite.Bytes())); ok {
			return nil, fmt.Errorf("%w: %s (a repair or a redistribution gives shares to a signer that holds none)", errAccountExists, api.PublicKey(it.composite.Bytes()))
		}
	}
	keys := make([]api.PublicKey, len(items))
	for i, it := range items {
		keys[i] = api.PublicKey(it.composite.Bytes())
	}
	if err := a.importHistories(ctx, keys, histories); err != nil {
		return nil, err
	}
	return a.stageAll(ctx, items)
}

// importHistories imports the other signers' slashing histories of keys
// (EIP-3076 documents, each only about keys), record by record, with
// RaiseWatermarks: whatever any of them signed is refused here.
func (a *Appliance) importHistories(ctx context.Context, keys []api.PublicKey, histories [][]byte) error {
	if len(histories) == 0 {
		return errors.New("a repaired or joining share needs the slashing history of the other signers: none given")
	}
	want := make(map[protect.PublicKey]bool, len(keys))
	for _, k := range keys {
		want[protect.PublicKey(k)] = true
	}
	gvr := protect.Root(a.net.GenesisValidatorsRoot())
	docs := make([]*protect.Interchange, len(histories))
	for i, h := range histories {
		ic, err := protect.ParseInterchange(h)
		if err != nil {
			return fmt.Errorf("history %d: %w", i, err)
		}
		if ic.GenesisValidatorsRoot != gvr {
			return fmt.Errorf("history %d: %w", i, protect.ErrWrongNetwork)
		}
		for j, v := range ic.Data {
			if !want[v.PublicKey] {
				return fmt.Errorf("history %d: data[%d] is for %s, not an account of the ceremony", i, j, api.PublicKey(v.PublicKey))
			}
		}
		docs[i] = ic
	}
	for i, ic := range docs {
		if _, err := a.db.Import(ctx, ic, protect.RaiseWatermarks()); err != nil {
			return fmt.Errorf("importing history %d: %w", i, err)
		}
	}
	return nil
}

// repairCutover raises the watermarks of the repaired keys to
// cutoverEpoch, and returns that epoch.
func (a *Appliance) repairCutover(ctx context.Context, keys []api.PublicKey) (uint64, error) {
	now, ok := a.net.LatestEpochAt(a.now())
	if !ok {
		return 0, errors.New("the network's genesis time is unknown: the cutover epoch of a repair cannot be placed")
	}
	epoch := cutoverEpoch(uint64(now), a.cfg.Slashing.FutureEpochs)
	pks := make([]protect.PublicKey, len(keys))
	for i, k := range keys {
		pks[i] = protect.PublicKey(k)
	}
	floors, err := protect.CutoverFloors(protect.Root(a.net.GenesisValidatorsRoot()), pks, epoch, a.net.Preset().SlotsPerEpoch)
	if err != nil {
		return 0, err
	}
	if _, err := a.db.Import(ctx, floors, protect.RaiseWatermarks()); err != nil {
		return 0, fmt.Errorf("slashing protection floors at epoch %d: %w", epoch, err)
	}
	a.log.Info("repaired accounts: watermarks raised to the cutover", "accounts", len(keys), "cutover_epoch", epoch)
	return epoch, nil
}
