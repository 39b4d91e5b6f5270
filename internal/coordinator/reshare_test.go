package coordinator_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
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

// configuration deals account k anew, threshold-of-members (indexes into
// the fakes), and returns what makes the fakes at idx advertise the new
// configuration with their new shares: the others still advertise the old
// one, as during a redistribution's cutover.
func (c *cluster) configuration(t testing.TB, k, threshold int, members []int) func(idx ...int) {
	t.Helper()
	ids := make([]tss.ID, len(members))
	var parts []api.Participant
	for i, m := range members {
		ids[i] = c.fakes[m].id
		parts = append(parts, api.Participant{ID: api.Uint64(ids[i]), Endpoint: fmt.Sprintf("https://signer-%d:9100", ids[i])})
	}
	d, err := tss.Split(rand.Reader, c.sks[k], threshold, ids)
	if err != nil {
		t.Fatal(err)
	}
	key := c.keys[k]
	return func(idx ...int) {
		for _, i := range idx {
			at := slices.Index(members, i)
			f := c.fakes[i]
			f.mu.Lock()
			f.shares[key] = d.Shares[at]
			f.view[key] = api.Account{ParticipantID: api.Uint64(f.id), PublicKey: d.Shares[at].PublicKey().Bytes(), CompositePublicKey: key,
				SigningThreshold: api.Uint64(threshold), Participants: parts}
			f.mu.Unlock()
		}
	}
}

// During a redistribution's cutover (3-of-5 to 3-of-4, participant 5
// leaving) the members advertise two configurations. The coordinator keeps
// the current one until a quorum of its members (3) advertise the new one,
// then follows it; a participant advertising a configuration of its own
// making alone moves nothing.
func TestDiscoveryFollowsANewConfigurationItsQuorumAdvertises(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	ctx := context.Background()
	sign := func(what string, root byte) {
		t.Helper()
		r := [32]byte{root}
		sig, err := c.coord.Sign(ctx, c.keys[0], r, request(r))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !c.pubs[0].Verify(r, sig) {
			t.Fatalf("%s: signature does not verify", what)
		}
	}
	shape := func(what string, threshold, members int) {
		t.Helper()
		if err := c.coord.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		info, ok := c.coord.Account(c.keys[0])
		if !ok {
			t.Fatalf("%s: account dropped", what)
		}
		if info.Threshold != threshold || len(info.Members) != members {
			t.Fatalf("%s: %d-of-%d, want %d-of-%d", what, info.Threshold, len(info.Members), threshold, members)
		}
	}

	// Participant 5 alone claims the account is 1-of-1, its own.
	f5 := c.fakes[4]
	f5.mu.Lock()
	view, share := f5.view[c.keys[0]], f5.shares[c.keys[0]]
	f5.mu.Unlock()
	c.configuration(t, 0, 1, []int{4})(4)
	shape("a lone participant's configuration", 3, 5)
	f5.mu.Lock()
	f5.view[c.keys[0]], f5.shares[c.keys[0]] = view, share // back in line
	f5.mu.Unlock()

	advertise := c.configuration(t, 0, 3, []int{0, 1, 2, 3})
	advertise(0, 1)
	shape("two of five advertise the new configuration", 3, 5)
	c.fakes[0].set(down)
	c.fakes[1].set(down)
	sign("the old configuration's partials (3, 4, 5)", 1)
	c.fakes[0].set(honest)
	c.fakes[1].set(honest)

	advertise(2)
	shape("three of five advertise it", 3, 4)
	c.fakes[3].set(down) // still on the old shares
	sign("the new configuration's partials (1, 2, 3)", 2)

	// A coordinator started now sees two configurations and nothing to
	// judge them by: it refuses the account until the views agree.
	cfg := testConfig()
	for _, f := range c.fakes {
		cfg.Participants = append(cfg.Participants, f)
	}
	c.fakes[3].set(honest)
	fresh, err := coordinator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := fresh.Account(c.keys[0]); ok {
		t.Fatal("a fresh coordinator accepted conflicting views")
	}
	advertise(3)
	c.fakes[4].mu.Lock()
	delete(c.fakes[4].view, c.keys[0]) // participant 5 destroyed its share
	c.fakes[4].mu.Unlock()
	if err := fresh.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if info, ok := fresh.Account(c.keys[0]); !ok || info.Threshold != 3 || len(info.Members) != 4 {
		t.Fatalf("after the cutover: %+v, %v", info, ok)
	}
}

// A lone participant answering discovery (the others down) with a
// configuration of its own making moves nothing: the account stays as it
// was known. Members that left the account (they answer without it)
// endorse the new configuration as surely as those advertising it.
func TestDiscoveryKeepsTheKnownConfigurationAgainstALoneParticipant(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	ctx := context.Background()
	shape := func(what string, threshold, members int) {
		t.Helper()
		if err := c.coord.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		info, ok := c.coord.Account(c.keys[0])
		if !ok || info.Threshold != threshold || len(info.Members) != members {
			t.Fatalf("%s: %+v %v, want %d-of-%d", what, info, ok, threshold, members)
		}
	}
	f5 := c.fakes[4]
	f5.mu.Lock()
	view, share := f5.view[c.keys[0]], f5.shares[c.keys[0]]
	f5.mu.Unlock()
	c.configuration(t, 0, 1, []int{4})(4)
	for _, i := range []int{0, 1, 2, 3} {
		c.fakes[i].set(down)
	}
	shape("participant 5 alone, claiming 1-of-1", 3, 5)
	for _, i := range []int{0, 1, 2, 3} {
		c.fakes[i].set(honest)
	}
	shape("the others back", 3, 5)
	f5.mu.Lock()
	f5.view[c.keys[0]], f5.shares[c.keys[0]] = view, share
	f5.mu.Unlock()

	// 3-of-5 to 2-of-3 on participants 1 to 3: 1 and 2 advertise it, 4
	// and 5 left, 3 has not activated yet.
	c.configuration(t, 0, 2, []int{0, 1, 2})(0, 1)
	for _, i := range []int{3, 4} {
		f := c.fakes[i]
		f.mu.Lock()
		delete(f.view, c.keys[0])
		f.mu.Unlock()
	}
	shape("two advertising it and two that left", 2, 3)
	r := [32]byte{5}
	sig, err := c.coord.Sign(ctx, c.keys[0], r, request(r))
	if err != nil || !c.pubs[0].Verify(r, sig) {
		t.Fatalf("signing with the new configuration: %v", err)
	}
}

// A participant advertising the known threshold with a member this
// coordinator does not know (a compromised one, or a configuration rolled
// out to one signer first) is refused; discovery goes on with the others.
// It once crashed the coordinator: the unknown member was looked up.
func TestDiscoverySurvivesAViewNamingAnUnknownMember(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	f := c.fakes[4]
	f.mu.Lock()
	a := f.view[c.keys[0]]
	a.Participants = append(append([]api.Participant(nil), a.Participants...), api.Participant{ID: 6, Endpoint: "https://signer-6:9100"})
	f.view[c.keys[0]] = a
	f.mu.Unlock()
	if err := c.coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if info, ok := c.coord.Account(c.keys[0]); !ok || info.Threshold != 3 || len(info.Members) != 5 {
		t.Fatalf("after a view naming an unknown member: %+v %v", info, ok)
	}
}
