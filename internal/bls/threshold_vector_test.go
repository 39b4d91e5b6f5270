package bls_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// TestThresholdVector reproduces the distributed profile's 2-of-3 vector
// with nothing but this package's field and group arithmetic: component keys
// from the polynomial, partial signatures, and Lagrange recovery at zero for
// every 2-subset. Package tss runs the same vector through its own API.
func TestThresholdVector(t *testing.T) {
	path := os.Getenv("THRESHOLD_VECTOR")
	if path == "" {
		path = filepath.Join("..", "..", "testdata", "remote-signing-distributed", "threshold-signing.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Threshold    string   `json:"threshold"`
		Coefficients []string `json:"polynomial_coefficients"`
		SigningRoot  string   `json:"signing_root"`
		Composite    string   `json:"composite_public_key"`
		Participants []struct {
			ID        string `json:"id"`
			SecretKey string `json:"secret_key"`
			PublicKey string `json:"public_key"`
			Signature string `json:"signature"`
		} `json:"participants"`
		Recovered string `json:"recovered_signature"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	coeffs := make([]bls.Scalar, len(v.Coefficients))
	for i, c := range v.Coefficients {
		u, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		coeffs[i] = bls.ScalarFromUint64(u)
	}
	var msg [32]byte
	copy(msg[:], mustHex(v.SigningRoot[2:]))
	composite, err := bls.SecretKeyFromScalar(&coeffs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := composite.PublicKey().String(); got != v.Composite {
		t.Fatalf("composite key %s, want %s", got, v.Composite)
	}
	ids := make([]bls.Scalar, len(v.Participants))
	partials := make([]*bls.Signature, len(v.Participants))
	for i, p := range v.Participants {
		id, _ := strconv.ParseUint(p.ID, 10, 64)
		ids[i] = bls.ScalarFromUint64(id)
		// f(id) by Horner's rule.
		var share bls.Scalar
		for k := len(coeffs) - 1; k >= 0; k-- {
			share = share.Mul(&ids[i])
			share = share.Add(&coeffs[k])
		}
		sk, err := bls.SecretKeyFromScalar(&share)
		if err != nil {
			t.Fatal(err)
		}
		if b := sk.Bytes(); "0x"+hex.EncodeToString(b[:]) != p.SecretKey {
			t.Errorf("participant %s: component secret differs", p.ID)
		}
		if got := sk.PublicKey().String(); got != p.PublicKey {
			t.Errorf("participant %s: component key %s, want %s", p.ID, got, p.PublicKey)
		}
		partials[i] = sk.Sign(msg)
		if got := partials[i].String(); got != p.Signature {
			t.Errorf("participant %s: partial %s, want %s", p.ID, got, p.Signature)
		}
	}
	recovered := 0
	for a := 0; a < len(ids); a++ {
		for b := a + 1; b < len(ids); b++ {
			set := []int{a, b}
			lambdas := make([]bls.Scalar, len(set))
			for x, i := range set {
				num, den := bls.ScalarFromUint64(1), bls.ScalarFromUint64(1)
				for _, j := range set {
					if j == i {
						continue
					}
					nj := ids[j].Neg()
					num = num.Mul(&nj)
					d := ids[i].Sub(&ids[j])
					den = den.Mul(&d)
				}
				inv, err := den.Inverse()
				if err != nil {
					t.Fatal(err)
				}
				lambdas[x] = num.Mul(&inv)
			}
			sig, err := bls.SignatureLinearCombination([]*bls.Signature{partials[a], partials[b]}, lambdas)
			if err != nil {
				t.Fatal(err)
			}
			if got := sig.String(); got != v.Recovered {
				t.Errorf("subset {%s,%s}: recovered %s, want %s", v.Participants[a].ID, v.Participants[b].ID, got, v.Recovered)
			}
			if !composite.PublicKey().Verify(msg, sig) {
				t.Errorf("subset {%s,%s}: recovered signature does not verify", v.Participants[a].ID, v.Participants[b].ID)
			}
			recovered++
		}
	}
	t.Logf("threshold vector: %d components, %d recoveries", len(ids), recovered)
}
