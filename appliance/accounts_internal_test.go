package appliance

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

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
