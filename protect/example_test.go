package protect_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
)

// The signer's path for one attestation: approve, then sign with the permit.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "protect-example")
	defer os.RemoveAll(dir)
	gvr := protect.Root{0x4b}
	cfg := protect.DefaultConfig()
	// The signer derives the limit from the wall clock: the current epoch
	// plus slashing.future_epochs.
	cfg.Limit = func() protect.Limit { return protect.Limit{Epoch: 11, Why: "current epoch 10 + 1 epoch allowed ahead"} }
	db, err := protect.Create(ctx, filepath.Join(dir, "slashing-protection.db"), gvr, cfg)
	if err != nil {
		panic(err)
	}
	defer db.Close()

	share, _ := bls.GenerateSecretKey(rand.Reader) // this signer's share of the validator key
	validator := protect.PublicKey{0xa9}           // the composite key
	if err := db.Register(ctx, validator); err != nil {
		panic(err)
	}

	permit, err := db.ApproveAttestation(ctx, gvr, validator, protect.Attestation{Source: 9, Target: 10, SigningRoot: protect.Root{1}})
	if err != nil {
		panic(err)
	}
	sig, _ := permit.Sign(share)
	fmt.Println("signed:", share.PublicKey().Verify(permit.SigningRoot(), sig))

	_, err = db.ApproveAttestation(ctx, gvr, validator, protect.Attestation{Source: 9, Target: 10, SigningRoot: protect.Root{2}})
	fmt.Println("second vote refused:", errors.Is(err, protect.ErrRefused), errors.Is(err, protect.ErrDoubleVote))

	_, err = db.ApproveAttestation(ctx, gvr, validator, protect.Attestation{Source: 10, Target: 1 << 40, SigningRoot: protect.Root{3}})
	fmt.Println("far-future vote refused:", errors.Is(err, protect.ErrFuture), errors.Is(err, protect.ErrRefused))
	// Output:
	// signed: true
	// second vote refused: true true
	// far-future vote refused: true false
}
