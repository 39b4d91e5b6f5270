package api

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Uint64 is an unsigned 64-bit integer encoded as a decimal JSON string
// without sign or leading zeros, as the API's Uint64 schema requires.
type Uint64 uint64

// MarshalText implements encoding.TextMarshaler.
func (u Uint64) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatUint(uint64(u), 10)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *Uint64) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return fmt.Errorf("not a canonical decimal uint64")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not a decimal uint64")
	}
	*u = Uint64(v)
	return nil
}

// PublicKey is a 48-byte compressed BLS public key in 0x-prefixed hex.
type PublicKey [48]byte

// Root is a 32-byte root in 0x-prefixed hex.
type Root [32]byte

// Signature is a 96-byte compressed BLS signature in 0x-prefixed hex.
type Signature [96]byte

func marshalHex(b []byte) ([]byte, error) {
	out := make([]byte, 2+2*len(b))
	copy(out, "0x")
	hex.Encode(out[2:], b)
	return out, nil
}

func unmarshalHex(dst []byte, text []byte) error {
	s := string(text)
	if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return fmt.Errorf("missing 0x prefix")
	}
	if len(s)-2 != 2*len(dst) {
		return fmt.Errorf("has %d hex digits, want %d", len(s)-2, 2*len(dst))
	}
	if _, err := hex.Decode(dst, text[2:]); err != nil {
		return fmt.Errorf("not hexadecimal")
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p PublicKey) MarshalText() ([]byte, error) { return marshalHex(p[:]) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PublicKey) UnmarshalText(b []byte) error { return unmarshalHex(p[:], b) }

// String returns the 0x-prefixed hex form.
func (p PublicKey) String() string { b, _ := p.MarshalText(); return string(b) }

// MarshalText implements encoding.TextMarshaler.
func (r Root) MarshalText() ([]byte, error) { return marshalHex(r[:]) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Root) UnmarshalText(b []byte) error { return unmarshalHex(r[:], b) }

// String returns the 0x-prefixed hex form.
func (r Root) String() string { b, _ := r.MarshalText(); return string(b) }

// MarshalText implements encoding.TextMarshaler.
func (s Signature) MarshalText() ([]byte, error) { return marshalHex(s[:]) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Signature) UnmarshalText(b []byte) error { return unmarshalHex(s[:], b) }

// String returns the 0x-prefixed hex form.
func (s Signature) String() string { b, _ := s.MarshalText(); return string(b) }

// ParsePublicKey decodes a 0x-prefixed public key, e.g. from a URL path.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	err := p.UnmarshalText([]byte(s))
	return p, err
}

// ParseRoot decodes a 0x-prefixed 32-byte root.
func ParseRoot(s string) (Root, error) {
	var r Root
	err := r.UnmarshalText([]byte(s))
	return r, err
}
