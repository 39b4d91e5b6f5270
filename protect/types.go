package protect

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// PublicKeyLength and RootLength are the byte lengths of the two fixed-size
// values the database is keyed by.
const (
	PublicKeyLength = 48
	RootLength      = 32
)

// PublicKey is a validator's composite BLS public key in its compressed
// encoding. The database compares keys as bytes and never decodes the point:
// protection must hold for whatever key the signer is asked to sign with.
type PublicKey [PublicKeyLength]byte

// String returns the 0x-prefixed lower-case hex encoding, as EIP-3076 writes it.
func (k PublicKey) String() string { return "0x" + hex.EncodeToString(k[:]) }

// ParsePublicKey decodes a 0x-prefixed hex public key.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	err := decodeHex(k[:], s)
	return k, err
}

// Root is a 32-byte signing root or genesis validators root.
type Root [RootLength]byte

// String returns the 0x-prefixed lower-case hex encoding.
func (r Root) String() string { return "0x" + hex.EncodeToString(r[:]) }

// ParseRoot decodes a 0x-prefixed hex root.
func ParseRoot(s string) (Root, error) {
	var r Root
	err := decodeHex(r[:], s)
	return r, err
}

// decodeHex fills dst from a 0x-prefixed hex string of exactly 2*len(dst)
// digits. Errors name what is wrong but never repeat more of the input than a
// single offending character, so a pasted secret cannot leak through them.
func decodeHex(dst []byte, s string) error {
	if !strings.HasPrefix(s, "0x") {
		return fmt.Errorf("must start with 0x")
	}
	h := s[2:]
	if len(h) != 2*len(dst) {
		return fmt.Errorf("has %d hex digits, want %d", len(h), 2*len(dst))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("invalid hex digit %q at offset %d", c, i+2)
		}
	}
	_, err := hex.Decode(dst, []byte(h))
	return err
}

// Block is a request to sign a beacon block proposal.
type Block struct {
	// Slot is the block's slot.
	Slot uint64
	// SigningRoot is compute_signing_root(block, domain), computed by the
	// signer itself.
	SigningRoot Root
}

// Attestation is a request to sign attestation data.
type Attestation struct {
	// Source is attestation.data.source.epoch.
	Source uint64
	// Target is attestation.data.target.epoch.
	Target uint64
	// SigningRoot is compute_signing_root(attestation_data, domain),
	// computed by the signer itself.
	SigningRoot Root
}

// AttestationRequest is one item of a batch: an attestation for one
// validator.
type AttestationRequest struct {
	// Key is the validator's composite public key.
	Key PublicKey
	Attestation
}
