package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
)

// TestVerify checks the helper's verdicts, so a broken helper cannot make
// the boot test pass: a signature by the validator key over the request's
// root passes; one by another key, or over another epoch, fails.
func TestVerify(t *testing.T) {
	n := network.Mainnet()
	now := n.GenesisTime().Add(400 * 24 * time.Hour)
	key := newKey(t)
	other := newKey(t)
	req, err := randaoRequest(n, now)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	root, err := req.SigningRoot(n)
	if err != nil {
		t.Fatal(err)
	}
	req.RandaoReveal.Epoch++
	otherRoot, err := req.SigningRoot(n)
	if err != nil {
		t.Fatal(err)
	}
	sigHex := func(sk *bls.SecretKey, r [32]byte) string {
		b := sk.Sign(r).Bytes()
		return "0x" + hex.EncodeToString(b[:])
	}
	tests := []struct {
		name string
		sig  string
		want error
	}{
		{"accepts the validator's signature over the request", sigHex(key, root), nil},
		{"rejects a signature by another key", sigHex(other, root), errBadSignature},
		{"rejects a signature over another epoch (replayed answer)", sigHex(key, otherRoot), errBadSignature},
		{"rejects the point at infinity by name", "0xc0" + strings.Repeat("00", 95), bls.ErrInfinity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(n, body, key.PublicKey(), tc.sig)
			if !errors.Is(err, tc.want) {
				t.Fatalf("verify = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("rejects a malformed signature", func(t *testing.T) {
		if err := verify(n, body, key.PublicKey(), "0x1234"); err == nil {
			t.Fatal("verify accepted a 2-byte signature")
		}
	})
}

func TestSignatureFromResponseAcceptsBothForms(t *testing.T) {
	const sig = "0xabcd"
	tests := []struct{ name, contentType, body string }{
		{"json object", "application/json; charset=utf-8", `{"signature":"0xabcd"}`},
		{"plain text", "text/plain", "0xabcd\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signatureFromResponse(tc.contentType, []byte(tc.body))
			if err != nil || got != sig {
				t.Fatalf("got %q, %v; want %q", got, err, sig)
			}
		})
	}
}

func TestRandaoRequestRefusesTimeBeforeGenesis(t *testing.T) {
	n := network.Mainnet()
	if _, err := randaoRequest(n, n.GenesisTime().Add(-time.Hour)); err == nil {
		t.Fatal("built a request for a time before genesis")
	}
}

func newKey(t *testing.T) *bls.SecretKey {
	t.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}
