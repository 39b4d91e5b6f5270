package hsm

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// validBlob returns a structurally valid sealed share (not sealed by any
// key: the ciphertext is random).
func validBlob(t testing.TB) []byte {
	t.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Zero()
	s := &sealedShare{info: ShareInfo{
		Version: BlobVersion, Participant: 7, Threshold: 5,
		ClusterID: ClusterID{1, 2, 3}, CompositeKey: sk.PublicKey().Bytes(), ComponentKey: sk.PublicKey().Bytes(),
	}}
	rand.Read(s.iv[:])
	rand.Read(s.sealed[:])
	return s.marshal()
}

// validBlobMembers is validBlob in version 2: participant 7 (threshold 5)
// of members 2, 5, 7, 9, 11, generation 4.
func validBlobMembers(t testing.TB) []byte {
	t.Helper()
	s, err := parseSealedShare(validBlob(t))
	if err != nil {
		t.Fatal(err)
	}
	s.info.Version, s.info.Generation, s.info.Members = BlobVersionMembers, 4, []uint64{2, 5, 7, 9, 11}
	return s.marshal()
}

func TestParseSealedShareRefusesBadMembers(t *testing.T) {
	good := validBlobMembers(t)
	if _, err := ReadShareInfo(good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	const m = headerLength + 8 // the member count
	for _, tc := range []struct {
		name string
		blob []byte
		want error
	}{
		{"refuses a blob cut inside the members", good[:m+3], ErrBlobFormat},
		{"refuses a count the blob does not hold", edit(func(b []byte) []byte { b[m] = 6; return b }), ErrBlobFormat},
		{"refuses no member", edit(func(b []byte) []byte {
			return append(append(b[:m:m], 0), b[m+1+2*5:]...)
		}), ErrBlobFormat},
		{"refuses members out of order", edit(func(b []byte) []byte { b[m+2], b[m+4] = 5, 2; return b }), ErrBlobFormat},
		{"refuses a member twice", edit(func(b []byte) []byte { b[m+4] = 2; return b }), ErrBlobFormat},
		{"refuses members without the participant", edit(func(b []byte) []byte { b[m+6] = 8; return b }), ErrBlobFormat},
		{"refuses a threshold above the members", edit(func(b []byte) []byte { b[8] = 6; return b }), ErrBlobFormat},
		{"refuses trailing bytes", append(bytes.Clone(good), 0), ErrBlobFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadShareInfo(tc.blob); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseSealedShareRefuses(t *testing.T) {
	good := validBlob(t)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		blob []byte
		want error
	}{
		{"refuses an empty blob", nil, ErrBlobFormat},
		{"refuses a blob cut inside the header", good[:4], ErrBlobFormat},
		{"refuses a blob cut before the tag ends", good[:len(good)-1], ErrBlobFormat},
		{"refuses a blob with trailing bytes", append(bytes.Clone(good), 0), ErrBlobFormat},
		{"refuses another magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), ErrBlobFormat},
		{"refuses version 0", edit(func(b []byte) []byte { b[4] = 0; return b }), ErrBlobVersion},
		{"refuses version 3", edit(func(b []byte) []byte { b[4] = 3; return b }), ErrBlobVersion},
		{"refuses version 2 of version 1's length", edit(func(b []byte) []byte { b[4] = 2; return b }), ErrBlobFormat},
		{"refuses participant 0", edit(func(b []byte) []byte { b[5], b[6] = 0, 0; return b }), ErrBlobFormat},
		{"refuses threshold 0", edit(func(b []byte) []byte { b[7], b[8] = 0, 0; return b }), ErrBlobFormat},
		{"refuses an uncompressed composite key", edit(func(b []byte) []byte { b[41] &^= 0x80; return b }), ErrBlobFormat},
		{"refuses an infinity component key", edit(func(b []byte) []byte { b[89] |= 0x40; return b }), ErrBlobFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadShareInfo(tc.blob); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAdditionalDataCoversEveryHeaderField(t *testing.T) {
	s, err := parseSealedShare(validBlob(t))
	if err != nil {
		t.Fatal(err)
	}
	aad := s.info.additionalData()
	if !bytes.HasPrefix(aad, []byte(sealDomain)) || !bytes.Equal(aad[len(sealDomain):], s.marshal()[:headerLength]) {
		t.Fatal("additional data is not the domain tag followed by the whole header")
	}
	v2 := validBlobMembers(t)
	s, err = parseSealedShare(v2)
	if err != nil {
		t.Fatal(err)
	}
	if aad := s.info.additionalData(); !bytes.Equal(aad[len(sealDomain):], v2[:len(v2)-ivLength-sealedLength]) {
		t.Fatal("version 2's additional data is not the domain tag followed by everything before the IV")
	}
}

// FuzzParseSealedShare checks that the parser never panics, refuses with
// its own errors, and that whatever it accepts encodes back to the same
// bytes (no field is ignored or normalised).
func FuzzParseSealedShare(f *testing.F) {
	good := validBlob(f)
	f.Add(good)
	f.Add(good[:100])
	f.Add(append(bytes.Clone(good), 1))
	f.Add([]byte("RPSS\x02"))
	f.Add(validBlobMembers(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSealedShare(b)
		if err != nil {
			if !errors.Is(err, ErrBlobFormat) && !errors.Is(err, ErrBlobVersion) {
				t.Fatalf("error %v is neither ErrBlobFormat nor ErrBlobVersion", err)
			}
			return
		}
		if !bytes.Equal(s.marshal(), b) {
			t.Fatal("accepted blob does not encode back to itself")
		}
		info, err := ReadShareInfo(s.marshal())
		if err != nil || !reflect.DeepEqual(info, s.info) {
			t.Fatalf("re-parse gave %+v, %v", info, err)
		}
	})
}

// FuzzParseSealedData checks that the sealed data parser never panics,
// refuses with its own errors, and that what it accepts is exactly header,
// IV and ciphertext, re-encoding to the same bytes.
func FuzzParseSealedData(f *testing.F) {
	f.Add([]byte("RPSD\x01" + string(make([]byte, 12+16))))
	f.Add([]byte("RPSD\x01" + string(make([]byte, 12+15))))
	f.Add([]byte("RPSD\x02" + string(make([]byte, 40))))
	f.Add(validBlob(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		iv, ct, err := parseSealedData(b)
		if err != nil {
			if !errors.Is(err, ErrBlobFormat) && !errors.Is(err, ErrBlobVersion) {
				t.Fatalf("error %v is neither ErrBlobFormat nor ErrBlobVersion", err)
			}
			return
		}
		again := append(append([]byte(dataMagic+"\x01"), iv[:]...), ct...)
		if !bytes.Equal(again, b) {
			t.Fatal("accepted blob does not encode back to itself")
		}
		if len(ct) < tagBits/8 {
			t.Fatal("accepted a ciphertext shorter than the tag")
		}
	})
}
