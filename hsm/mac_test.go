package hsm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

func TestTagVerifies(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	label := []byte("rampart audit checkpoint v1")
	for _, size := range []int{0, 1, 80, 4096} {
		data := bytes.Repeat([]byte{0xa5}, size)
		tag, err := k.Tag(t.Context(), data, label)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if len(tag) != hsm.TagLength {
			t.Fatalf("tag of %d bytes, want %d", len(tag), hsm.TagLength)
		}
		if err := k.VerifyTag(t.Context(), data, label, tag); err != nil {
			t.Fatalf("%d bytes: verify: %v", size, err)
		}
	}
	a, _ := k.Tag(t.Context(), []byte("same"), label)
	b, _ := k.Tag(t.Context(), []byte("same"), label)
	if bytes.Equal(a, b) {
		t.Fatal("two tags of the same data are equal: the IV was reused")
	}
}

// TestTagForgeries changes the data, the label, the tag or the key, and
// passes tags off as sealed blobs and the reverse: nothing verifies.
func TestTagForgeries(t *testing.T) {
	env := softhsm.New(t, "signer-1", "signer-2")
	_, k := sealingKey(t, env.Tokens[0])
	_, other := sealingKey(t, env.Tokens[1])
	label := []byte("rampart audit checkpoint v1")
	data := []byte("seq 1000 head 00ff")
	tag, err := k.Tag(t.Context(), data, label)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(tag); b[i] ^= 1; return b }
	sealed, err := k.SealData(t.Context(), nil, label)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		key         *hsm.SealingKey
		data, label []byte
		tag         []byte
		want        error
	}{
		{"refuses edited data", k, []byte("seq 1001 head 00ff"), label, tag, hsm.ErrTag},
		{"refuses another label", k, data, []byte("another use"), tag, hsm.ErrTag},
		{"refuses a flipped IV bit", k, data, label, flip(6), hsm.ErrTag},
		{"refuses a flipped tag bit", k, data, label, flip(hsm.TagLength - 1), hsm.ErrTag},
		{"refuses another key's check", other, data, label, tag, hsm.ErrTag},
		{"refuses a truncated tag", k, data, label, tag[:hsm.TagLength-1], hsm.ErrBlobFormat},
		{"refuses another version", k, data, label, func() []byte { b := bytes.Clone(tag); b[4] = 2; return b }(), hsm.ErrBlobVersion},
		{"refuses a sealed empty blob as a tag", k, nil, label, sealed, hsm.ErrBlobFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.key.VerifyTag(t.Context(), tc.data, tc.label, tc.tag); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyTag: %v, want %v", err, tc.want)
			}
		})
	}
	// A tag with the sealed-data header in front never unseals as data.
	forged := append([]byte("RPSD\x01"), tag[5:]...)
	if _, err := k.UnsealData(t.Context(), forged, label); !errors.Is(err, hsm.ErrUnseal) {
		t.Fatalf("a tag passed off as sealed data: %v", err)
	}
}
