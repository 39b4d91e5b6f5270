package hsm

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
)

// ClusterID identifies the cluster a share belongs to: 32 bytes chosen by
// whoever defines the cluster (for example a hash of its definition).
type ClusterID [32]byte

// String returns the id in hex.
func (c ClusterID) String() string { return hex.EncodeToString(c[:]) }

// Sealed share format. All integers are big-endian.
//
// Version 1, a share of the cluster's configuration (its members are the
// cluster's participants), has exactly SealedShareLength bytes:
//
//	offset  size  field
//	     0     4  magic "RPSS"
//	     4     1  version (1)
//	     5     2  participant id (1..65535)
//	     7     2  threshold (1..65535)
//	     9    32  cluster id
//	    41    48  composite public key (compressed G1)
//	    89    48  component public key (compressed G1)
//	   137    12  AES-GCM IV, random, made by this package
//	   149    48  AES-256-GCM ciphertext of the 32-byte share, then the 128-bit tag
//
// Version 2 names the share's own configuration: the members that hold the
// account's shares (a subset of the cluster: after a resharing to other
// members, or in a cluster that grew) and its generation (0 for a key
// generation or an import, one more at each resharing of the account).
// Bytes 0..136 are version 1's (with version 2), then:
//
//	   137     8  generation
//	   145     1  m, the number of members (1..MaxMembers)
//	   146    2m  member ids, ascending, the participant among them
//	146+2m    12  AES-GCM IV
//	158+2m    48  AES-256-GCM ciphertext and tag
//
// The additional authenticated data is the domain tag followed by every
// byte before the IV, so editing any metadata field, the version or the
// magic makes unsealing fail. The IV is authenticated by GCM itself.
const (
	// BlobVersion is the sealed share version of a share of the cluster's
	// configuration; BlobVersionMembers the version naming its members
	// and generation. This build reads both and writes the first unless
	// the binding names members or a generation, so that a share an older
	// build made, or one it can still read, is what a key generation or an
	// import writes.
	BlobVersion        = 1
	BlobVersionMembers = 2
	// SealedShareLength is the exact length of a version 1 sealed share.
	SealedShareLength = headerLength + ivLength + sealedLength
	// MaxMembers bounds a version 2 share's members.
	MaxMembers = 64

	blobMagic    = "RPSS"
	headerLength = 137
	ivLength     = 12
	tagBits      = 128
	sealedLength = bls.SecretKeyLength + tagBits/8
	// maxParticipant bounds participant ids and thresholds to the two
	// bytes the format gives them.
	maxParticipant = 1<<16 - 1
)

// sealDomain separates this use of the sealing key from any other: a
// ciphertext made for another purpose under the same key never
// authenticates as a share.
const sealDomain = "rampart/hsm/sealed-share/v1\x00"

// ShareInfo is the public part of a sealed share, readable without the HSM
// (to list share files) and bound to the secret by AES-GCM's additional
// data.
type ShareInfo struct {
	Version     uint8
	ClusterID   ClusterID
	Participant uint64
	Threshold   uint64
	// CompositeKey is the validator's public key, f(0)·G1.
	CompositeKey [bls.PublicKeyLength]byte
	// ComponentKey is this participant's public key, f(i)·G1.
	ComponentKey [bls.PublicKeyLength]byte
	// Generation and Members (version 2 only; zero and nil in version 1,
	// where the members are the cluster's participants): the account's
	// configuration this share belongs to.
	Generation uint64
	Members    []uint64
}

// CompositePublicKey decodes CompositeKey with full validation (subgroup
// check). ReadShareInfo checks only its encoding flags, which keeps listing
// thousands of shares fast; unsealing authenticates the bytes.
func (i *ShareInfo) CompositePublicKey() (*bls.PublicKey, error) {
	pk, err := bls.PublicKeyFromBytes(i.CompositeKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: composite public key: %w", ErrBlobFormat, err)
	}
	return pk, nil
}

// ComponentPublicKey decodes ComponentKey with full validation.
func (i *ShareInfo) ComponentPublicKey() (*bls.PublicKey, error) {
	pk, err := bls.PublicKeyFromBytes(i.ComponentKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: component public key: %w", ErrBlobFormat, err)
	}
	return pk, nil
}

// sealedShare is a parsed blob.
type sealedShare struct {
	info   ShareInfo
	iv     [ivLength]byte
	sealed [sealedLength]byte
}

// ReadShareInfo parses a sealed share's public metadata without the HSM.
// The metadata is authenticated only when the share is unsealed.
func ReadShareInfo(blob []byte) (ShareInfo, error) {
	s, err := parseSealedShare(blob)
	if err != nil {
		return ShareInfo{}, err
	}
	return s.info, nil
}

