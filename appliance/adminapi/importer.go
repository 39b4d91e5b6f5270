package adminapi

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
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// AccountAdmin is one participant's account lifecycle, over mutual TLS
// (*Client) or in process (a signer's own, for its keymanager API).
type AccountAdmin interface {
	ID() tss.ID
	Stage(ctx context.Context, req *StageRequest) ([]api.PublicKey, error)
	// Prove returns the participant's partial signature of
	// ProofSigningRoot with its share of each key (staged or active), in
	// order: the administrative proof that it holds the share.
	Prove(ctx context.Context, keys []api.PublicKey) ([]api.Signature, error)
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
// sign; every participant then proves it holds its staged share (a partial
// signature of ProofSigningRoot, an administrative request that grants no
// signing type), the proofs must recover the original key's signature,
// and only then are the accounts activated everywhere. Any failure
// removes the accounts everywhere. The caller zeroes the secret keys when
// Import returns.
type Importer struct {
	// Admins are every participant of the cluster.
	Admins []AccountAdmin
	// Threshold is t.
	Threshold int
	// Network is the cluster's network (histories and the proof message).
	Network *network.Network
	// Rand drives the dealer's polynomials.
	Rand io.Reader
}

// ImportKey is one key to import with its history (nil: a key that never
// signed).
type ImportKey struct {
	Secret  *bls.SecretKey
	History *protect.Interchange
}

// ErrImportCheck is returned when a participant's proof of possession does
// not verify under its share's component key, or the proofs do not
// recover the original key's signature.
var ErrImportCheck = errors.New("import check: the cluster's proof of possession differs from the original key's signature")

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
			r.Zero()
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
				CompositePublicKey: pubs[k], Threshold: api.Uint64(im.Threshold), Share: SecretHex(raw), SlashingProtection: history,
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
	// Every participant proves its staged shares before anything can sign.
	if err := im.check(ctx, keys, pubs, want); err != nil {
		im.each(func(a AccountAdmin) error { return a.Discard(context.WithoutCancel(ctx), pubs) })
		return nil, err
	}
	// Activate everywhere; on failure, take the accounts off everywhere.
	if err := im.each(func(a AccountAdmin) error { return a.Activate(ctx, pubs) }); err != nil {
		im.rollback(ctx, pubs)
		return nil, fmt.Errorf("import: activating: %w", err)
	}
	return pubs, nil
}

// check asks every participant for its proof of possession of each staged
// share: each partial must verify under the component key the split gave
// that participant, and the first t of them must recover the original
// key's signature of the same message.
func (im *Importer) check(ctx context.Context, keys []ImportKey, pubs []api.PublicKey, want map[tss.ID][]api.PublicKey) error {
	root := ProofSigningRoot(im.Network)
	proofs := make(map[tss.ID][]api.Signature, len(im.Admins))
	var mu sync.Mutex
	err := im.each(func(a AccountAdmin) error {
		sigs, err := a.Prove(ctx, pubs)
		if err != nil {
			return err
		}
		if len(sigs) != len(pubs) {
			return fmt.Errorf("%d proofs for %d accounts", len(sigs), len(pubs))
		}
		mu.Lock()
		proofs[a.ID()] = sigs
		mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("import check: proof of possession: %w", err)
	}
	for k, pub := range pubs {
		composite, err := bls.PublicKeyFromBytes(pub[:])
		if err != nil {
			return err
		}
		var partials []tss.Partial
		for _, a := range im.Admins {
			id := a.ID()
			component, err := bls.PublicKeyFromBytes(want[id][k][:])
			if err != nil {
				return err
			}
			sig, err := bls.SignatureFromBytes(proofs[id][k][:])
			if err != nil || !component.Verify(root, sig) {
				return fmt.Errorf("%w: participant %s's proof for %s does not verify under its share's key", ErrImportCheck, id, pub)
			}
			partials = append(partials, tss.Partial{ID: id, PublicKey: component, Signature: sig})
		}
		res, err := tss.Recover(root, composite, im.Threshold, partials[:im.Threshold])
		if err != nil || !res.Signature.Equal(keys[k].Secret.Sign(root)) {
			return fmt.Errorf("%w (%s): %v", ErrImportCheck, pub, err)
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

// HistoryOf extracts one key's part of an interchange document.
func HistoryOf(ic *protect.Interchange, key api.PublicKey) *protect.Interchange {
	if ic == nil {
		return nil
	}
	out := &protect.Interchange{GenesisValidatorsRoot: ic.GenesisValidatorsRoot}
	for _, v := range ic.Data {
		if api.PublicKey(v.PublicKey) == key {
			out.Data = append(out.Data, v)
		}
	}
	if len(out.Data) == 0 {
		return nil
	}
	return out
}

// ProofSigningRoot is the one message of the administrative proof of
// possession on network n: a fixed object root in Rampart's private
// domain ([signing.DomainRampartProof]), which no GENERIC request may use.
func ProofSigningRoot(n *network.Network) [32]byte {
	objectRoot := sha256.Sum256([]byte("rampart proof of possession v1"))
	domain := signing.ComputeDomain(signing.DomainRampartProof, n.GenesisForkVersion(), n.GenesisValidatorsRoot())
	return signing.ComputeSigningRoot(objectRoot, domain)
}
