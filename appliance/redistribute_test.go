package appliance_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/tss"
)

// checkConfiguration checks that the accounts keys have, at every signer
// of members (0-based), threshold and generation in their sealed shares,
// naming exactly members; that every threshold-subset of members recovers
// a signature under each key from the members' proofs; and that fewer do
// not, combined as if the threshold were one lower.
func checkConfiguration(t testing.TB, lc *localcluster.Cluster, net *network.Network, members []int, threshold int, generation uint64, keys []api.PublicKey) {
	t.Helper()
	var ids []uint64
	for _, i := range members {
		ids = append(ids, lc.Signers[i].ID)
	}
	for _, i := range members {
		for _, k := range keys {
			b, err := os.ReadFile(filepath.Join(lc.Signers[i].Config.Accounts.SharesDir, k.String()+appliance.ShareFileExt))
			if err != nil {
				t.Fatalf("signer %d: %v", i+1, err)
			}
			info, err := hsm.ReadShareInfo(b)
			if err != nil {
				t.Fatal(err)
			}
			if int(info.Threshold) != threshold || info.Generation != generation || !slices.Equal(info.Members, ids) {
				t.Fatalf("signer %d's share of %s: %d-of-%v generation %d, want %d-of-%v generation %d", i+1, k, info.Threshold, info.Members, info.Generation, threshold, ids, generation)
			}
		}
	}
	_, peers := admin(t, lc)
	root := adminapi.ProofSigningRoot(net)
	components := clusterComponentKeys(t, lc)
	partials := make([][]tss.Partial, len(keys)) // by key, in members order
	for _, i := range members {
		proofs, err := peers[i].Prove(context.Background(), keys)
		if err != nil {
			t.Fatalf("signer %d proof: %v", i+1, err)
		}
		for k, key := range keys {
			c := components[i][key]
			pk, err := bls.PublicKeyFromBytes(c[:])
			if err != nil {
				t.Fatalf("signer %d lists no component key of %s", i+1, key)
			}
			sig, err := bls.SignatureFromBytes(proofs[k][:])
			if err != nil {
				t.Fatal(err)
			}
			partials[k] = append(partials[k], tss.Partial{ID: tss.ID(lc.Signers[i].ID), PublicKey: pk, Signature: sig})
		}
	}
	subsets := 0
	for mask := range 1 << len(members) {
		size := popcount(mask)
		if size != threshold && size != threshold-1 {
			continue
		}
		for k, key := range keys {
			composite, _ := bls.PublicKeyFromBytes(key[:])
			var some []tss.Partial
			for j, p := range partials[k] {
				if mask&(1<<j) != 0 {
					some = append(some, p)
				}
			}
			if size == threshold {
				res, err := tss.Recover(root, composite, threshold, some)
				if err != nil || !composite.Verify(root, res.Signature) {
					t.Fatalf("members %b of %v, account %s: %v", mask, ids, key, err)
				}
				subsets++
				continue
			}
			if res, err := tss.Recover(root, composite, threshold-1, some); err == nil && composite.Verify(root, res.Signature) {
				t.Fatalf("%d of the members (%b) recovered a signature of %s", size, mask, key)
			}
		}
	}
	t.Logf("every one of the %d subsets of %d of %v signed for %d accounts; no %d did", subsets/len(keys), threshold, ids, len(keys), threshold-1)
}

