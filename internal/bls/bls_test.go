package bls_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

func TestHashToG2MatchesSigning(t *testing.T) {
	for _, m := range [][32]byte{{}, {1, 2, 3}, {0xff, 0xab}} {
		ok, err := bls.HashToG2MatchesSigning(m)
		if err != nil || !ok {
			t.Fatalf("hash_to_G2 composition differs from signing hash for %x: %v", m, err)
		}
	}
}

func TestSecretKeyRedacts(t *testing.T) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := sk.Bytes()
	hexKey := fmt.Sprintf("%x", b[:])
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("key", "sk", sk)
	outs := []string{
		fmt.Sprint(sk), fmt.Sprintf("%v %+v %#v %x %s %q", sk, sk, sk, sk, sk, sk),
		logBuf.String(),
	}
	if _, err := json.Marshal(sk); err == nil {
		t.Error("json.Marshal of a secret key succeeded")
	}
	s := sk.Scalar()
	outs = append(outs, fmt.Sprintf("%v %x %+v", s, s, s))
	for _, o := range outs {
		if strings.Contains(o, hexKey) || !strings.Contains(o, "REDACTED") {
			t.Errorf("secret leaked or not redacted: %q", o)
		}
	}
}

func TestSecretKeyRefusesBadInput(t *testing.T) {
	order := "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001"
	for name, in := range map[string][]byte{
		"refuses zero":        make([]byte, 32),
		"refuses short":       make([]byte, 31),
		"refuses group order": mustHex(order),
		"refuses all ones":    bytes.Repeat([]byte{0xff}, 32),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := bls.SecretKeyFromBytes(in)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), fmt.Sprintf("%x", in)) && len(in) > 0 && !bytes.Equal(in, make([]byte, len(in))) {
				t.Errorf("error echoes key bytes: %v", err)
			}
		})
	}
}

func TestSignVerifyAndZero(t *testing.T) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := [32]byte{7}
	sig := sk.Sign(msg)
	pk := sk.PublicKey()
	if !pk.Verify(msg, sig) {
		t.Fatal("signature does not verify")
	}
	if pk.Verify([32]byte{8}, sig) {
		t.Fatal("signature verifies another message")
	}
	b := sig.Bytes()
	back, err := bls.SignatureFromBytes(b[:])
	if err != nil || !back.Equal(sig) {
		t.Fatalf("signature round trip: %v", err)
	}
	pb := pk.Bytes()
	pk2, err := bls.PublicKeyFromBytes(pb[:])
	if err != nil || !pk2.Equal(pk) {
		t.Fatalf("public key round trip: %v", err)
	}
	sk.Zero()
	if z := sk.Bytes(); z != [32]byte{} {
		t.Fatal("Zero left key material")
	}
}

func TestScalarArithmetic(t *testing.T) {
	a, b := bls.ScalarFromUint64(6), bls.ScalarFromUint64(3)
	q := a.Mul(&b)
	if want := bls.ScalarFromUint64(18); !q.Equal(&want) {
		t.Fatal("6*3 != 18")
	}
	inv, err := b.Inverse()
	if err != nil {
		t.Fatal(err)
	}
	two := a.Mul(&inv)
	if want := bls.ScalarFromUint64(2); !two.Equal(&want) {
		t.Fatal("6/3 != 2")
	}
	max := bls.ScalarFromUint64(^uint64(0))
	bb := max.Bytes()
	back, err := bls.ScalarFromBytes(bb[:])
	if err != nil || !back.Equal(&max) {
		t.Fatalf("scalar round trip: %v", err)
	}
	if _, err := (&bls.Scalar{}).Inverse(); err == nil {
		t.Fatal("inverse of zero succeeded")
	}
}

func mustHex(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i += 2 {
		var b byte
		fmt.Sscanf(s[i:i+2], "%02x", &b)
		out = append(out, b)
	}
	return out
}

func BenchmarkSign(b *testing.B) {
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	for b.Loop() {
		sk.Sign([32]byte{1})
	}
}

func BenchmarkVerify(b *testing.B) {
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	pk, sig := sk.PublicKey(), sk.Sign([32]byte{1})
	for b.Loop() {
		pk.Verify([32]byte{1}, sig)
	}
}

func benchBatch(b *testing.B, n int, sameMessage bool) {
	keys := make([]*bls.PublicKey, n)
	msgs := make([][32]byte, n)
	sigs := make([]*bls.Signature, n)
	for i := range keys {
		sk, _ := bls.GenerateSecretKey(rand.Reader)
		if !sameMessage {
			msgs[i] = [32]byte{byte(i), byte(i >> 8)}
		}
		keys[i], sigs[i] = sk.PublicKey(), sk.Sign(msgs[i])
	}
	b.ResetTimer()
	for b.Loop() {
		if !bls.BatchVerify(keys, msgs, sigs) {
			b.Fatal("batch refused")
		}
	}
}

func BenchmarkBatchVerify313Distinct(b *testing.B) { benchBatch(b, 313, false) }
func BenchmarkBatchVerify313Same(b *testing.B)     { benchBatch(b, 313, true) }
