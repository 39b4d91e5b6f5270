package bls_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// The consensus specification's answers about the G2 point at infinity,
// checked with values built here (the official vectors cover the rest). The
// point is built as sig + (-sig) as well as decoded, so that each check
// depends on the arithmetic and not on one decoder.

var (
	inf96 = append([]byte{0xc0}, make([]byte, 95)...)
	inf48 = append([]byte{0xc0}, make([]byte, 47)...)
)

// keyPair returns a fresh key and its negation (the key of -sk).
func keyPair(t *testing.T) (sk, neg *bls.SecretKey) {
	t.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := sk.Scalar()
	n := s.Neg()
	if neg, err = bls.SecretKeyFromScalar(&n); err != nil {
		t.Fatal(err)
	}
	return sk, neg
}

// infinityOf returns sig + (-sig) for a fresh key: the point at infinity,
// by arithmetic.
func infinityOf(t *testing.T, msg [32]byte) *bls.Signature {
	t.Helper()
	sk, neg := keyPair(t)
	inf, err := bls.Aggregate([]*bls.Signature{sk.Sign(msg), neg.Sign(msg)})
	if err != nil {
		t.Fatal(err)
	}
	if b := inf.Bytes(); !bytes.Equal(b[:], inf96) {
		t.Fatalf("sig + (-sig) encodes as %x", b)
	}
	return inf
}

