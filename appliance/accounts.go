package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// ShareFileExt is the extension of sealed share files in the shares
// directory (accounts.shares_dir), one per account, which the signer
// unseals at start-up; other files are ignored.
const ShareFileExt = files.ShareExt

// account is one validator this signer holds a share of.
type account struct {
	key       api.PublicKey
	composite *bls.PublicKey
	component *bls.PublicKey
	threshold int
	// members are the participants holding the account's shares,
	// ascending (for a share sealed in version 1, accounts.
	// version1_members); generation counts the redistributions that made
	// this configuration.
	members    []uint64
	generation uint64

	// mu guards share: signing holds it for reading, removal for writing,
	// so that once remove returns no signature can be made with the share.
	mu      sync.RWMutex
	share   *bls.SecretKey
	removed bool
}

// errRemoved is returned for an account removed while a request used it.
var errRemoved = errors.New("account removed from this signer")

// sign signs root with the share.
func (a *account) sign(root [32]byte) (*bls.Signature, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.removed {
		return nil, errRemoved
	}
	return a.share.Sign(root), nil
}

// errWrongPermit is returned for a slashing permit of another key than
// the account's: a permit is spent only by the account it was given for.
var errWrongPermit = errors.New("slashing protection permit is for another account")

// signPermitted signs the root a slashing permit allows, once it checked
// that the permit is for this account's key.
func (a *account) signPermitted(p protect.Permit) (*bls.Signature, error) {
	if p.Key() != protect.PublicKey(a.key) {
		return nil, fmt.Errorf("%w: permit for %x, account %s", errWrongPermit, p.Key(), a.key)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.removed {
		return nil, errRemoved
	}
	return p.Sign(a.share)
}

// remove zeroes the share after every signature in progress finished.
func (a *account) remove() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.removed = true
	a.share.Zero()
}

// accounts is the set of unsealed shares. It owns the ShareSet and zeroes
// it on Close.
type accounts struct {
	mu     sync.RWMutex
	byKey  map[api.PublicKey]*account
	shares []*hsm.ShareSet
}

func (a *accounts) get(key api.PublicKey) (*account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	acc, ok := a.byKey[key]
	return acc, ok
}

// keys returns every account key, sorted.
func (a *accounts) keys() []api.PublicKey {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]api.PublicKey, 0, len(a.byKey))
	for k := range a.byKey {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

// maxThreshold is the highest threshold of the accounts, 0 with none.
func (a *accounts) maxThreshold() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	t := 0
	for _, acc := range a.byKey {
		t = max(t, acc.threshold)
	}
	return t
}

func (a *accounts) len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.byKey)
}

// remove takes an account out and zeroes its share; it reports whether
// the account was there.
func (a *accounts) remove(key api.PublicKey) bool {
	a.mu.Lock()
	acc, ok := a.byKey[key]
	delete(a.byKey, key)
	a.mu.Unlock()
	if ok {
		acc.remove()
	}
	return ok
}

// Close zeroes every share.
func (a *accounts) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, acc := range a.byKey {
		acc.remove()
	}
	var first error
	for _, s := range a.shares {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	a.shares = nil
	a.byKey = map[api.PublicKey]*account{}
	return first
}

// readShareFiles reads every *.share file of dir, sorted by name.
func readShareFiles(dir string) ([]string, [][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("shares directory: %w", err)
	}
	var names []string
	var blobs [][]byte
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ShareFileExt) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("share file %s: %w", e.Name(), err)
		}
		names = append(names, e.Name())
		blobs = append(blobs, b)
	}
	return names, blobs, nil
}

// loadAccounts unseals every share of the shares directory in one bulk
// call and checks each against the cluster: placement (cluster id and
// participant id, checked by hsm before the HSM sees the blob), a threshold
// allowed for the account's members (the cluster's, or those its share
// names, all of them in the cluster), and no composite key twice.
func loadAccounts(ctx context.Context, key *hsm.SealingKey, dir string, place hsm.Placement, cluster, version1 []uint64) (*accounts, error) {
	names, blobs, err := readShareFiles(dir)
	if err != nil {
		return nil, err
	}
	accs := &accounts{byKey: map[api.PublicKey]*account{}}
	if len(blobs) == 0 {
		return accs, nil
	}
	set, err := key.UnsealAll(ctx, blobs, place)
	if err != nil {
		return nil, describeUnsealError(err, names)
	}
	accs.shares = append(accs.shares, set)
	for i, sh := range set.Shares() {
		if err := accs.add(sh, cluster, version1); err != nil {
			accs.Close()
			return nil, fmt.Errorf("share file %s: %w", names[i], err)
		}
	}
	return accs, nil
}

