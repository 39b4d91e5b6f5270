package tss_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/internal/subsets"
)

// thresholdVector is the distributed profile's test vector format.
type thresholdVector struct {
	Description  string   `json:"description"`
	Threshold    string   `json:"threshold"`
	Coefficients []string `json:"polynomial_coefficients"`
	SigningData  struct {
		ObjectRoot string `json:"object_root"`
		Domain     string `json:"domain"`
	} `json:"signing_data"`
	SigningRoot  string `json:"signing_root"`
	Composite    string `json:"composite_public_key"`
	Participants []struct {
		ID        string `json:"id"`
		SecretKey string `json:"secret_key"`
		PublicKey string `json:"public_key"`
		Signature string `json:"signature"`
	} `json:"participants"`
	Recovered string `json:"recovered_signature"`
}

// loadThresholdVector reads the vector from $THRESHOLD_VECTOR, or from the
// repository's copy in testdata/remote-signing-distributed.
func loadThresholdVector(t *testing.T) thresholdVector {
	t.Helper()
	path := os.Getenv("THRESHOLD_VECTOR")
	if path == "" {
		path = filepath.Join("..", "testdata", "remote-signing-distributed", "threshold-signing.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading threshold vector: %v", err)
	}
	var v thresholdVector
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestThresholdVector runs the 2-of-3 vector through the package API:
// component keys from the component secrets, partial signatures, the
// account's consistency, public-key recovery and signature recovery for
// every threshold-sized subset and for all partials together.
func TestThresholdVector(t *testing.T) {
	v := loadThresholdVector(t)
	threshold, err := tss.ParseID(v.Threshold) // same decimal rules as ids
	if err != nil {
		t.Fatal(err)
	}
	var root [32]byte
	copy(root[:], unhex(t, v.SigningRoot))
	composite, err := bls.PublicKeyFromBytes(unhex(t, v.Composite))
	if err != nil {
		t.Fatal(err)
	}
	want, err := bls.SignatureFromBytes(unhex(t, v.Recovered))
	if err != nil {
		t.Fatal(err)
	}
	acct := tss.Account{Composite: composite, Threshold: int(threshold)}
	var partials []tss.Partial
	for _, p := range v.Participants {
		id, err := tss.ParseID(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		share, err := tss.ShareFromBytes(id, unhex(t, p.SecretKey))
		if err != nil {
			t.Fatal(err)
		}
		if got := share.PublicKey().String(); got != p.PublicKey {
			t.Errorf("participant %s: component key %s, want %s", id, got, p.PublicKey)
		}
		sig := share.Sign(root)
		if got := sig.String(); got != p.Signature {
			t.Errorf("participant %s: partial %s, want %s", id, got, p.Signature)
		}
		acct.Components = append(acct.Components, tss.Component{ID: id, PublicKey: share.PublicKey()})
		partials = append(partials, tss.Partial{ID: id, PublicKey: share.PublicKey(), Signature: sig})
	}
	if err := acct.Validate(); err != nil {
		t.Fatalf("vector account does not validate: %v", err)
	}
	recoveries := 0
	for _, subset := range subsets.Of(len(partials), int(threshold)) {
		var ps []tss.Partial
		var cs []tss.Component
		for _, i := range subset {
			ps = append(ps, partials[i])
			cs = append(cs, acct.Components[i])
		}
		res, err := tss.Recover(root, composite, int(threshold), ps)
		if err != nil {
			t.Fatalf("subset %v: %v", subset, err)
		}
		if !res.Signature.Equal(want) {
			t.Errorf("subset %v: recovered %s, want %s", subset, res.Signature, v.Recovered)
		}
		pk, err := tss.RecoverPublicKey(cs)
		if err != nil || !pk.Equal(composite) {
			t.Errorf("subset %v: recovered public key %v (%v), want the composite", subset, pk, err)
		}
		recoveries++
	}
	res, err := tss.Recover(root, composite, int(threshold), partials)
	if err != nil || !res.Signature.Equal(want) {
		t.Errorf("all partials: %v", err)
	}
	t.Logf("threshold vector: %d participants, %d subset recoveries", len(partials), recoveries)
}
