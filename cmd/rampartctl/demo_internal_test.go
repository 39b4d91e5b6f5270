package main

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
)

// The demo's check of the cluster's answers: the validator's signature over
// the root passes; another root, a malformed encoding and the point at
// infinity (named as such) fail.
func TestVerifyDemoSignature(t *testing.T) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := api.PublicKey(sk.PublicKey().Bytes())
	root := [32]byte{1}
	good := api.Signature(sk.Sign(root).Bytes())
	if err := verifyDemoSignature(key, root, good); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	if err := verifyDemoSignature(key, [32]byte{2}, good); err == nil {
		t.Fatal("accepted a signature over another root")
	}
	if err := verifyDemoSignature(key, root, api.Signature{0xff}); !errors.Is(err, bls.ErrInvalidPoint) {
		t.Fatalf("malformed signature: %v", err)
	}
	if err := verifyDemoSignature(key, root, api.Signature{0xc0}); !errors.Is(err, bls.ErrInfinity) {
		t.Fatalf("signature at infinity: %v", err)
	}
}