func TestSignatureAtInfinityDecodesOnlyInItsCanonicalEncoding(t *testing.T) {
	sig, err := bls.SignatureFromBytes(inf96)
	if err != nil {
		t.Fatalf("canonical infinity refused: %v", err)
	}
	if b := sig.Bytes(); !bytes.Equal(b[:], inf96) {
		t.Fatalf("infinity re-encodes as %x", b)
	}
	if !sig.Equal(infinityOf(t, [32]byte{1})) {
		t.Fatal("decoded infinity differs from sig + (-sig)")
	}
	for name, b := range map[string][]byte{
		"refuses the infinity flag without the compression flag": append([]byte{0x40}, make([]byte, 95)...),
		"refuses infinity with the sign flag":                    append([]byte{0xe0}, make([]byte, 95)...),
		"refuses infinity with a non-zero x":                     append(append([]byte{0xc0}, make([]byte, 94)...), 1),
		"refuses all zeros":                                      make([]byte, 96),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := bls.SignatureFromBytes(b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAggregateWithInfinityMembers(t *testing.T) {
	inf, err := bls.SignatureFromBytes(inf96)
	if err != nil {
		t.Fatal(err)
	}
	agg, err := bls.Aggregate([]*bls.Signature{inf})
	if err != nil {
		t.Fatal(err)
	}
	if b := agg.Bytes(); !bytes.Equal(b[:], inf96) {
		t.Fatalf("Aggregate([infinity]) = %x, want infinity", b)
	}
	sk, _ := keyPair(t)
	sig := sk.Sign([32]byte{3})
	for _, list := range [][]*bls.Signature{{sig, inf}, {inf, sig}, {inf, sig, inf}} {
		agg, err := bls.Aggregate(list)
		if err != nil || !agg.Equal(sig) {
			t.Fatalf("Aggregate with infinity members = %v, %v; want the other member", agg, err)
		}
	}
	if _, err := bls.Aggregate(nil); err == nil {
		t.Fatal("Aggregate([]) succeeded")
	}
}

func TestVerifyRefusesInfinityUnderEveryKey(t *testing.T) {
	msg := [32]byte{4}
	inf := infinityOf(t, msg)
	for range 4 {
		sk, _ := keyPair(t)
		if sk.PublicKey().Verify(msg, inf) || inf.Verify(sk.PublicKey(), msg) {
			t.Fatal("infinity verified under a valid key")
		}
	}
}

// Keys pk and -pk sum to infinity, and with the infinity signature the bare
// pairing equation e(pk + -pk, H(m)) = e(G1, infinity) holds: the
// specification's CoreVerify refuses the aggregate key (KeyValidate), so
// FastAggregateVerify is false.
func TestFastAggregateVerifyRefusesKeysThatCancel(t *testing.T) {
	msg := [32]byte{5}
	sk, neg := keyPair(t)
	inf := infinityOf(t, msg)
	if bls.FastAggregateVerify([]*bls.PublicKey{sk.PublicKey(), neg.PublicKey()}, msg, inf) {
		t.Fatal("FastAggregateVerify accepted keys that sum to infinity with the infinity signature")
	}
	other, _ := keyPair(t)
	keys := []*bls.PublicKey{sk.PublicKey(), neg.PublicKey(), other.PublicKey()}
	if !bls.FastAggregateVerify(keys, msg, other.Sign(msg)) {
		t.Fatal("FastAggregateVerify refused a valid aggregate whose keys include a cancelling pair")
	}
}

// Ethereum's proof-of-possession scheme verifies aggregates with
// CoreAggregateVerify, which does not ask for distinct messages.
func TestAggregateVerifyAcceptsRepeatedMessages(t *testing.T) {
	a, _ := keyPair(t)
	b, _ := keyPair(t)
	m1, m2 := [32]byte{6}, [32]byte{7}
	agg, err := bls.Aggregate([]*bls.Signature{a.Sign(m1), b.Sign(m1), a.Sign(m2)})
	if err != nil {
		t.Fatal(err)
	}
	keys := []*bls.PublicKey{a.PublicKey(), b.PublicKey(), a.PublicKey()}
	if !bls.AggregateVerify(keys, [][32]byte{m1, m1, m2}, agg) {
		t.Fatal("AggregateVerify refused a valid aggregate with a repeated message")
	}
	if bls.AggregateVerify(keys, [][32]byte{m1, m2, m2}, agg) {
		t.Fatal("AggregateVerify accepted the wrong messages")
	}
	if bls.AggregateVerify(nil, nil, agg) || bls.AggregateVerify(keys, [][32]byte{m1}, agg) {
		t.Fatal("AggregateVerify accepted no keys or mismatched lists")
	}
}

// CoreAggregateVerify with the infinity signature holds exactly when the
// keys' pairings cancel: pk and -pk over one message do, over two messages
// they do not.
func TestAggregateVerifyWithInfinityFollowsTheArithmetic(t *testing.T) {
	sk, neg := keyPair(t)
	m1, m2 := [32]byte{8}, [32]byte{9}
	inf := infinityOf(t, m1)
	keys := []*bls.PublicKey{sk.PublicKey(), neg.PublicKey()}
	if !bls.AggregateVerify(keys, [][32]byte{m1, m1}, inf) {
		t.Fatal("pk and -pk over one message with infinity: the specification says valid")
	}
	if bls.AggregateVerify(keys, [][32]byte{m1, m2}, inf) {
		t.Fatal("pk and -pk over two messages with infinity: the specification says invalid")
	}
	if bls.AggregateVerify(keys[:1], [][32]byte{m1}, inf) {
		t.Fatal("one key with infinity verified")
	}
}

// Batch verification answers as Verify on each triple: a triple with the
// infinity signature is invalid, even when it would cancel against another.
func TestBatchVerifyRefusesInfinityMembers(t *testing.T) {
	msg := [32]byte{10}
	sk, neg := keyPair(t)
	other, _ := keyPair(t)
	inf := infinityOf(t, msg)
	for name, tc := range map[string]struct {
		keys []*bls.PublicKey
		sigs []*bls.Signature
	}{
		"one infinity among valid":      {[]*bls.PublicKey{other.PublicKey(), sk.PublicKey()}, []*bls.Signature{other.Sign(msg), inf}},
		"cancelling keys with infinity": {[]*bls.PublicKey{sk.PublicKey(), neg.PublicKey()}, []*bls.Signature{inf, inf}},
		"cancelling signatures":         {[]*bls.PublicKey{sk.PublicKey(), neg.PublicKey()}, []*bls.Signature{neg.Sign(msg), sk.Sign(msg)}},
	} {
		t.Run(name, func(t *testing.T) {
			msgs := make([][32]byte, len(tc.keys))
			for i := range msgs {
				msgs[i] = msg
			}
			if bls.BatchVerify(tc.keys, msgs, tc.sigs) {
				t.Fatal("batch accepted")
			}
		})
	}
	if !bls.BatchVerify([]*bls.PublicKey{sk.PublicKey(), neg.PublicKey()}, [][32]byte{msg, msg}, []*bls.Signature{sk.Sign(msg), neg.Sign(msg)}) {
		t.Fatal("valid batch with cancelling keys refused")
	}
}
