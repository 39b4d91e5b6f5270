package bls

import (
	"encoding/hex"
	"fmt"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// Signature is a G2 point in the prime-order subgroup, decoded from its
// canonical compressed encoding. It may be the point at infinity, which the
// consensus specification treats as a valid signature: it deserialises,
// Aggregate([infinity]) is infinity, and it verifies under no valid key.
// Where no honest party ever sends infinity (a partial signature, a deposit,
// a DKG message) the caller refuses it with [Signature.IsInfinity] and says
// why. Values are immutable once built.
type Signature struct {
	v herumi.Sign
}

// SignatureFromBytes decodes a compressed 96-byte signature as the
// specification's signature_to_point followed by its subgroup check:
// canonical encoding, on the curve, in the prime-order subgroup. The
// canonical encoding of the point at infinity (0xc0 followed by zeros) is
// accepted; any other encoding with the infinity flag is refused.
func SignatureFromBytes(b []byte) (*Signature, error) {
	ensureInit()
	return decodeSignature(b, "signature")
}

// decodeSignature is decodePublicKey for G2, infinity included.
func decodeSignature(b []byte, what string) (*Signature, error) {
	if len(b) != SignatureLength {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", ErrLength, what, len(b), SignatureLength)
	}
	var buf [SignatureLength]byte
	copy(buf[:], b)
	s := new(Signature)
	if isCanonicalInfinity(buf[:]) {
		// The zero value of herumi's point is infinity (z = 0); herumi's
		// own decoding of these bytes is not relied upon.
		return s, nil
	}
	if err := s.v.Deserialize(buf[:]); err != nil || s.v.IsZero() {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPoint, what)
	}
	return s, nil
}

// IsInfinity reports whether s is the point at infinity.
func (s *Signature) IsInfinity() bool { return s.v.IsZero() }

// Bytes returns the compressed encoding.
func (s *Signature) Bytes() [SignatureLength]byte {
	var out [SignatureLength]byte
	copy(out[:], s.v.Serialize())
	return out
}

// String returns the 0x-prefixed hex encoding.
func (s *Signature) String() string {
	b := s.Bytes()
	return "0x" + hex.EncodeToString(b[:])
}

// Equal reports whether two signatures are the same point.
func (s *Signature) Equal(o *Signature) bool { return s.v.IsEqual(&o.v) }

// Verify reports whether s is a valid signature of msg under pk.
func (s *Signature) Verify(pk *PublicKey, msg [32]byte) bool { return pk.Verify(msg, s) }

// Aggregate adds signatures, as the specification's Aggregate: an empty
// list is invalid ([ErrEmpty]); members at infinity add nothing, and the sum
// may be infinity (Aggregate([infinity]) = infinity).
func Aggregate(sigs []*Signature) (*Signature, error) {
	ensureInit()
	if len(sigs) == 0 {
		return nil, ErrEmpty
	}
	out := &Signature{v: sigs[0].v}
	for _, s := range sigs[1:] {
		out.v.Add(&s.v)
	}
	return out, nil
}

// FastAggregateVerify verifies an aggregate signature of one message by
// several keys, as the specification's FastAggregateVerify: false for an
// empty key list, and false when the keys sum to infinity (the aggregate key
// then fails the KeyValidate of CoreVerify, which a bare pairing check would
// miss: keys pk and -pk with the infinity signature satisfy it).
func FastAggregateVerify(keys []*PublicKey, msg [32]byte, sig *Signature) bool {
	ensureInit()
	if len(keys) == 0 {
		return false
	}
	agg := sumKeys(keys)
	if agg.IsZero() {
		return false
	}
	return verify(herumi.CastToPublicKey(&agg), msg, sig)
}

// EthFastAggregateVerify is the consensus specification's
// eth_fast_aggregate_verify (Altair): true for no keys with the infinity
// signature (an empty sync committee aggregate), else FastAggregateVerify.
func EthFastAggregateVerify(keys []*PublicKey, msg [32]byte, sig *Signature) bool {
	if len(keys) == 0 && sig.IsInfinity() {
		return true
	}
	return FastAggregateVerify(keys, msg, sig)
}

// AggregateVerify verifies an aggregate signature of one message per key, as
// the specification's AggregateVerify for the proof-of-possession scheme
// Ethereum uses (CoreAggregateVerify): false for no keys or mismatched
// lists; messages need not be distinct (herumi's AggregateVerify, which
// insists they are, is not used); the signature may be infinity, which
// verifies only if the keys' pairings cancel, exactly as the specification
// computes it.
func AggregateVerify(keys []*PublicKey, msgs [][32]byte, sig *Signature) bool {
	ensureInit()
	if len(keys) == 0 || len(keys) != len(msgs) {
		return false
	}
	g1 := make([]herumi.G1, len(keys))
	for i, k := range keys {
		g1[i] = *herumi.CastFromPublicKey(&k.v)
	}
	return pairingCheck(*herumi.CastFromSign(&sig.v), g1, msgs)
}

// BatchVerify checks many (key, message, signature) triples at once with
// random coefficients: one multi-pairing instead of one pairing per triple.
// It returns true only if every triple is valid, that is if Verify would
// accept each (except with negligible probability). A signature at
// infinity verifies under no valid key, so a batch holding one is refused
// without computing anything.
func BatchVerify(keys []*PublicKey, msgs [][32]byte, sigs []*Signature) bool {
	ensureInit()
	n := len(keys)
	if n == 0 || len(msgs) != n || len(sigs) != n {
		return false
	}
	for _, s := range sigs {
		if s.IsInfinity() {
			return false
		}
	}
	return batchVerify(keys, msgs, sigs)
}

// SignatureLinearCombination returns sum(scalars[i]·sigs[i]) in G2: Lagrange
// recovery of a threshold signature is this with Lagrange coefficients. It is
// Rampart's operation, not the specification's, and refuses a result at
// infinity with [ErrInfinity]: recovery from honest partials never gives it.
func SignatureLinearCombination(sigs []*Signature, scalars []Scalar) (*Signature, error) {
	ensureInit()
	if len(sigs) == 0 {
		return nil, ErrEmpty
	}
	if len(sigs) != len(scalars) {
		return nil, ErrMismatch
	}
	pts := make([]herumi.G2, len(sigs))
	frs := make([]herumi.Fr, len(sigs))
	for i := range sigs {
		pts[i] = *herumi.CastFromSign(&sigs[i].v)
		frs[i] = scalars[i].v
	}
	var out herumi.G2
	herumi.G2MulVec(&out, pts, frs)
	if out.IsZero() {
		return nil, fmt.Errorf("%w: linear combination of signatures", ErrInfinity)
	}
	return &Signature{v: *herumi.CastToSign(&out)}, nil
}