// A cluster of seven signers holds accounts 3-of-5 on signers 1 to 5. A
// redistribution gives them to all seven at 5-of-7 (the example:
// safety tolerance 0 to 2, liveness 2 kept), without the keys changing;
// signers 6 and 7 start from the others' slashing history with floors at
// the cutover. A second one removes signer 7 for good (5-of-6): its shares
// leave, to be destroyed after the removal grace. A weaker configuration
// (4-of-6) is refused by every signer's own policy.
func TestReshareRedistributeChangesMembersAndThreshold(t *testing.T) {
	tc := newTestCluster(t, 7, 4, 0)
	tc.stopAll()
	cfgs := tc.lc.Configs()
	keys, err := localcluster.DealMembers(context.Background(), cfgs[:5], 2, 3, rand.Reader, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tc.lc.Signers {
		tc.restart(i)
	}
	_, peers := admin(t, tc.lc)
	now, _ := tc.net.LatestEpochAt(time.Now())
	next := uint64(now) + 1
	att := attestationRequest(tc.net, next-1, next, 0x33)
	tc.checkSigned("a vote by the 3-of-5 configuration", tc.sign(0, keys[0], att), keys[0], att)

	// Refused before anything starts: a threshold that is not a majority,
	// a member outside the cluster, too few dealers.
	for _, bad := range []adminapi.StartReshareRequest{
		{Mode: adminapi.ReshareRedistribute, NewMembers: []api.Uint64{1, 2, 3, 4, 5, 6, 7}, NewThreshold: 3},
		{Mode: adminapi.ReshareRedistribute, NewMembers: []api.Uint64{1, 2, 3, 9}, NewThreshold: 3},
		{Mode: adminapi.ReshareRedistribute, NewMembers: []api.Uint64{1, 2, 3, 4, 5, 6, 7}, NewThreshold: 5, Helpers: []api.Uint64{1, 2}},
	} {
		if _, err := peers[0].StartReshare(context.Background(), &bad); err == nil {
			t.Fatalf("redistribution %+v started", bad)
		}
	}

	all := []api.Uint64{1, 2, 3, 4, 5, 6, 7}
	id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRedistribute, NewMembers: all, NewThreshold: 5})
	if err != nil {
		t.Fatal(err)
	}
	st := waitCeremony(t, peers[0], id, 3*time.Minute)
	if co := st.Coordination; co.Stage != adminapi.StageComplete || co.Kind != adminapi.ReshareRedistribute {
		t.Fatalf("redistribution ended %s (%s): %s", co.Stage, co.Kind, co.Reason)
	}
	checkConfiguration(t, tc.lc, tc.net, []int{0, 1, 2, 3, 4, 5, 6}, 5, 1, keys)
	for i := range tc.lc.Signers {
		if left := refreshLeftovers(tc.lc, i); len(left) != 0 {
			t.Errorf("signer %d kept %v", i+1, left)
		}
	}
	// The joining signers sign no vote below the cutover (two epochs
	// ahead): the keys sign a RANDAO reveal meanwhile, through any
	// coordinator.
	rr := randaoRequest(tc.net, 6)
	tc.checkSigned("a RANDAO reveal by the 5-of-7 configuration", tc.sign(0, keys[0], rr), keys[0], rr)
	if _, err := tc.clientSign(keys[1], randaoRequest(tc.net, 7)); err != nil {
		t.Fatalf("the client's coordinator after the redistribution: %v", err)
	}

	// Signer 7 joined with the others' history and the cutover's floors:
	// alone it refuses a double vote of what the old configuration signed
	// and a vote below the cutover.
	for _, c := range []struct {
		name string
		key  api.PublicKey
		req  []byte
	}{
		{"a double vote", keys[0], attestationRequest(tc.net, next-1, next, 0x34)},
		{"a vote below the cutover", keys[1], attestationRequest(tc.net, next-2, next-1, 0x35)},
	} {
		r := post(t, tc.identityClient(6, "signer-1"), tc.url(6, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+c.key.String()), c.req)
		if r.code != http.StatusPreconditionFailed {
			t.Errorf("the joining signer signed %s: %d %s", c.name, r.code, r.body)
		}
	}

	// Signer 7 is to leave for good, but new member 6 is down and stays
	// away: the redistribution aborts and leaves the 5-of-7
	// configuration active and untouched.
	tc.stop(5)
	id, err = peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRedistribute, NewMembers: all[:6], NewThreshold: 5,
		Helpers: all[:5], ParticipantTimeout: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	st = waitCeremony(t, peers[0], id, 3*time.Minute)
	if co := st.Coordination; co.Stage != adminapi.StageAborted {
		t.Fatalf("with a new member away the redistribution ended %s: %s", co.Stage, co.Reason)
	} else {
		t.Logf("with a new member away: %s", co.Reason)
	}
	tc.restart(5)
	checkConfiguration(t, tc.lc, tc.net, []int{0, 1, 2, 3, 4, 5, 6}, 5, 1, keys)

	// A weaker configuration is refused by every signer's own policy
	// (accounts.allow_weaker_redistribution off): 4-of-6 needs fewer
	// signers than 5-of-7.
	if _, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRedistribute, NewMembers: all[:6], NewThreshold: 4}); err == nil || !strings.Contains(err.Error(), "below the current 5") {
		t.Fatalf("a redistribution to 4-of-6: %v", err)
	}

	// Now signer 7 leaves for good.
	id, err = peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRedistribute, NewMembers: all[:6], NewThreshold: 5})
	if err != nil {
		t.Fatal(err)
	}
	st = waitCeremony(t, peers[0], id, 3*time.Minute)
	if co := st.Coordination; co.Stage != adminapi.StageComplete {
		t.Fatalf("removal ended %s: %s", co.Stage, co.Reason)
	}
	checkConfiguration(t, tc.lc, tc.net, []int{0, 1, 2, 3, 4, 5}, 5, 2, keys)
	if got := shareFiles(tc.lc, 6); len(got) != 0 {
		t.Fatalf("the removed signer kept %v", got)
	}
	if got := componentKeys(t, tc)[6]; len(got) != 0 {
		t.Fatalf("the removed signer still lists %v", got)
	}
	rr = randaoRequest(tc.net, 8)
	tc.checkSigned("a RANDAO reveal by the 5-of-6 configuration", tc.sign(1, keys[0], rr), keys[0], rr)
}

// randaoRequest is a RANDAO_REVEAL request for epoch.
func randaoRequest(n *network.Network, epoch uint64) []byte {
	return mustJSON(map[string]any{"type": "RANDAO_REVEAL", "fork_info": forkInfo(n, epoch), "randao_reveal": map[string]any{"epoch": u(epoch)}})
}
