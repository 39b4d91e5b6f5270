package bls

import (
	"fmt"
	"io"
	"log/slog"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
)

// Scalar is an element of the BLS12-381 scalar field Fr. Threshold code uses
// it for polynomial coefficients, shares and Lagrange coefficients, so it is
// treated as secret: it redacts itself and can be zeroed. The zero value is 0.
type Scalar struct {
	v herumi.Fr
}

// ScalarFromUint64 returns u as a field element (participant ids).
func ScalarFromUint64(u uint64) Scalar {
	ensureInit()
	var s Scalar
	// SetString in base 10 handles the full uint64 range, unlike SetInt64.
	if err := s.v.SetString(fmt.Sprintf("%d", u), 10); err != nil {
		panic("bls: cannot set scalar from uint64")
	}
	return s
}

// ScalarFromBytes decodes a canonical 32-byte big-endian field element.
func ScalarFromBytes(b []byte) (Scalar, error) {
	ensureInit()
	if len(b) != 32 {
		return Scalar{}, fmt.Errorf("%w: scalar has %d bytes, want 32", ErrLength, len(b))
	}
	var buf [32]byte
	copy(buf[:], b)
	defer clear(buf[:])
	var sk herumi.SecretKey
	if err := sk.Deserialize(buf[:]); err != nil {
		return Scalar{}, fmt.Errorf("%w: scalar is not below the group order", ErrInvalidSecretKey)
	}
	s := Scalar{v: *herumi.CastFromSecretKey(&sk)}
	sk = herumi.SecretKey{}
	return s, nil
}

// RandomScalar draws a uniformly random non-zero field element from rand,
// reducing 64 random bytes so the bias is below 2^-250.
func RandomScalar(rand io.Reader) (Scalar, error) {
	ensureInit()
	var buf [64]byte
	defer clear(buf[:])
	for {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return Scalar{}, fmt.Errorf("bls: reading randomness: %w", err)
		}
		var s Scalar
		if err := s.v.SetBigEndianMod(buf[:]); err != nil {
			return Scalar{}, fmt.Errorf("bls: reducing randomness: %w", err)
		}
		if !s.v.IsZero() {
			return s, nil
		}
	}
}

// Bytes returns the 32-byte big-endian encoding; the caller zeroes it.
func (s *Scalar) Bytes() [32]byte {
	var out [32]byte
	sk := herumi.CastToSecretKey(&s.v)
	b := sk.Serialize()
	copy(out[:], b)
	clear(b)
	return out
}

// IsZero reports whether s is 0.
func (s *Scalar) IsZero() bool { return s.v.IsZero() }

// Equal reports whether s == o.
func (s *Scalar) Equal(o *Scalar) bool { return s.v.IsEqual(&o.v) }

// Add returns s + o.
func (s *Scalar) Add(o *Scalar) Scalar {
	var out Scalar
	herumi.FrAdd(&out.v, &s.v, &o.v)
	return out
}

// Sub returns s - o.
func (s *Scalar) Sub(o *Scalar) Scalar {
	var out Scalar
	herumi.FrSub(&out.v, &s.v, &o.v)
	return out
}

// Mul returns s · o.
func (s *Scalar) Mul(o *Scalar) Scalar {
	var out Scalar
	herumi.FrMul(&out.v, &s.v, &o.v)
	return out
}

// Neg returns -s.
func (s *Scalar) Neg() Scalar {
	var out Scalar
	herumi.FrNeg(&out.v, &s.v)
	return out
}

// Inverse returns 1/s; it fails for 0.
func (s *Scalar) Inverse() (Scalar, error) {
	if s.v.IsZero() {
		return Scalar{}, fmt.Errorf("bls: inverse of zero")
	}
	var out Scalar
	herumi.FrInv(&out.v, &s.v)
	return out, nil
}

// Zero overwrites s with 0.
func (s *Scalar) Zero() { s.v.Clear() }

// String implements fmt.Stringer without revealing the value.
func (s Scalar) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the value.
func (s Scalar) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb redacts.
func (s Scalar) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (s Scalar) LogValue() slog.Value { return slog.StringValue(redacted) }
