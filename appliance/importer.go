package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// AccountAdmin is one participant's account lifecycle, over HTTPS (*Peer)
// or in process (the signer's own, for the keymanager API).
type AccountAdmin interface {
	ID() tss.ID
	Stage(ctx context.Context, req *StageRequest) ([]api.PublicKey, error)
	Activate(ctx context.Context, keys []api.PublicKey) error
	Discard(ctx context.Context, keys []api.PublicKey) error
	// Remove takes an account off the participant: its slashing
	// protection history (nil if it has none) and whether it held the
	// share.
	Remove(ctx context.Context, key api.PublicKey) (history json.RawMessage, removed bool, err error)
}

// Importer brings existing validator keys into a cluster: each key is split
// t-of-n here, every participant receives its share over mutual TLS, seals
// it in its HSM and imports the key's slashing history before anything can
// sign; only when every participant staged every share are the accounts
// activated, and then a test signature through the cluster must equal the
// original key's. Any failure removes the accounts everywhere. The caller
// zeroes the secret keys when Import returns.
type Importer struct {
	// Admins are every participant of the cluster.
	Admins []AccountAdmin
	// Threshold is t.
	Threshold int
	// Network is the cluster's network (histories and the test message).
	Network *network.Network
	// Coordinator signs the test message through the participants with an
	// identity that may request GENERIC signatures (administrators may).
	Coordinator *coordinator.Coordinator
	// Rand drives the dealer's polynomials.
	Rand io.Reader
}

// ImportKey is one key to import with its history (nil: a key that never
// signed).
type ImportKey struct {
	Secret  *bls.SecretKey
	History *protect.Interchange
}

// ErrImportCheck is returned when the test signature through the cluster
// differs from the original key's.
var ErrImportCheck = errors.New("import check: the cluster's signature differs from the original key's")

// Import imports keys, all or none, and returns their public keys.
func (im *Importer) Import(ctx context.Context, keys []ImportKey) ([]api.PublicKey, error) {
	if len(keys) == 0 {
		return nil, errors.New("import: no keys")
	}
	ids := make([]tss.ID, len(im.Admins))
	for i, a := range im.Admins {
		ids[i] = a.ID()
	}
	if err := tss.CheckIDs(ids); err != nil {
		return nil, err
	}
	if err := tss.CheckThreshold(im.Threshold, len(ids)); err != nil {
		return nil, err
	}
	pubs := make([]api.PublicKey, len(keys))
	reqs := make(map[tss.ID]*StageRequest, len(ids))
	want := make(map[tss.ID][]api.PublicKey, len(ids))
	for _, id := range ids {
		reqs[id] = &StageRequest{}
	}
	defer func() {
		for _, r := range reqs {
			for i := range r.Accounts {
				clear(r.Accounts[i].Share[:])
			}
		}
	}()
	seen := map[api.PublicKey]bool{}
	for k, key := range keys {
		pub := key.Secret.PublicKey()
		pubs[k] = api.PublicKey(pub.Bytes())
		if seen[pubs[k]] {
			return nil, fmt.Errorf("import: key %s given twice", pubs[k])
		}
		seen[pubs[k]] = true
		var history json.RawMessage
		if key.History != nil {
			if key.History.GenesisValidatorsRoot != protect.Root(im.Network.GenesisValidatorsRoot()) {
				return nil, fmt.Errorf("import: history of %s: %w", pubs[k], protect.ErrWrongNetwork)
			}
			b, err := key.History.Marshal()
			if err != nil {
				return nil, err
			}
			history = b
		}
		d, err := tss.Split(im.Rand, key.Secret, im.Threshold, ids)
		if err != nil {
			return nil, err
		}
		for i, sh := range d.Shares {
			raw := sh.Bytes()
			reqs[sh.ID()].Accounts = append(reqs[sh.ID()].Accounts, StageItem{
				CompositePublicKey: pubs[k], Threshold: api.Uint64(im.Threshold), Share: secretHex(raw), SlashingProtection: history,
			})
			clear(raw[:])
			want[sh.ID()] = append(want[sh.ID()], api.PublicKey(d.Account.Components[i].PublicKey.Bytes()))
		}
		d.Zero()
	}

	// Stage everywhere.
	err := im.each(func(a AccountAdmin) error {
		got, err := a.Stage(ctx, reqs[a.ID()])
		if err != nil {
			return err
		}
		for i, c := range got {
			if c != want[a.ID()][i] {
				return fmt.Errorf("staged share of %s has component key %s, want %s", pubs[i], c, want[a.ID()][i])
			}
		}
		return nil
	})
	if err != nil {
		im.each(func(a AccountAdmin) error { return a.Discard(context.WithoutCancel(ctx), pubs) })
		return nil, fmt.Errorf("import: staging: %w", err)
	}
	// Activate everywhere; on failure, take the accounts off everywhere.
	if err := im.each(func(a AccountAdmin) error { return a.Activate(ctx, pubs) }); err != nil {
		im.rollback(ctx, pubs)
		return nil, fmt.Errorf("import: activating: %w", err)
	}
	if err := im.check(ctx, keys, pubs); err != nil {
		im.rollback(ctx, pubs)
		return nil, err
	}
	return pubs, nil
}

// check signs a test message through the cluster and compares each
// signature with the original key's.
func (im *Importer) check(ctx context.Context, keys []ImportKey, pubs []api.PublicKey) error {
	if err := im.Coordinator.Refresh(ctx); err != nil {
		return fmt.Errorf("import check: discovery: %w", err)
	}
	objectRoot := sha256.Sum256([]byte("rampart import check v1"))
	domain := signing.ComputeDomain([4]byte{'r', 'a', 'm', 'p'}, im.Network.GenesisForkVersion(), im.Network.GenesisValidatorsRoot())
	req, err := json.Marshal(map[string]any{"type": "GENERIC", "signing_data": map[string]any{"object_root": api.Root(objectRoot), "domain": api.Root(domain)}})
	if err != nil {
		return err
	}
	root := signing.ComputeSigningRoot(objectRoot, domain)
	for i, r := range im.Coordinator.SignBatch(ctx, pubs, root, req) {
		if r.Err != nil {
			return fmt.Errorf("import check of %s: %w", pubs[i], r.Err)
		}
		if !r.Signature.Equal(keys[i].Secret.Sign(root)) {
			return fmt.Errorf("%w (%s)", ErrImportCheck, pubs[i])
		}
	}
	return nil
}

func (im *Importer) rollback(ctx context.Context, pubs []api.PublicKey) {
	ctx = context.WithoutCancel(ctx)
	im.each(func(a AccountAdmin) error {
		var errs []error
		for _, k := range pubs {
			if _, _, err := a.Remove(ctx, k); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// each runs f for every participant at once and joins the errors, each
// naming its participant.
func (im *Importer) each(f func(AccountAdmin) error) error {
	errs := make([]error, len(im.Admins))
	var wg sync.WaitGroup
	for i, a := range im.Admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(a); err != nil {
				errs[i] = fmt.Errorf("participant %s: %w", a.ID(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