// parseSealedShare checks the blob's structure: magic, version, exact
// length, non-zero participant and threshold, and the compression flags of
// both public keys.
func parseSealedShare(b []byte) (*sealedShare, error) {
	if len(b) < len(blobMagic)+1 {
		return nil, fmt.Errorf("%w: %d bytes, too short for a header", ErrBlobFormat, len(b))
	}
	if string(b[:len(blobMagic)]) != blobMagic {
		return nil, fmt.Errorf("%w: magic is not %q; not a Rampart sealed share", ErrBlobFormat, blobMagic)
	}
	v := b[4]
	switch v {
	case BlobVersion:
		if len(b) != SealedShareLength {
			return nil, fmt.Errorf("%w: %d bytes, version %d has exactly %d", ErrBlobFormat, len(b), BlobVersion, SealedShareLength)
		}
	case BlobVersionMembers:
		if len(b) < headerLength+9 {
			return nil, fmt.Errorf("%w: %d bytes, too short for a version %d header", ErrBlobFormat, len(b), v)
		}
		m := int(b[headerLength+8])
		if want := headerLength + 9 + 2*m + ivLength + sealedLength; len(b) != want {
			return nil, fmt.Errorf("%w: %d bytes, version %d with %d members has exactly %d", ErrBlobFormat, len(b), v, m, want)
		}
	default:
		return nil, fmt.Errorf("%w: version %d, this build reads versions %d and %d", ErrBlobVersion, v, BlobVersion, BlobVersionMembers)
	}
	s := &sealedShare{}
	s.info.Version = v
	s.info.Participant = uint64(binary.BigEndian.Uint16(b[5:7]))
	s.info.Threshold = uint64(binary.BigEndian.Uint16(b[7:9]))
	copy(s.info.ClusterID[:], b[9:41])
	copy(s.info.CompositeKey[:], b[41:89])
	copy(s.info.ComponentKey[:], b[89:137])
	rest := b[headerLength:]
	if v == BlobVersionMembers {
		s.info.Generation = binary.BigEndian.Uint64(rest)
		m := int(rest[8])
		rest = rest[9:]
		s.info.Members = make([]uint64, m)
		for i := range m {
			s.info.Members[i] = uint64(binary.BigEndian.Uint16(rest[2*i:]))
		}
		rest = rest[2*m:]
	}
	copy(s.iv[:], rest[:ivLength])
	copy(s.sealed[:], rest[ivLength:])
	if err := s.info.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// check validates the fields the format constrains.
func (i *ShareInfo) check() error {
	switch {
	case i.Participant == 0 || i.Participant > maxParticipant:
		return fmt.Errorf("%w: participant id %d is outside 1..%d", ErrBlobFormat, i.Participant, maxParticipant)
	case i.Threshold == 0 || i.Threshold > maxParticipant:
		return fmt.Errorf("%w: threshold %d is outside 1..%d", ErrBlobFormat, i.Threshold, maxParticipant)
	case !compressedPoint(i.CompositeKey[:]):
		return fmt.Errorf("%w: composite public key is not a compressed, non-infinity G1 encoding", ErrBlobFormat)
	case !compressedPoint(i.ComponentKey[:]):
		return fmt.Errorf("%w: component public key is not a compressed, non-infinity G1 encoding", ErrBlobFormat)
	}
	if i.Version == BlobVersionMembers {
		if err := checkMembers(i.Members, i.Participant, i.Threshold); err != nil {
			return fmt.Errorf("%w: %w", ErrBlobFormat, err)
		}
	}
	return nil
}

// checkMembers checks a configuration's members: 1 to MaxMembers distinct
// ids in 1..65535, ascending, participant among them, at least threshold.
func checkMembers(members []uint64, participant, threshold uint64) error {
	if len(members) == 0 || len(members) > MaxMembers {
		return fmt.Errorf("%d members, want 1 to %d", len(members), MaxMembers)
	}
	self := false
	for k, id := range members {
		switch {
		case id == 0 || id > maxParticipant:
			return fmt.Errorf("member %d is outside 1..%d", id, maxParticipant)
		case k > 0 && id <= members[k-1]:
			return fmt.Errorf("members are not distinct and ascending (%d after %d)", id, members[k-1])
		}
		self = self || id == participant
	}
	switch {
	case !self:
		return fmt.Errorf("participant %d is not among the members %v", participant, members)
	case threshold > uint64(len(members)):
		return fmt.Errorf("threshold %d is above the %d members", threshold, len(members))
	}
	return nil
}

// compressedPoint checks the flag bits of a compressed G1 encoding:
// compression set, infinity clear.
func compressedPoint(b []byte) bool { return b[0]&0x80 != 0 && b[0]&0x40 == 0 }

// header encodes every byte before the IV.
func (i *ShareInfo) header() []byte {
	h := make([]byte, 0, headerLength+9+2*len(i.Members))
	h = append(h, blobMagic...)
	h = append(h, i.Version)
	h = binary.BigEndian.AppendUint16(h, uint16(i.Participant))
	h = binary.BigEndian.AppendUint16(h, uint16(i.Threshold))
	h = append(h, i.ClusterID[:]...)
	h = append(h, i.CompositeKey[:]...)
	h = append(h, i.ComponentKey[:]...)
	if i.Version == BlobVersionMembers {
		h = binary.BigEndian.AppendUint64(h, i.Generation)
		h = append(h, byte(len(i.Members)))
		for _, id := range i.Members {
			h = binary.BigEndian.AppendUint16(h, uint16(id))
		}
	}
	return h
}

// additionalData is the AES-GCM AAD: domain tag, then the header.
func (i *ShareInfo) additionalData() []byte {
	return append([]byte(sealDomain), i.header()...)
}

// marshal encodes the blob.
func (s *sealedShare) marshal() []byte {
	h := s.info.header()
	b := make([]byte, 0, len(h)+ivLength+sealedLength)
	b = append(b, h...)
	b = append(b, s.iv[:]...)
	return append(b, s.sealed[:]...)
}
