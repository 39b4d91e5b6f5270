package hsm_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

func TestSealDataRoundTrip(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	label := []byte("dkg snapshot/ceremony 1/participant 2")
	for _, size := range []int{0, 1, 32, 4096, 1 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		blob, err := k.SealData(t.Context(), data, label)
		if err != nil {
			t.Fatalf("%d bytes: seal: %v", size, err)
		}
		// A short plaintext turns up in random ciphertext by chance; from
		// 16 bytes on a match means it was not encrypted.
		if bytes.Contains(blob, data) && size >= 16 {
			t.Fatalf("%d bytes: the blob contains the plaintext", size)
		}
		got, err := k.UnsealData(t.Context(), blob, label)
		if err != nil {
			t.Fatalf("%d bytes: unseal: %v", size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: unsealed data differs", size)
		}
	}
	a, _ := k.SealData(t.Context(), []byte("same"), label)
	b, _ := k.SealData(t.Context(), []byte("same"), label)
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Fatal("two seals used the same IV")
	}
}

// TestSealedDataAttacks moves, edits and swaps sealed blobs: every change
// fails to unseal with the package's own error, before or in the HSM.
func TestSealedDataAttacks(t *testing.T) {
	env := softhsm.New(t, "signer-1", "signer-2")
	_, k := sealingKey(t, env.Tokens[0])
	_, other := sealingKey(t, env.Tokens[1])
	label := []byte("snapshot of batch 3")
	blob, err := k.SealData(t.Context(), []byte("secret ceremony state"), label)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 1; return b }
	share := seal(t, k, newAccount(t, 1))
	for _, tc := range []struct {
		name  string
		key   *hsm.SealingKey
		blob  []byte
		label []byte
		want  error
	}{
		{"refuses a blob moved to another place (label)", k, blob, []byte("snapshot of batch 4"), hsm.ErrUnseal},
		{"refuses a blob of another signer's key", other, blob, label, hsm.ErrUnseal},
		{"refuses an edited ciphertext", k, flip(20), label, hsm.ErrUnseal},
		{"refuses an edited tag", k, flip(len(blob) - 1), label, hsm.ErrUnseal},
		{"refuses an edited IV", k, flip(6), label, hsm.ErrUnseal},
		{"refuses another version", k, flip(4), label, hsm.ErrBlobVersion},
		{"refuses another magic", k, flip(0), label, hsm.ErrBlobFormat},
		{"refuses a truncated blob", k, blob[:20], label, hsm.ErrBlobFormat},
		{"refuses a sealed share as data", k, share, label, hsm.ErrBlobFormat},
		{"refuses an empty label", k, blob, nil, hsm.ErrInvalidBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.key.UnsealData(t.Context(), tc.blob, tc.label); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("refuses sealed data as a share", func(t *testing.T) {
		if _, err := hsm.ReadShareInfo(blob); !errors.Is(err, hsm.ErrBlobFormat) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("refuses a label longer than the maximum", func(t *testing.T) {
		if _, err := k.SealData(t.Context(), []byte("x"), make([]byte, hsm.MaxDataLabel+1)); !errors.Is(err, hsm.ErrInvalidBinding) {
			t.Fatalf("got %v", err)
		}
	})
}
