package tss

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/rampart-signer/rampart/internal/bls"
)

const redacted = "[REDACTED]"

// Share is one participant's secret key share of one account: the value
// f(id) of the account's polynomial. It signs partial signatures and
// redacts itself everywhere it could be printed or encoded.
type Share struct {
	id  ID
	key *bls.SecretKey
	pub *bls.PublicKey
}

// NewShare wraps a key share for participant id. The share takes ownership
// of key: [Share.Zero] zeroes it.
func NewShare(id ID, key *bls.SecretKey) (*Share, error) {
	if id == 0 {
		return nil, fmt.Errorf("%w: share for participant zero", ErrInvalidID)
	}
	if key == nil {
		return nil, fmt.Errorf("%w: share without a key", ErrInvalidInput)
	}
	return &Share{id: id, key: key, pub: key.PublicKey()}, nil
}

// ShareFromBytes decodes a 32-byte big-endian key share for participant id,
// as unsealed from storage. The caller zeroes b.
func ShareFromBytes(id ID, b []byte) (*Share, error) {
	key, err := bls.SecretKeyFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("tss: share of participant %s: %w", id, err)
	}
	return NewShare(id, key)
}

// ID returns the participant id the share belongs to.
func (s *Share) ID() ID { return s.id }

// PublicKey returns the component public key f(id)·G1.
func (s *Share) PublicKey() *bls.PublicKey { return s.pub }

// Sign returns the partial signature of a signing root.
func (s *Share) Sign(root [32]byte) *bls.Signature { return s.key.Sign(root) }

// Bytes returns the 32-byte encoding of the share, for sealing. The caller
// zeroes the result as soon as it is sealed.
func (s *Share) Bytes() [bls.SecretKeyLength]byte { return s.key.Bytes() }

// Zero overwrites the share in place; it is unusable afterwards.
func (s *Share) Zero() {
	if s != nil {
		s.key.Zero()
	}
}

// String implements fmt.Stringer without revealing the share.
func (s *Share) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the share.
func (s *Share) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb redacts.
func (s *Share) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (s *Share) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText refuses to encode the share in any text format.
func (s *Share) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("tss: key shares cannot be marshalled")
}
