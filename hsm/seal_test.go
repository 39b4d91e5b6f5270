package hsm_test

import (
	"bytes"
	"errors"
	"reflect"
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
	if !reflect.DeepEqual(info, got.Info) || info.Version != hsm.BlobVersion || info.Members != nil || info.Participant != 2 || info.Threshold != 3 || info.ClusterID != testCluster ||
		info.CompositeKey != a.binding.CompositeKey.Bytes() || info.ComponentKey != a.share.PublicKey().Bytes() {
		t.Fatalf("metadata %+v does not match the binding", info)
	}
	again := seal(t, k, a)
	if bytes.Equal(again[137:149], blob[137:149]) {
		t.Fatal("two seals used the same IV")
	}
}

// A share of a configuration other than the cluster's (a resharing to
// some of its participants) names its members and generation, bound like
// every other field: editing them makes unsealing fail.
func TestSealNamesTheAccountsConfiguration(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 2)
	a.binding.Members, a.binding.Generation = []uint64{1, 2, 4, 6, 7}, 3
	blob := seal(t, k, a)
	if want := hsm.SealedShareLength + 9 + 2*5; len(blob) != want {
		t.Fatalf("blob has %d bytes, want %d", len(blob), want)
	}
	for _, place := range []struct {
		name string
		open func([]byte) (hsm.Share, error)
	}{
		{"Unseal", func(b []byte) (hsm.Share, error) { return k.Unseal(t.Context(), b, a.placement()) }},
		{"UnsealAll", func(b []byte) (hsm.Share, error) {
			set, err := k.UnsealAll(t.Context(), [][]byte{b}, a.placement())
			if err != nil {
				return hsm.Share{}, err
			}
			return set.Shares()[0], nil
		}},
	} {
		got, err := place.open(blob)
		if err != nil {
			t.Fatalf("%s: %v", place.name, err)
		}
		if !got.Key.Equal(a.share) || got.Info.Version != hsm.BlobVersionMembers || got.Info.Generation != 3 ||
			!reflect.DeepEqual(got.Info.Members, []uint64{1, 2, 4, 6, 7}) || got.Info.Threshold != 3 {
			t.Fatalf("%s: got %+v", place.name, got.Info)
		}
		got.Key.Zero()
	}
	for name, edit := range map[string]func(b []byte){
		"a raised generation": func(b []byte) { b[144]++ },
		"another member":      func(b []byte) { b[146+2*4+1] = 8 },
		"a lowered threshold": func(b []byte) { b[8] = 2 },
		"another participant": func(b []byte) { b[6] = 1 },
	} {
		b := bytes.Clone(blob)
		edit(b)
		if _, err := k.Unseal(t.Context(), b, hsm.Placement{ClusterID: testCluster, Participant: uint64(b[6])}); err == nil {
			t.Errorf("a blob with %s unsealed", name)
		}
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
		"refuses participant 0":                    {Participant: 0, Threshold: 1, CompositeKey: a.binding.CompositeKey},
		"refuses participant 65536":                {Participant: 65536, Threshold: 1, CompositeKey: a.binding.CompositeKey},
		"refuses threshold 0":                      {Participant: 1, Threshold: 0, CompositeKey: a.binding.CompositeKey},
		"refuses threshold 65536":                  {Participant: 1, Threshold: 65536, CompositeKey: a.binding.CompositeKey},
		"refuses missing composite key":            {Participant: 1, Threshold: 1},
		"refuses members without the participant":  {Participant: 1, Threshold: 2, CompositeKey: a.binding.CompositeKey, Members: []uint64{2, 3, 4}},
		"refuses members out of order":             {Participant: 1, Threshold: 2, CompositeKey: a.binding.CompositeKey, Members: []uint64{1, 3, 2}},
		"refuses fewer members than the threshold": {Participant: 1, Threshold: 3, CompositeKey: a.binding.CompositeKey, Members: []uint64{1, 2}},
		"refuses a generation without members":     {Participant: 1, Threshold: 1, CompositeKey: a.binding.CompositeKey, Generation: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Seal(t.Context(), a.share, b); !errors.Is(err, hsm.ErrInvalidBinding) {
				t.Fatalf("got %v, want ErrInvalidBinding", err)
			}
		})
	}
}
