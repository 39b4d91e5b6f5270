package appliance_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
)

// TestActivationFailingHalfWayLeavesNothingToLoad: staged accounts are
// activated many at a time (one slashing-database commit, one directory
// sync for their share files). When placing one share file fails, the
// files placed before it go back to their staged names and none of the
// accounts joins, so nothing that never signed is loaded at the next
// start, and activating them again works; 300 at once work too.
func TestActivationFailingHalfWayLeavesNothingToLoad(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 0, grantEverything("vc-1"))
	admin := tc.adminPeers(t)[0]
	ctx := context.Background()
	dir := tc.lc.Signers[0].Config.Accounts.SharesDir
	stage := func(n int) []api.PublicKey {
		t.Helper()
		var req adminapi.StageRequest
		var keys []api.PublicKey
		for range n {
			sk, err := bls.GenerateSecretKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			key := api.PublicKey(sk.PublicKey().Bytes())
			req.Accounts = append(req.Accounts, adminapi.StageItem{CompositePublicKey: key, Threshold: 2, Share: adminapi.SecretHex(sk.Bytes())})
			keys = append(keys, key)
			sk.Zero()
		}
		if _, err := admin.Stage(ctx, &req); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	placed := func(keys []api.PublicKey) (n int) {
		for _, k := range keys {
			if hasShareFile(tc, 0, k) {
				n++
			}
		}
		return n
	}

	keys := stage(5)
	// The third share's staged file is gone (a disk error, an operator's
	// mistake): placing it fails after two were placed.
	if err := os.Remove(filepath.Join(dir, keys[2].String()+".share.staged")); err != nil {
		t.Fatal(err)
	}
	if err := admin.Activate(ctx, keys); err == nil {
		t.Fatal("activation succeeded without one share's file")
	}
	if n := placed(keys); n != 0 {
		t.Fatalf("%d share files left in place by a failed activation", n)
	}
	// The others are still staged: activating them again works (a key
	// listed twice is activated once).
	rest := []api.PublicKey{keys[0], keys[1], keys[3], keys[4], keys[0]}
	if err := admin.Activate(ctx, rest); err != nil {
		t.Fatalf("activating again the accounts a failed activation left staged: %v", err)
	}
	if n := placed(keys); n != 4 {
		t.Fatalf("%d share files placed, want 4", n)
	}
	if err := admin.Discard(ctx, keys[2:3]); err != nil {
		t.Fatal(err)
	}
	tc.stop(0)
	tc.restart(0)
	if r := tc.partialSign(0, keys[0], attestationRequest(tc.net, 1, 2, 0x11)); r.code != 200 {
		t.Errorf("an account activated on the second try, after the restart: %d %s", r.code, r.body)
	}
	if r := tc.partialSign(0, keys[2], attestationRequest(tc.net, 1, 2, 0x11)); r.code != 404 {
		t.Errorf("the account whose file was lost signs after the restart: %d %s", r.code, r.body)
	}

	keys = stage(300)
	if err := admin.Activate(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if n := placed(keys); n != len(keys) {
		t.Fatalf("%d of %d share files placed", n, len(keys))
	}
	tc.stop(0)
	tc.restart(0)
	if r := tc.partialSign(0, keys[len(keys)-1], attestationRequest(tc.net, 1, 2, 0x11)); r.code != 200 {
		t.Errorf("after the restart, the last account activated: %d %s", r.code, r.body)
	}
}
