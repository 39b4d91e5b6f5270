package appliance_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
)

// A cluster holds accounts of several configurations: here 3-of-5 (the
// cluster's) and 2-of-3 among signers 1, 3 and 4 (a share naming its
// members, as a resharing to some of the signers leaves it). Each account
// is discovered with its own members and threshold, signs with a quorum
// of its own members, and the signers outside its configuration take no
// part in it.
func TestClusterHoldsAccountsOfSeveralConfigurations(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 1)
	wide := tc.keys[0]
	tc.stopAll()
	cfgs := tc.lc.Configs()
	narrow, err := localcluster.DealMembers(context.Background(), []*appliance.Config{cfgs[0], cfgs[2], cfgs[3]}, 1, 2, rand.Reader, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tc.lc.Signers {
		tc.restart(i)
	}

	cf := tc.lc.File
	_, coord, release, err := cf.Connect(context.Background(), cf.Client)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key       api.PublicKey
		threshold int
		members   []tss.ID
	}{
		{wide, 3, []tss.ID{1, 2, 3, 4, 5}},
		{narrow[0], 2, []tss.ID{1, 3, 4}},
	} {
		info, ok := coord.Account(tt.key)
		if !ok {
			t.Fatalf("account %s not discovered", tt.key)
		}
		if info.Threshold != tt.threshold || !slices.Equal(info.Members, tt.members) || !slices.Equal(info.Known, tt.members) {
			t.Fatalf("account %s discovered as %d-of-%v (known %v), want %d-of-%v", tt.key, info.Threshold, info.Members, info.Known, tt.threshold, tt.members)
		}
	}

	req := attestationRequest(tc.net, 40, 41, 0x81)
	tc.checkSigned("the 2-of-3 account, all up", tc.sign(0, narrow[0], req), narrow[0], req)
	tc.checkSigned("the 3-of-5 account, all up", tc.sign(0, wide, req), wide, req)
	if _, err := tc.clientSign(narrow[0], attestationRequest(tc.net, 41, 42, 0x82)); err != nil {
		t.Fatalf("the 2-of-3 account through the client's coordinator: %v", err)
	}

	// Signers 2 and 5 hold no share of the narrow account: with them down
	// it still signs; with signer 4 down too it has 2 of its 3 members.
	tc.stop(1)
	tc.stop(4)
	req = attestationRequest(tc.net, 42, 43, 0x83)
	tc.checkSigned("the 2-of-3 account, its members up", tc.sign(0, narrow[0], req), narrow[0], req)
	tc.restart(1)
	tc.restart(4)
	tc.stop(3)
	req = attestationRequest(tc.net, 43, 44, 0x84)
	tc.checkSigned("the 2-of-3 account, one member down", tc.sign(0, narrow[0], req), narrow[0], req)
	tc.checkSigned("the 3-of-5 account, one signer down", tc.sign(0, wide, req), wide, req)

	// Signers 3 and 4 down: the narrow account has one member left, the
	// wide one three of five.
	tc.stop(2)
	req = attestationRequest(tc.net, 44, 45, 0x85)
	if r := tc.sign(0, narrow[0], req); r.code != http.StatusServiceUnavailable {
		t.Fatalf("the 2-of-3 account with one member up: %d %s", r.code, r.body)
	}
	tc.checkSigned("the 3-of-5 account, two signers down", tc.sign(0, wide, req), wide, req)
}
