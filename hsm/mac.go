package hsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
)

// Authentication tags, version 1: a GMAC made by the sealing key, so that
// a signer can authenticate records it keeps on disk (audit log
// checkpoints) without a second key object in the HSM. GMAC is AES-GCM over
// an empty plaintext with the message as additional data; the sealing key's
// only allowed mechanism, CKM_AES_GCM, does exactly that.
//
//	offset  size  field
//	     0     4  magic "RPMT"
//	     4     1  version (1)
//	     5    12  AES-GCM IV, random, made by this package
//	    17    16  GCM tag
//
// The additional data is a domain tag of its own, bytes 0..4, the caller's
// label with its length, then the message. A sealed share or sealed data
// blob has another domain tag and a non-empty ciphertext or another AAD
// prefix, so no tag ever authenticates as a sealed blob nor the reverse.
const (
	// TagVersion is the tag version this build writes and reads.
	TagVersion = 1
	// TagLength is the exact length of a version 1 tag.
	TagLength = len(tagMagic) + 1 + ivLength + tagBits/8
	// MaxTaggedData is the largest message Tag accepts.
	MaxTaggedData = 1 << 20

	tagMagic = "RPMT"
)

// tagDomain separates tags from every other use of the sealing key.
const tagDomain = "rampart/hsm/gmac/v1\x00"

func tagAAD(label, data []byte) []byte {
	aad := make([]byte, 0, len(tagDomain)+len(tagMagic)+1+4+len(label)+len(data))
	aad = append(aad, tagDomain...)
	aad = append(aad, tagMagic...)
	aad = append(aad, TagVersion)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(label)))
	aad = append(aad, label...)
	return append(aad, data...)
}

// Tag authenticates data, bound to label (which says what the data is),
// inside the HSM and returns a TagLength-byte tag. Each tag draws a fresh
// random 96-bit IV, as seals do; the key's budget of 2^32 IVs covers a tag
// a second for a century. The tag is checked once in the HSM before it is
// returned, so a module that mis-tags is caught at once.
func (k *SealingKey) Tag(ctx context.Context, data, label []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	if len(data) > MaxTaggedData {
		return nil, fmt.Errorf("%w: %d bytes of data to tag, at most %d", ErrInvalidBinding, len(data), MaxTaggedData)
	}
	var iv [ivLength]byte
	if _, err := io.ReadFull(k.t.opts.Rand, iv[:]); err != nil {
		return nil, fmt.Errorf("hsm: drawing an AES-GCM IV: %w", err)
	}
	aad := tagAAD(label, data)
	var mac []byte
	err := k.t.do(ctx, "tagging data", func(c *conn, s pkcs11.SessionHandle) error {
		var err error
		mac, err = k.encryptGCM(c, s, iv, aad, nil)
		if err != nil {
			return err
		}
		if _, err := k.decryptGCM(c, s, iv, aad, mac); err != nil {
			return fmt.Errorf("%w: a tag just made does not verify: %w", ErrModule, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, TagLength)
	out = append(out, tagMagic...)
	out = append(out, TagVersion)
	out = append(out, iv[:]...)
	return append(out, mac...), nil
}

// VerifyTag checks a tag made by Tag over data with the same label. It
// returns an error matching ErrTag when the tag does not authenticate them
// under this key, and ErrBlobFormat or ErrBlobVersion, before the HSM sees
// anything, when the tag is malformed.
func (k *SealingKey) VerifyTag(ctx context.Context, data, label, tag []byte) error {
	if err := checkLabel(label); err != nil {
		return err
	}
	if len(data) > MaxTaggedData {
		return fmt.Errorf("%w: %d bytes of data to verify, at most %d", ErrInvalidBinding, len(data), MaxTaggedData)
	}
	switch {
	case len(tag) < len(tagMagic)+1 || string(tag[:len(tagMagic)]) != tagMagic:
		return fmt.Errorf("%w: not a Rampart authentication tag", ErrBlobFormat)
	case tag[len(tagMagic)] != TagVersion:
		return fmt.Errorf("%w: tag version %d, this build reads version %d", ErrBlobVersion, tag[len(tagMagic)], TagVersion)
	case len(tag) != TagLength:
		return fmt.Errorf("%w: tag has %d bytes, want %d", ErrBlobFormat, len(tag), TagLength)
	}
	var iv [ivLength]byte
	copy(iv[:], tag[len(tagMagic)+1:])
	mac := tag[len(tagMagic)+1+ivLength:]
	aad := tagAAD(label, data)
	return k.t.do(ctx, "verifying a tag", func(c *conn, s pkcs11.SessionHandle) error {
		pt, err := k.decryptGCM(c, s, iv, aad, mac)
		if err != nil {
			if errors.Is(err, ErrUnseal) {
				return fmt.Errorf("%w: %w", ErrTag, err)
			}
			return err
		}
		if len(pt) != 0 {
			return fmt.Errorf("%w: AES-GCM returned %d bytes for an empty plaintext", ErrModule, len(pt))
		}
		return nil
	})
}
