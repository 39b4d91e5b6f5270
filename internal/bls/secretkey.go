package bls

import (
	"fmt"
	"io"
	"log/slog"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// Encoding lengths of the Ethereum BLS12-381 types.
const (
	SecretKeyLength = 32
	PublicKeyLength = 48
	SignatureLength = 96
)

const redacted = "[REDACTED]"

// SecretKey is a BLS secret key or key share. Its zero value is not a usable
// key; build one with [SecretKeyFromBytes], [GenerateSecretKey] or
// [SecretKeyFromScalar]. It never prints its value.
type SecretKey struct {
	v herumi.SecretKey
}

// SecretKeyFromBytes decodes a 32-byte big-endian secret key. Zero and values
// at or above the group order are refused. The input is not retained; the
// caller zeroes it when done.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	ensureInit()
	if len(b) != SecretKeyLength {
		return nil, fmt.Errorf("%w: secret key has %d bytes, want %d", ErrLength, len(b), SecretKeyLength)
	}
	var buf [SecretKeyLength]byte
	copy(buf[:], b)
	defer clear(buf[:])
	sk := new(SecretKey)
	// herumi's own error text would echo the key in hex; never surface it.
	if err := sk.v.Deserialize(buf[:]); err != nil {
		return nil, fmt.Errorf("%w: secret key is not below the group order", ErrInvalidSecretKey)
	}
	if sk.v.IsZero() {
		return nil, fmt.Errorf("%w: secret key is zero", ErrInvalidSecretKey)
	}
	return sk, nil
}

// GenerateSecretKey draws a uniformly random non-zero secret key from rand.
func GenerateSecretKey(rand io.Reader) (*SecretKey, error) {
	s, err := RandomScalar(rand)
	if err != nil {
		return nil, err
	}
	defer s.Zero()
	return SecretKeyFromScalar(&s)
}

// SecretKeyFromScalar makes a secret key with the value of a non-zero scalar.
func SecretKeyFromScalar(s *Scalar) (*SecretKey, error) {
	ensureInit()
	if s.IsZero() {
		return nil, fmt.Errorf("%w: secret key is zero", ErrInvalidSecretKey)
	}
	sk := new(SecretKey)
	sk.v = *herumi.CastToSecretKey(&s.v)
	return sk, nil
}

// Scalar returns the key's value as a field element. The caller zeroes it.
func (sk *SecretKey) Scalar() Scalar {
	return Scalar{v: *herumi.CastFromSecretKey(&sk.v)}
}

// Bytes returns the 32-byte big-endian encoding. The caller must zero the
// result as soon as it is no longer needed.
func (sk *SecretKey) Bytes() [SecretKeyLength]byte {
	var out [SecretKeyLength]byte
	b := sk.v.Serialize()
	copy(out[:], b)
	clear(b)
	return out
}

// PublicKey returns the public key sk·G1.
func (sk *SecretKey) PublicKey() *PublicKey {
	ensureInit()
	return &PublicKey{v: *sk.v.GetPublicKey()}
}

// Sign signs a 32-byte signing root.
func (sk *SecretKey) Sign(msg [32]byte) *Signature {
	ensureInit()
	m := msg // a plain array on this stack frame, never a slice into a caller's struct
	return &Signature{v: *sk.v.SignByte(m[:])}
}

// Equal reports whether two keys have the same value.
func (sk *SecretKey) Equal(o *SecretKey) bool { return sk.v.IsEqual(&o.v) }

// Zero overwrites the key in place. The key is unusable afterwards.
func (sk *SecretKey) Zero() {
	if sk != nil {
		sk.v = herumi.SecretKey{}
	}
}

// String implements fmt.Stringer without revealing the key.
func (sk *SecretKey) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the key.
func (sk *SecretKey) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%x, %v, %+v...) redacts.
func (sk *SecretKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (sk *SecretKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText refuses to serialise the key into any text format.
func (sk *SecretKey) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("bls: secret keys cannot be marshalled")
}
