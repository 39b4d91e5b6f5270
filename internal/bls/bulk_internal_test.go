package bls

import (
	"crypto/rand"
	"errors"
	"testing"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// nonSubgroupG2 finds a compressed G2 encoding of a point on the curve but
// outside the prime-order subgroup, by decoding small x-coordinates with
// herumi's order check briefly off (no test in this package runs in
// parallel, so nothing else sees the switch).
func nonSubgroupG2(t *testing.T) []byte {
	t.Helper()
	ensureInit()
	herumi.VerifySignatureOrder(false)
	defer herumi.VerifySignatureOrder(true)
	for x := byte(1); x < 200; x++ {
		b := make([]byte, SignatureLength)
		b[0] = 0x80 // compressed, x = (c1 = 0, c0 = x)
		b[95] = x
		var s herumi.Sign
		if s.Deserialize(b) == nil && !s.IsValidOrder() {
			return b
		}
	}
	t.Fatal("no non-subgroup G2 point found")
	return nil
}

// TestBulkDecodersRefuseWhatSingleDecodersRefuse checks the bulk decoders'
// reliance on herumi's in-deserialisation subgroup check: points on the
// curve outside the subgroup (the order-3 points with x = 0 in G1, a small-x
// point in G2), infinity, bad flags and lengths are refused exactly like
// the single decoders refuse them, and valid points decode to the same
// values.
func TestBulkDecodersRefuseWhatSingleDecodersRefuse(t *testing.T) {
	sk, err := GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := sk.PublicKey().Bytes()
	sig := sk.Sign([32]byte{1}).Bytes()
	order3 := make([]byte, PublicKeyLength)
	order3[0] = 0x80
	order3Neg := make([]byte, PublicKeyLength)
	order3Neg[0] = 0xa0
	// The x = 0 points are on the curve (y = ±2) and of order 3: only the
	// subgroup check can refuse them.
	herumi.VerifyPublicKeyOrder(false)
	var onCurve herumi.PublicKey
	err = onCurve.Deserialize(order3)
	herumi.VerifyPublicKeyOrder(true)
	if err != nil || onCurve.IsValidOrder() {
		t.Fatalf("x = 0 is not an on-curve point outside the subgroup: %v", err)
	}
	inf := make([]byte, PublicKeyLength)
	inf[0] = 0xc0
	for name, b := range map[string][]byte{
		"valid": pk[:], "order-3 point": order3, "its negation": order3Neg, "infinity": inf,
		"short": pk[:47], "uncompressed flag": append([]byte{pk[0] &^ 0x80}, pk[1:]...),
	} {
		_, single := PublicKeyFromBytes(b)
		got, bulk := PublicKeysFromBytes([][]byte{pk[:], b})
		if (single == nil) != (bulk == nil) || (single != nil && !errors.Is(bulk, unwrapSentinel(single))) {
			t.Errorf("G1 %s: single %v, bulk %v", name, single, bulk)
		}
		if bulk == nil && !got[1].Equal(sk.PublicKey()) {
			t.Errorf("G1 %s: decoded another key", name)
		}
	}
	sinf := make([]byte, SignatureLength)
	sinf[0] = 0xc0
	for name, b := range map[string][]byte{
		"valid": sig[:], "outside the subgroup": nonSubgroupG2(t), "infinity": sinf, "long": append(sig[:], 0),
	} {
		_, single := SignatureFromBytes(b)
		_, bulk := SignaturesFromBytes([][]byte{b, sig[:]})
		if (single == nil) != (bulk == nil) || (single != nil && !errors.Is(bulk, unwrapSentinel(single))) {
			t.Errorf("G2 %s: single %v, bulk %v", name, single, bulk)
		}
	}
	// Many items over several workers: the lowest bad index is reported.
	encs := make([][]byte, 500)
	for i := range encs {
		encs[i] = pk[:]
	}
	encs[321], encs[77] = order3, inf
	if _, err := PublicKeysFromBytes(encs); !errors.Is(err, ErrInfinity) {
		t.Fatalf("bulk error %v, want the one at index 77", err)
	}
}

func unwrapSentinel(err error) error {
	for _, s := range []error{ErrLength, ErrInvalidPoint, ErrInfinity} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}
