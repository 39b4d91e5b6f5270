package bls

import (
	"encoding/hex"
	"fmt"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// PublicKey is a G1 point that passed KeyValidate: canonical, in the
// subgroup, not infinity. Values are immutable once built.
type PublicKey struct {
	v herumi.PublicKey
}

// PublicKeyFromBytes decodes a compressed 48-byte public key and applies the
// consensus specification's KeyValidate.
func PublicKeyFromBytes(b []byte) (*PublicKey, error) {
	ensureInit()
	return decodePublicKey(b, "public key")
}

// decodePublicKey copies b into a plain array before it crosses into C (b
// may point into a struct that holds Go pointers, which cgo refuses) and
// relies on the subgroup check herumi performs while deserialising, which
// ensureInit enables for every point.
func decodePublicKey(b []byte, what string) (*PublicKey, error) {
	pk, err := decodeG1(b, what)
	if err != nil {
		return nil, err
	}
	if pk == nil {
		// KeyValidate: a well-formed point, but never a key.
		return nil, fmt.Errorf("%w: %s", ErrInfinity, what)
	}
	return pk, nil
}

// decodeG1 is the specification's pubkey_to_point with its subgroup check:
// it returns the point, or nil and no error for the canonical encoding of
// infinity.
func decodeG1(b []byte, what string) (*PublicKey, error) {
	if len(b) != PublicKeyLength {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", ErrLength, what, len(b), PublicKeyLength)
	}
	var buf [PublicKeyLength]byte
	copy(buf[:], b)
	if isCanonicalInfinity(buf[:]) {
		return nil, nil
	}
	pk := new(PublicKey)
	if err := pk.v.Deserialize(buf[:]); err != nil || pk.v.IsZero() {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPoint, what)
	}
	return pk, nil
}

// CheckG1Encoding reports whether b is the compressed encoding of a point of
// G1: canonical, on the curve, in the prime-order subgroup, the point at
// infinity included (the specification's deserialisation, which the
// deserialization_G1 vectors test). It returns [ErrLength] or
// [ErrInvalidPoint]. A public key must pass KeyValidate too, which refuses
// infinity: decode keys with [PublicKeyFromBytes].
func CheckG1Encoding(b []byte) error {
	ensureInit()
	_, err := decodeG1(b, "G1 point")
	return err
}

// MustPublicKeyFromHex decodes a 0x-prefixed key; for constants and tests only.
func MustPublicKeyFromHex(s string) *PublicKey {
	b, err := decodeHex(s)
	if err != nil {
		panic(err)
	}
	pk, err := PublicKeyFromBytes(b)
	if err != nil {
		panic(err)
	}
	return pk
}

// Bytes returns the compressed encoding.
func (pk *PublicKey) Bytes() [PublicKeyLength]byte {
	var out [PublicKeyLength]byte
	copy(out[:], pk.v.Serialize())
	return out
}

// String returns the 0x-prefixed hex encoding.
func (pk *PublicKey) String() string {
	b := pk.Bytes()
	return "0x" + hex.EncodeToString(b[:])
}

// Equal reports whether two keys are the same point.
func (pk *PublicKey) Equal(o *PublicKey) bool { return pk.v.IsEqual(&o.v) }

// Verify reports whether sig is a valid signature of msg under pk, as the
// specification's Verify (CoreVerify). A signature at infinity verifies
// under no valid key.
func (pk *PublicKey) Verify(msg [32]byte, sig *Signature) bool {
	ensureInit()
	return verify(&pk.v, msg, sig)
}

// verify checks e(pk, H(msg)) == e(G1, sig) for a key that passed
// KeyValidate. With sig at infinity the right side is 1 and the left is not
// (pk and H(msg) are both of prime order and the pairing is
// non-degenerate), so the answer is false without asking herumi what it
// makes of infinity.
func verify(pk *herumi.PublicKey, msg [32]byte, sig *Signature) bool {
	if sig.IsInfinity() {
		return false
	}
	m := msg
	return sig.v.VerifyByte(pk, m[:])
}

// EthAggregatePubkeys is the consensus specification's eth_aggregate_pubkeys
// (Altair): the sum of keys that each passed KeyValidate, as a compressed
// encoding. An empty list is invalid ([ErrEmpty]). The sum itself is not
// validated, as in the specification: keys that cancel give the encoding of
// infinity, which [PublicKeyFromBytes] refuses should anyone use it as a key.
func EthAggregatePubkeys(keys []*PublicKey) ([PublicKeyLength]byte, error) {
	ensureInit()
	var out [PublicKeyLength]byte
	if len(keys) == 0 {
		return out, ErrEmpty
	}
	agg := sumKeys(keys)
	if agg.IsZero() {
		out[0] = 0xc0
		return out, nil
	}
	copy(out[:], herumi.CastToPublicKey(&agg).Serialize())
	return out, nil
}

// sumKeys adds a non-empty list of keys; the sum may be infinity.
func sumKeys(keys []*PublicKey) herumi.G1 {
	agg := *herumi.CastFromPublicKey(&keys[0].v)
	for _, k := range keys[1:] {
		herumi.G1Add(&agg, &agg, herumi.CastFromPublicKey(&k.v))
	}
	return agg
}

// Add returns pk + o. The result may be infinity, in which case an error is
// returned, since infinity is never a usable key.
func (pk *PublicKey) Add(o *PublicKey) (*PublicKey, error) {
	out := &PublicKey{v: pk.v}
	out.v.Add(&o.v)
	if out.v.IsZero() {
		return nil, fmt.Errorf("%w: sum of public keys", ErrInfinity)
	}
	return out, nil
}

// PublicKeyLinearCombination returns sum(scalars[i]·keys[i]). Threshold code
// uses it to recover composite keys and to evaluate Feldman commitments.
func PublicKeyLinearCombination(keys []*PublicKey, scalars []Scalar) (*PublicKey, error) {
	ensureInit()
	if len(keys) == 0 {
		return nil, ErrEmpty
	}
	if len(keys) != len(scalars) {
		return nil, ErrMismatch
	}
	pts := make([]herumi.G1, len(keys))
	frs := make([]herumi.Fr, len(keys))
	for i := range keys {
		pts[i] = *herumi.CastFromPublicKey(&keys[i].v)
		frs[i] = scalars[i].v
	}
	var out herumi.G1
	herumi.G1MulVec(&out, pts, frs)
	clear(frs)
	if out.IsZero() {
		return nil, fmt.Errorf("%w: linear combination of public keys", ErrInfinity)
	}
	return &PublicKey{v: *herumi.CastToPublicKey(&out)}, nil
}

// PublicKeyFromScalar returns s·G1 for a non-zero scalar.
func PublicKeyFromScalar(s *Scalar) (*PublicKey, error) {
	sk, err := SecretKeyFromScalar(s)
	if err != nil {
		return nil, err
	}
	defer sk.Zero()
	return sk.PublicKey(), nil
}

// isCanonicalInfinity reports whether b is the compressed encoding of the
// point at infinity: compression and infinity flags set, sign flag and every
// other bit clear.
func isCanonicalInfinity(b []byte) bool {
	if len(b) == 0 || b[0] != 0xc0 {
		return false
	}
	for _, x := range b[1:] {
		if x != 0 {
			return false
		}
	}
	return true
}

func decodeHex(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return nil, fmt.Errorf("bls: hex string lacks 0x prefix")
	}
	return hex.DecodeString(s[2:])
}
