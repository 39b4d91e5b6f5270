package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// TestVerify checks the helper's verdicts, so a broken helper cannot make
// the boot test pass: a signature by the validator key over the request's
// root passes; one by another key, or over another epoch, fails.
func TestVerify(t *testing.T) {
	n := network.Mainnet()
	now := n.GenesisTime().Add(400 * 24 * time.Hour)
	key := newKey(t)
	other := newKey(t)
	req, err := randaoRequest(n, now, 0)
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
	if _, err := randaoRequest(n, n.GenesisTime().Add(-time.Hour), 0); err == nil {
		t.Fatal("built a request for a time before genesis")
	}
}

// TestTwinIsADoubleVote: the twin of a saved attestation has its slot,
// source and target and another block root, so a signer that signed the
// first must refuse it; and only a 412 counts as that refusal.
func TestTwinIsADoubleVote(t *testing.T) {
	n := network.Mainnet()
	now := n.GenesisTime().Add(400 * 24 * time.Hour)
	body, err := newRequest(n, signing.TypeAttestation, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "attestation.json")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	twinBody, err := twinRequest(file)
	if err != nil {
		t.Fatal(err)
	}
	first, err := signing.ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	twin, err := signing.ParseRequest(twinBody)
	if err != nil {
		t.Fatal(err)
	}
	a, b := first.Attestation, twin.Attestation
	if b.Slot != a.Slot || b.Source.Epoch != a.Source.Epoch || b.Target.Epoch != a.Target.Epoch || b.BeaconBlockRoot == a.BeaconBlockRoot {
		t.Fatalf("twin %+v of %+v is not a double vote", b, a)
	}
	epoch, _ := currentEpoch(n, now)
	if a.Target.Epoch != epoch || a.Source.Epoch != epoch-1 {
		t.Fatalf("attestation source %d target %d, want %d and %d", a.Source.Epoch, a.Target.Epoch, epoch-1, epoch)
	}
	r1, _ := first.SigningRoot(n)
	r2, _ := twin.SigningRoot(n)
	if r1 == r2 {
		t.Fatal("the twin has the same signing root")
	}

	resp := &response{body: []byte(`{"error":"slashing"}`)}
	if _, err := refused(file, "u", http.StatusPreconditionFailed, resp); err != nil {
		t.Fatalf("412: %v", err)
	}
	for _, status := range []int{http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusServiceUnavailable} {
		if _, err := refused(file, "u", status, resp); err == nil {
			t.Fatalf("%d passed as a refused double vote", status)
		}
	}

	randao, err := newRequest(n, signing.TypeRandaoReveal, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, randao, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := twinRequest(file); err == nil {
		t.Fatal("made a twin of a RANDAO_REVEAL")
	}
	if _, err := newRequest(n, signing.TypeAttestation, 1, now); err == nil {
		t.Fatal("built an attestation beyond the current epoch")
	}
	if _, err := newRequest(n, "BLOCK_V2", 0, now); err == nil {
		t.Fatal("built a request of an unsupported type")
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
