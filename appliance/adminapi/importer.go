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

// AccountHolder says which accounts a participant holds: *Client (POST
// /rampart/v1/accounts/held) and a signer's own administrator implement
// it.
type AccountHolder interface {
	// Held returns AccountActive, AccountStaged or AccountAbsent for each
	// key, in order.
	Held(ctx context.Context, keys []api.PublicKey) ([]string, error)
}

// ErrAccountConflict is returned when the cluster holds an account under
// a key being imported whose shares do not prove that key's secret: a
// different share under the same key.
var ErrAccountConflict = errors.New("the cluster holds this key with shares that do not prove the key being imported")

// ErrAccountIncomplete is returned when some participants hold an
// account being imported and others do not: its missing shares cannot be
// made without the others'.
var ErrAccountIncomplete = errors.New("held by some participants only")

// ImportOutcome says what ImportResumable did with each key.
type ImportOutcome struct {
	// Imported were new to the cluster and are now active everywhere.
	Imported []api.PublicKey
	// Present were active at every participant already, their shares
	// proven to be of the key given: skipped.
	Present []api.PublicKey
	// Completed were held everywhere, active at some participants and
	// staged at the others (an import interrupted while activating):
	// their shares proven, they were activated where staged.
	Completed []api.PublicKey
}

// ImportResumable is Import for keys some of which the cluster may hold
// already, as after an interrupted import. Every participant (each must be
// an AccountHolder) says which keys it holds; then, per key:
//
//   - held by none: imported as by Import, all or none of these;
//   - held by every participant (active or staged): every participant
//     proves its share (partial signatures of ProofSigningRoot), and every
//     threshold-sized choice of them must recover the signature of the
//     secret given, so the shares are one sharing of that secret; staged
//     shares are then activated. Otherwise ErrAccountConflict names the key;
//   - held by some only: ErrAccountIncomplete names the key and who holds
//     it.
//
// A conflict or an incomplete account fails the call before anything is
// staged or activated.
func (im *Importer) ImportResumable(ctx context.Context, keys []ImportKey) (*ImportOutcome, error) {
	if len(keys) == 0 {
		return nil, errors.New("import: no keys")
	}
	pubs := make([]api.PublicKey, len(keys))
	for k, key := range keys {
		pubs[k] = api.PublicKey(key.Secret.PublicKey().Bytes())
	}
	states := make(map[tss.ID][]string, len(im.Admins))
	var mu sync.Mutex
	err := im.each(func(a AccountAdmin) error {
		h, ok := a.(AccountHolder)
		if !ok {
			return errors.New("cannot say which accounts it holds")
		}
		st, err := h.Held(ctx, pubs)
		if err != nil {
			return err
		}
		if len(st) != len(pubs) {
			return fmt.Errorf("%d states for %d accounts", len(st), len(pubs))
		}
		mu.Lock()
		states[a.ID()] = st
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import: which accounts are held: %w", err)
	}
	var (
		fresh        []ImportKey
		held         []int
		out          ImportOutcome
		activateAt   = map[tss.ID][]api.PublicKey{}
		staged       = map[int]bool{}
		failures     []error
		holders, not []string
	)
	for k := range keys {
		holders, not = holders[:0], not[:0]
		for _, a := range im.Admins {
			switch s := states[a.ID()][k]; s {
			case AccountAbsent:
				not = append(not, a.ID().String())
			case AccountActive, AccountStaged:
				holders = append(holders, fmt.Sprintf("%s (%s)", a.ID(), s))
				if s == AccountStaged {
					activateAt[a.ID()] = append(activateAt[a.ID()], pubs[k])
					staged[k] = true
				}
			default:
				return nil, fmt.Errorf("import: participant %s: unknown account state %q", a.ID(), s)
			}
		}
		switch {
		case len(holders) == 0:
			fresh = append(fresh, keys[k])
		case len(not) == 0:
			held = append(held, k)
		default:
			failures = append(failures, fmt.Errorf("%w: %s is held by participants %v but not by %v: remove it where it is held (keymanager DELETE /eth/v1/keystores keeps its history), then import it again", ErrAccountIncomplete, pubs[k], holders, not))
		}
	}
	if len(held) > 0 {
		failures = append(failures, im.checkHeld(ctx, keys, pubs, held)...)
	}
	if len(failures) > 0 {
		return nil, fmt.Errorf("import: nothing was imported: %w", errors.Join(failures...))
	}
	if len(activateAt) > 0 {
		err := im.each(func(a AccountAdmin) error {
			if ks := activateAt[a.ID()]; len(ks) > 0 {
				return a.Activate(ctx, ks)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("import: activating the shares an interrupted import staged: %w", err)
		}
	}
	for _, k := range held {
		if staged[k] {
			out.Completed = append(out.Completed, pubs[k])
		} else {
			out.Present = append(out.Present, pubs[k])
		}
	}
	if len(fresh) > 0 {
		if out.Imported, err = im.Import(ctx, fresh); err != nil {
			return &out, err
		}
	}
	return &out, nil
}

// checkHeld proves that the accounts every participant holds are
// sharings of the secrets given: each participant's proof of possession,
// combined with any threshold-1 others, recovers the secret's signature.
func (im *Importer) checkHeld(ctx context.Context, keys []ImportKey, pubs []api.PublicKey, held []int) []error {
	ask := make([]api.PublicKey, len(held))
	for i, k := range held {
		ask[i] = pubs[k]
	}
	proofs := make(map[tss.ID][]api.Signature, len(im.Admins))
	var mu sync.Mutex
	err := im.each(func(a AccountAdmin) error {
		sigs, err := a.Prove(ctx, ask)
		if err != nil {
			return err
		}
		if len(sigs) != len(ask) {
			return fmt.Errorf("%d proofs for %d accounts", len(sigs), len(ask))
		}
		mu.Lock()
		proofs[a.ID()] = sigs
		mu.Unlock()
		return nil
	})
	if err != nil {
		return []error{fmt.Errorf("proof of possession of the accounts held: %w", err)}
	}
	root := ProofSigningRoot(im.Network)
	t := im.Threshold
	var errs []error
	for i, k := range held {
		composite, err := bls.PublicKeyFromBytes(pubs[k][:])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want := keys[k].Secret.Sign(root)
		partials := make([]tss.Partial, 0, len(im.Admins))
		for _, a := range im.Admins {
			sig, err := bls.SignatureFromBytes(proofs[a.ID()][i][:])
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: participant %s's proof: %v", ErrAccountConflict, pubs[k], a.ID(), err))
				break
			}
			// The component key is not needed: exactly t partials are
			// combined and the result checked under the composite key.
			partials = append(partials, tss.Partial{ID: a.ID(), PublicKey: composite, Signature: sig})
		}
		if len(partials) != len(im.Admins) {
			continue
		}
		// The first t, then each further participant with the first t-1.
		for j := t - 1; j < len(partials); j++ {
			set := append(append([]tss.Partial(nil), partials[:t-1]...), partials[j])
			res, err := tss.Recover(root, composite, t, set)
			if err != nil || !res.Signature.Equal(want) {
				errs = append(errs, fmt.Errorf("%w: %s: the share of participant %s (with participants %v) does not recover the key's signature; the account on the cluster is not this key's sharing at threshold %d", ErrAccountConflict, pubs[k], partials[j].ID, ids(partials[:t-1]), t))
				break
			}
		}
	}
	return errs
}

func ids(ps []tss.Partial) []tss.ID {
	out := make([]tss.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}
