package hsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
)

// Sealed data format, version 1: state a caller must keep on disk but that
// holds secrets (a key-generation ceremony's snapshot), sealed by the same
// non-extractable AES-256 key as the shares.
//
//	offset  size  field
//	     0     4  magic "RPSD"
//	     4     1  version (1)
//	     5    12  AES-GCM IV, random, made by this package
//	    17     n  AES-256-GCM ciphertext of the data, then the 128-bit tag
//
// The additional authenticated data is the domain tag, bytes 0..4 (magic
// and version) and the caller's label with its length. The label is not
// stored: the caller gives it again to unseal, so a blob moved to another
// place (another ceremony, another participant) fails authentication.
const (
	// DataBlobVersion is the sealed data version this build writes and
	// reads.
	DataBlobVersion = 1
	// MaxSealedData is the largest plaintext SealData accepts.
	MaxSealedData = 256 << 20
	// MaxDataLabel is the longest label SealData accepts.
	MaxDataLabel = 1024

	dataMagic     = "RPSD"
	dataHeaderLen = len(dataMagic) + 1 + ivLength
)

// dataDomain separates sealed data from sealed shares under the same key:
// neither kind of blob ever authenticates as the other.
const dataDomain = "rampart/hsm/sealed-data/v1\x00"

// dataAAD is the additional data of a sealed data blob.
func dataAAD(label []byte) []byte {
	aad := make([]byte, 0, len(dataDomain)+len(dataMagic)+1+4+len(label))
	aad = append(aad, dataDomain...)
	aad = append(aad, dataMagic...)
	aad = append(aad, DataBlobVersion)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(label)))
	return append(aad, label...)
}

func checkLabel(label []byte) error {
	if len(label) == 0 || len(label) > MaxDataLabel {
		return fmt.Errorf("%w: data label has %d bytes, want 1 to %d", ErrInvalidBinding, len(label), MaxDataLabel)
	}
	return nil
}

// SealData encrypts data inside the HSM, bound to label (which says what
// the data is and where it belongs), and returns the sealed blob. As with
// shares, the blob is unsealed once and compared before it is returned, so
// a module that mis-seals is caught while the data still exists elsewhere.
func (k *SealingKey) SealData(ctx context.Context, data, label []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	if len(data) > MaxSealedData {
		return nil, fmt.Errorf("%w: %d bytes of data, at most %d", ErrInvalidBinding, len(data), MaxSealedData)
	}
	var iv [ivLength]byte
	// A fresh random 96-bit IV per seal, as for shares.
	if _, err := io.ReadFull(k.t.opts.Rand, iv[:]); err != nil {
		return nil, fmt.Errorf("hsm: drawing an AES-GCM IV: %w", err)
	}
	aad := dataAAD(label)
	var ct []byte
	err := k.t.do(ctx, "sealing data", func(c *conn, s pkcs11.SessionHandle) error {
		var err error
		ct, err = k.sealChecked(c, s, iv, aad, data, "data")
		return err
	})
	if err != nil {
		return nil, err
	}
	blob := make([]byte, 0, dataHeaderLen+len(ct))
	blob = append(blob, dataMagic...)
	blob = append(blob, DataBlobVersion)
	blob = append(blob, iv[:]...)
	return append(blob, ct...), nil
}

// UnsealData opens a blob made by SealData with the same label. The caller
// zeroes the returned data when it holds secrets.
func (k *SealingKey) UnsealData(ctx context.Context, blob, label []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	iv, ct, err := parseSealedData(blob)
	if err != nil {
		return nil, err
	}
	var pt []byte
	err = k.t.do(ctx, "unsealing data", func(c *conn, s pkcs11.SessionHandle) error {
		pt, err = k.decryptGCM(c, s, iv, dataAAD(label), ct)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pt, nil
}

// parseSealedData checks a sealed data blob's structure before anything
// reaches the HSM and returns its IV and ciphertext.
func parseSealedData(b []byte) (iv [ivLength]byte, ct []byte, err error) {
	switch {
	case len(b) < len(dataMagic)+1:
		return iv, nil, fmt.Errorf("%w: sealed data has %d bytes, too short for a header", ErrBlobFormat, len(b))
	case string(b[:len(dataMagic)]) != dataMagic:
		return iv, nil, fmt.Errorf("%w: magic is not %q; not Rampart sealed data", ErrBlobFormat, dataMagic)
	case b[len(dataMagic)] != DataBlobVersion:
		return iv, nil, fmt.Errorf("%w: sealed data version %d, this build reads version %d", ErrBlobVersion, b[len(dataMagic)], DataBlobVersion)
	case len(b) < dataHeaderLen+tagBits/8:
		return iv, nil, fmt.Errorf("%w: sealed data has %d bytes, too short for its IV and tag", ErrBlobFormat, len(b))
	case len(b) > dataHeaderLen+MaxSealedData+tagBits/8:
		return iv, nil, fmt.Errorf("%w: sealed data has %d bytes, more than %d of data", ErrBlobFormat, len(b), MaxSealedData)
	}
	copy(iv[:], b[len(dataMagic)+1:dataHeaderLen])
	return iv, b[dataHeaderLen:], nil
}