// add registers one unsealed share of a cluster whose participants are
// cluster; a share naming no members belongs to version1.
func (a *accounts) add(sh hsm.Share, cluster, version1 []uint64) error {
	acc, err := newAccount(sh, cluster, version1)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.byKey[acc.key]; dup {
		return fmt.Errorf("a second share for account %s", acc.key)
	}
	a.byKey[acc.key] = acc
	return nil
}

// replace puts a refreshed share of an account in place of the current
// one, whose share is zeroed once signatures in progress finished (a
// request holding the old account then fails with errRemoved).
func (a *accounts) replace(sh hsm.Share, cluster, version1 []uint64) error {
	acc, err := newAccount(sh, cluster, version1)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old, ok := a.byKey[acc.key]
	if ok {
		a.byKey[acc.key] = acc
	}
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("account %s is not held here", acc.key)
	}
	old.remove()
	return nil
}

func newAccount(sh hsm.Share, cluster, version1 []uint64) (*account, error) {
	composite, err := sh.Info.CompositePublicKey()
	if err != nil {
		return nil, err
	}
	component, err := sh.Info.ComponentPublicKey()
	if err != nil {
		return nil, err
	}
	t := int(sh.Info.Threshold)
	members := sh.Info.Members
	if members == nil {
		// Sealed before shares named their configuration: the members
		// are accounts.version1_members (default: the cluster's).
		members = version1
		if err := checkMembers(members, cluster, sh.Info.Participant, t); err != nil {
			return nil, fmt.Errorf("the share names no members, so they are accounts.version1_members %v (default every cluster participant; if participants were added since the share was made, list the earlier ones there): %w", members, err)
		}
	} else if err := checkMembers(members, cluster, sh.Info.Participant, t); err != nil {
		return nil, fmt.Errorf("the share belongs to the configuration of participants %v: %w; add the missing participants to cluster.participants, or remove the account", members, err)
	}
	k := api.PublicKey(composite.Bytes())
	return &account{key: k, composite: composite, component: component, threshold: t, members: members, generation: sh.Info.Generation, share: sh.Key}, nil
}

// size is the number of the account's members.
func (a *account) size() int {
	return len(a.members)
}

// describeUnsealError names the files behind an hsm.UnsealError.
func describeUnsealError(err error, names []string) error {
	ue, ok := err.(*hsm.UnsealError)
	if !ok {
		return fmt.Errorf("unsealing shares: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "unsealing shares: %d of %d refused:", len(ue.Failed), ue.Total)
	for i, f := range ue.Failed {
		if i == 5 {
			fmt.Fprintf(&b, " ... and %d more", len(ue.Failed)-5)
			break
		}
		name := "?"
		if f.Index >= 0 && f.Index < len(names) {
			name = names[f.Index]
		}
		fmt.Fprintf(&b, " %s: %v;", name, f.Err)
	}
	return fmt.Errorf("%s %w", b.String(), err)
}

// checkMembers checks an account's configuration against the cluster:
// every member is a participant, this signer (self) among them, and the
// threshold t is a strict majority of the members. Loading a share and
// staging one both check it here.
func checkMembers(members, cluster []uint64, self uint64, t int) error {
	for _, id := range members {
		if !slices.Contains(cluster, id) {
			return fmt.Errorf("participant %d is not in cluster.participants", id)
		}
	}
	if !slices.Contains(members, self) {
		return fmt.Errorf("this signer (%d) is not among the members %v", self, members)
	}
	if err := tss.CheckThreshold(t, len(members)); err != nil {
		return fmt.Errorf("threshold %d for %d members: %w", t, len(members), err)
	}
	return nil
}
