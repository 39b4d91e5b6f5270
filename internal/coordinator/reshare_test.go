package coordinator_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/tss"
)

// reshare gives the participants at idx new shares of account k (a fresh
// sharing of the same key at the same threshold, as a refresh makes): their
// partials and component keys change, the composite key does not.
func (c *cluster) reshare(t testing.TB, k, threshold int, idx ...int) {
	t.Helper()
	ids := make([]tss.ID, len(c.fakes))
	for i, f := range c.fakes {
		ids[i] = f.id
	}
	d, err := tss.Split(rand.Reader, c.sks[k], threshold, ids)
	if err != nil {
		t.Fatal(err)
	}
	key := c.keys[k]
	for _, i := range idx {
		f := c.fakes[i]
		f.mu.Lock()
		f.shares[key] = d.Shares[i]
		a := f.view[key]
		a.PublicKey = d.Shares[i].PublicKey().Bytes()
		f.view[key] = a
		f.mu.Unlock()
	}
}

// After a refresh every participant's component key changed together: the
// coordinator, still holding the old keys, finds the partials invalid,
// discovers the new keys at once (they lie on one polynomial through the
// composite key) and signs, in the same request.
func TestSignAfterARefreshDiscoversTheNewKeys(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	c.reshare(t, 0, 3, 0, 1, 2, 3, 4)
	root := [32]byte{7}
	sig, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
	if err != nil {
		t.Fatalf("signing after a refresh: %v", err)
	}
	if !c.pubs[0].Verify(root, sig) {
		t.Fatal("signature does not verify under the unchanged validator key")
	}
	info, _ := c.coord.Account(c.keys[0])
	if len(info.Known) != 5 {
		t.Fatalf("after the refresh the coordinator knows %d component keys, want 5", len(info.Known))
	}
}

// Attack (or a cutover in progress): partials of old and new shares are
// points of different polynomials. The coordinator verifies every partial
// against the component key it knows and every recovered signature against
// the composite key, so a mixed set is never released as a signature: the
// request falls short instead.
func TestSignNeverReleasesAMixedSetOfOldAndNewPartials(t *testing.T) {
	for _, tc := range []struct {
		name    string
		renewed []int // participants with new shares
		down    []int
	}{
		{"two new partials and one old", []int{0, 1}, []int{3, 4}},
		{"one new partial and two old", []int{0}, []int{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, 5, 1, testConfig())
			c.reshare(t, 0, 3, tc.renewed...)
			for _, i := range tc.down {
				c.fakes[i].set(down)
			}
			root := [32]byte{9}
			sig, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
			var short *coordinator.ShortfallError
			if sig != nil || !errors.As(err, &short) {
				t.Fatalf("got signature %v, error %v; want no signature and a shortfall", sig, err)
			}
			if short.Code() != 503 {
				t.Fatalf("code %d, want 503: %v", short.Code(), err)
			}
		})
	}
}

// Attack: one participant announces another component key on its own. Its
// key does not fit the others', so it is excluded from the account, as
// before resharing existed; the others keep signing.
func TestDiscoveryExcludesAParticipantThatChangesItsKeyAlone(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	c.reshare(t, 0, 3, 1)
	if err := c.coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, ok := c.coord.Account(c.keys[0])
	if !ok || len(info.Known) != 4 || slices.Contains(info.Known, 2) {
		t.Fatalf("account view %+v: want participant 2 excluded", info)
	}
	root := [32]byte{3}
	sig, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
	if err != nil || !c.pubs[0].Verify(root, sig) {
		t.Fatalf("the others no longer sign: %v", err)
	}
}
