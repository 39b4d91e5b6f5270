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
	db, err := protect.Create(ctx, filepath.Join(dir, "slashing-protection.db"), gvr, protect.DefaultConfig())
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
	// Output:
	// signed: true
	// second vote refused: true true
}
