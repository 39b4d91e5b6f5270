package appliance

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

// TestAttackPermitForAnotherKeyCannotSign: a slashing permit is spent only
// by the account it was given for. A permit recorded for account A's
// attestation, handed to account B (two slices falling out of step, or a
// mix-up in a batch), must not make B sign the root: B's history never saw
// that message, so B could sign it beside a conflicting one.
func TestAttackPermitForAnotherKeyCannotSign(t *testing.T) {
	ctx := context.Background()
	newAccount := func() *account {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pk := sk.PublicKey()
		return &account{key: api.PublicKey(pk.Bytes()), composite: pk, component: pk, threshold: 1, share: sk}
	}
	a, b := newAccount(), newAccount()
	cfg := protect.DefaultConfig()
	cfg.Limit = protect.NoLimit
	gvr := protect.Root{1}
	db, err := protect.Create(ctx, filepath.Join(t.TempDir(), "slashing.db"), gvr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Register(ctx, protect.PublicKey(a.key), protect.PublicKey(b.key)); err != nil {
		t.Fatal(err)
	}
	permit, err := db.ApproveAttestation(ctx, gvr, protect.PublicKey(a.key), protect.Attestation{Source: 1, Target: 2, SigningRoot: protect.Root{7}})
	if err != nil {
		t.Fatal(err)
	}
	if sig, err := b.signPermitted(permit); !errors.Is(err, errWrongPermit) || sig != nil {
		t.Fatalf("account B signed with account A's permit: %v, %v", sig, err)
	}
	sig, err := a.signPermitted(permit)
	if err != nil || !a.composite.Verify([32]byte{7}, sig) {
		t.Fatalf("account A with its own permit: %v", err)
	}
}

// An account's share names the configuration it belongs to; a signer
// loads it only when every member is in its cluster and the threshold is a
// majority of the members (not of the cluster).
func TestAccountConfigurationAgainstTheCluster(t *testing.T) {
	share := func(threshold uint64, members []uint64) hsm.Share {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pk := sk.PublicKey().Bytes()
		return hsm.Share{Key: sk, Info: hsm.ShareInfo{Participant: 1, Threshold: threshold, CompositeKey: pk, ComponentKey: pk, Members: members, Generation: 2}}
	}
	cluster := []uint64{1, 2, 3, 4, 5, 6, 7}
	for _, tc := range []struct {
		name      string
		threshold uint64
		members   []uint64
		version1  []uint64 // accounts.version1_members, resolved
		want      string   // "" loads
	}{
		{"a version-1 share of the cluster", 4, nil, cluster, ""},
		{"a 3-of-5 account in a cluster of 7", 3, []uint64{1, 2, 3, 4, 5}, cluster, ""},
		{"a version-1 3-of-5 share once the cluster grew to 7", 3, nil, cluster, "names no members, so they are accounts.version1_members [1 2 3 4 5 6 7] (default every cluster participant; if participants were added since the share was made, list the earlier ones there): threshold 3 for 7 members"},
		{"the same with accounts.version1_members", 3, nil, []uint64{1, 2, 3, 4, 5}, ""},
		{"a member outside the cluster", 2, []uint64{1, 3, 9}, cluster, "participant 9 is not in cluster.participants"},
		{"a threshold of half the members", 2, []uint64{1, 2, 3, 4}, cluster, "threshold 2 for 4 members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := newAccount(share(tc.threshold, tc.members), cluster, tc.version1)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.members
			if want == nil {
				want = tc.version1
			}
			if !slices.Equal(acc.members, want) || acc.size() != len(want) || acc.generation != 2 {
				t.Fatalf("members %v, generation %d; want %v, 2", acc.members, acc.generation, want)
			}
		})
	}
}
