package bls_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

func TestIsInfinity(t *testing.T) {
	inf, err := bls.SignatureFromBytes(inf96)
	if err != nil || !inf.IsInfinity() || !infinityOf(t, [32]byte{}).IsInfinity() {
		t.Fatalf("infinity not reported: %v", err)
	}
	sk, _ := keyPair(t)
	if sk.Sign([32]byte{}).IsInfinity() {
		t.Fatal("a signature reported as infinity")
	}
}

// Public keys at infinity stay refused (KeyValidate), while the
// deserialisation the deserialization_G1 vectors test accepts the point.
func TestPublicKeyAtInfinityStaysRefused(t *testing.T) {
	if _, err := bls.PublicKeyFromBytes(inf48); !errors.Is(err, bls.ErrInfinity) {
		t.Fatalf("PublicKeyFromBytes(infinity) = %v, want ErrInfinity", err)
	}
	if _, err := bls.PublicKeysFromBytes([][]byte{inf48}); !errors.Is(err, bls.ErrInfinity) {
		t.Fatalf("PublicKeysFromBytes(infinity) = %v, want ErrInfinity", err)
	}
	if err := bls.CheckG1Encoding(inf48); err != nil {
		t.Fatalf("CheckG1Encoding(infinity) = %v, want a valid point", err)
	}
	sk, _ := keyPair(t)
	pk := sk.PublicKey().Bytes()
	if err := bls.CheckG1Encoding(pk[:]); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"infinity with the sign flag": append([]byte{0xe0}, make([]byte, 47)...),
		"infinity with a non-zero x":  append(append([]byte{0xc0}, make([]byte, 46)...), 1),
		"short":                       pk[:47],
	} {
		if err := bls.CheckG1Encoding(b); err == nil {
			t.Errorf("CheckG1Encoding accepted %s", name)
		}
	}
}

func TestEthFastAggregateVerify(t *testing.T) {
	msg := [32]byte{11}
	sk, _ := keyPair(t)
	inf := infinityOf(t, msg)
	sig := sk.Sign(msg)
	pk := []*bls.PublicKey{sk.PublicKey()}
	for name, tc := range map[string]struct {
		keys []*bls.PublicKey
		sig  *bls.Signature
		want bool
	}{
		"no keys and infinity: an empty sync aggregate": {nil, inf, true},
		"no keys and a signature":                       {nil, sig, false},
		"a key and its signature":                       {pk, sig, true},
		"a key and infinity":                            {pk, inf, false},
	} {
		if got := bls.EthFastAggregateVerify(tc.keys, msg, tc.sig); got != tc.want {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
	if bls.FastAggregateVerify(nil, msg, inf) {
		t.Error("FastAggregateVerify accepted no keys with infinity")
	}
}

func TestEthAggregatePubkeys(t *testing.T) {
	a, neg := keyPair(t)
	b, _ := keyPair(t)
	if _, err := bls.EthAggregatePubkeys(nil); !errors.Is(err, bls.ErrEmpty) {
		t.Fatalf("no keys: %v", err)
	}
	got, err := bls.EthAggregatePubkeys([]*bls.PublicKey{a.PublicKey()})
	if want := a.PublicKey().Bytes(); err != nil || got != want {
		t.Fatalf("one key: %x, %v", got, err)
	}
	sum, err := a.PublicKey().Add(b.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err = bls.EthAggregatePubkeys([]*bls.PublicKey{a.PublicKey(), b.PublicKey()})
	if want := sum.Bytes(); err != nil || got != want {
		t.Fatalf("two keys: %x, %v", got, err)
	}
	got, err = bls.EthAggregatePubkeys([]*bls.PublicKey{a.PublicKey(), neg.PublicKey()})
	if err != nil || !bytes.Equal(got[:], inf48) {
		t.Fatalf("cancelling keys: %x, %v; want the encoding of infinity, as the specification", got, err)
	}
}
