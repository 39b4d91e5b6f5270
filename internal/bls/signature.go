package bls

import (
	"encoding/hex"
	"fmt"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// Signature is a G2 point that is canonical, in the subgroup and not
// infinity. Values are immutable once built.
type Signature struct {
	v herumi.Sign
}

// SignatureFromBytes decodes a compressed 96-byte signature with subgroup
// check. Infinity is refused with [ErrInfinity]: no honest signer produces it.
func SignatureFromBytes(b []byte) (*Signature, error) {
	ensureInit()
	return decodeSignature(b, "signature")
}

// decodeSignature is decodePublicKey for G2.
func decodeSignature(b []byte, what string) (*Signature, error) {
	if len(b) != SignatureLength {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", ErrLength, what, len(b), SignatureLength)
	}
	var buf [SignatureLength]byte
	copy(buf[:], b)
	if isCanonicalInfinity(buf[:]) {
		return nil, fmt.Errorf("%w: %s", ErrInfinity, what)
	}
	s := new(Signature)
	if err := s.v.Deserialize(buf[:]); err != nil || s.v.IsZero() {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPoint, what)
	}
	return s, nil
}

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

// Aggregate adds signatures. It refuses an empty list.
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
// several keys. An empty key list is invalid.
func FastAggregateVerify(keys []*PublicKey, msg [32]byte, sig *Signature) bool {
	ensureInit()
	if len(keys) == 0 {
		return false
	}
	m := msg
	return sig.v.FastAggregateVerify(publicKeyValues(keys), m[:])
}

// AggregateVerify verifies an aggregate signature of distinct messages, one
// per key.
func AggregateVerify(keys []*PublicKey, msgs [][32]byte, sig *Signature) bool {
	ensureInit()
	if len(keys) == 0 || len(keys) != len(msgs) {
		return false
	}
	return sig.v.AggregateVerify(publicKeyValues(keys), concatMessages(msgs))
}

// BatchVerify checks many (key, message, signature) triples at once with
// random coefficients: one multi-pairing instead of one pairing per triple.
// It returns true only if every triple is valid (except with negligible
// probability).
func BatchVerify(keys []*PublicKey, msgs [][32]byte, sigs []*Signature) bool {
	ensureInit()
	n := len(keys)
	if n == 0 || len(msgs) != n || len(sigs) != n {
		return false
	}
	return batchVerify(keys, msgs, sigs)
}

// SignatureLinearCombination returns sum(scalars[i]·sigs[i]) in G2: Lagrange
// recovery of a threshold signature is this with Lagrange coefficients.
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

func publicKeyValues(keys []*PublicKey) []herumi.PublicKey {
	out := make([]herumi.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = k.v
	}
	return out
}

// concatMessages copies messages into one fresh byte slice, the layout herumi
// expects and one that holds no Go pointers.
func concatMessages(msgs [][32]byte) []byte {
	out := make([]byte, 0, 32*len(msgs))
	for i := range msgs {
		out = append(out, msgs[i][:]...)
	}
	return out
}
