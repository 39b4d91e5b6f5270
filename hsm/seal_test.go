package hsm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

func TestSealUnsealRoundTrip(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 2)
	blob := seal(t, k, a)
	if len(blob) != hsm.SealedShareLength {
		t.Fatalf("blob has %d bytes, want %d", len(blob), hsm.SealedShareLength)
	}
	got, err := k.Unseal(t.Context(), blob, a.placement())
	if err != nil {
		t.Fatalf("unseal: %v", err)
	}
	defer got.Key.Zero()
	if !got.Key.Equal(a.share) {
		t.Fatal("unsealed share differs")
	}
	info, err := hsm.ReadShareInfo(blob)
	if err != nil {
		t.Fatal(err)
	}
	if info != got.Info || info.Participant != 2 || info.Threshold != 3 || info.ClusterID != testCluster ||
		info.CompositeKey != a.binding.CompositeKey.Bytes() || info.ComponentKey != a.share.PublicKey().Bytes() {
		t.Fatalf("metadata %+v does not match the binding", info)
	}
	again := seal(t, k, a)
	if bytes.Equal(again[137:149], blob[137:149]) {
		t.Fatal("two seals used the same IV")
	}
}

func TestUnsealAllRoundTrip(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	var accts []account
	var blobs [][]byte
	for range 50 {
		a := newAccount(t, 1)
		accts = append(accts, a)
		blobs = append(blobs, seal(t, k, a))
	}
	set, err := k.UnsealAll(t.Context(), blobs, accts[0].placement())
	if err != nil {
		t.Fatal(err)
	}
	shares := set.Shares()
	for i, s := range shares {
		if !s.Key.Equal(accts[i].share) {
			t.Fatalf("share %d differs", i)
		}
	}
	set.Close()
	for _, s := range shares {
		if s.Key.Bytes() != [32]byte{} {
			t.Fatal("Close left key material")
		}
	}
	if set.Len() != 0 {
		t.Fatal("closed set still has shares")
	}
}

func TestSealRefusesBadBinding(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 1)
	for name, b := range map[string]hsm.Binding{
		"refuses participant 0":         {Participant: 0, Threshold: 1, CompositeKey: a.binding.CompositeKey},
		"refuses participant 65536":     {Participant: 65536, Threshold: 1, CompositeKey: a.binding.CompositeKey},
		"refuses threshold 0":           {Participant: 1, Threshold: 0, CompositeKey: a.binding.CompositeKey},
		"refuses threshold 65536":       {Participant: 1, Threshold: 65536, CompositeKey: a.binding.CompositeKey},
		"refuses missing composite key": {Participant: 1, Threshold: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Seal(t.Context(), a.share, b); !errors.Is(err, hsm.ErrInvalidBinding) {
				t.Fatalf("got %v, want ErrInvalidBinding", err)
			}
		})
	}
}
