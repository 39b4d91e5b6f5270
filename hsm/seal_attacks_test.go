package hsm_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// Offsets of the documented version 1 layout.
const (
	offParticipant = 5
	offThreshold   = 7
	offCluster     = 9
	offComposite   = 41
	offComponent   = 89
	offIV          = 137
	offSealed      = 149
)

func TestEditedMetadataFailsToUnseal(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 2)
	blob := seal(t, k, a)
	other := newAccount(t, 2)
	for _, tc := range []struct {
		name  string
		edit  func(b []byte)
		place hsm.Placement
		want  error
	}{
		{"refuses a blob whose participant id was edited to match the signer",
			func(b []byte) { binary.BigEndian.PutUint16(b[offParticipant:], 3) },
			hsm.Placement{ClusterID: testCluster, Participant: 3}, hsm.ErrUnseal},
		{"refuses a blob whose threshold was lowered",
			func(b []byte) { binary.BigEndian.PutUint16(b[offThreshold:], 1) },
			a.placement(), hsm.ErrUnseal},
		{"refuses a blob moved to another cluster by editing its id",
			func(b []byte) { b[offCluster] ^= 0xff },
			hsm.Placement{ClusterID: hsm.ClusterID{testCluster[0] ^ 0xff, testCluster[1]}, Participant: 2}, hsm.ErrUnseal},
		{"refuses a blob relabelled with another validator's composite key",
			func(b []byte) { ck := other.binding.CompositeKey.Bytes(); copy(b[offComposite:], ck[:]) },
			a.placement(), hsm.ErrUnseal},
		{"refuses a blob with another component key",
			func(b []byte) { ck := other.share.PublicKey().Bytes(); copy(b[offComponent:], ck[:]) },
			a.placement(), hsm.ErrUnseal},
		{"refuses a blob with an altered IV", func(b []byte) { b[offIV] ^= 1 }, a.placement(), hsm.ErrUnseal},
		{"refuses a blob with an altered ciphertext", func(b []byte) { b[offSealed] ^= 1 }, a.placement(), hsm.ErrUnseal},
		{"refuses a blob with an altered tag", func(b []byte) { b[len(b)-1] ^= 1 }, a.placement(), hsm.ErrUnseal},
		{"refuses a blob claiming another version", func(b []byte) { b[4] = 3 }, a.placement(), hsm.ErrBlobVersion},
		{"refuses a blob claiming version 2", func(b []byte) { b[4] = 2 }, a.placement(), hsm.ErrBlobFormat},
		{"refuses a blob with another magic", func(b []byte) { b[1] = 'X' }, a.placement(), hsm.ErrBlobFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(blob)
			tc.edit(b)
			if got, err := k.Unseal(t.Context(), b, tc.place); !errors.Is(err, tc.want) {
				got.Key.Zero()
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEveryBitFlipIsRefused(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	for i := range blob {
		for bit := range 8 {
			b := bytes.Clone(blob)
			b[i] ^= 1 << bit
			// Keep the placement in step with edits to the placement
			// fields, so the HSM's authentication is what refuses them.
			info, err := hsm.ReadShareInfo(b)
			place := a.placement()
			if err == nil {
				place = hsm.Placement{ClusterID: info.ClusterID, Participant: info.Participant}
			}
			got, err := k.Unseal(t.Context(), b, place)
			if err == nil {
				got.Key.Zero()
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
			if !errors.Is(err, hsm.ErrUnseal) && !errors.Is(err, hsm.ErrBlobFormat) && !errors.Is(err, hsm.ErrBlobVersion) {
				t.Fatalf("byte %d bit %d: unexpected error %v", i, bit, err)
			}
		}
	}
}

func TestTruncatedOrExtendedBlobRefused(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	for n := 0; n <= len(blob)+1; n++ {
		if n == len(blob) {
			continue
		}
		b := append(bytes.Clone(blob), 0)[:n]
		if _, err := k.Unseal(t.Context(), b, a.placement()); !errors.Is(err, hsm.ErrBlobFormat) {
			t.Fatalf("%d-byte blob: got %v, want ErrBlobFormat", n, err)
		}
	}
}

func TestBlobSealedUnderAnotherKeyRefused(t *testing.T) {
	env := softhsm.New(t, "signer-1", "signer-2")
	_, k1 := sealingKey(t, env.Tokens[0])
	_, k2 := sealingKey(t, env.Tokens[1]) // same label, different key
	a := newAccount(t, 1)
	if _, err := k2.Unseal(t.Context(), seal(t, k1, a), a.placement()); !errors.Is(err, hsm.ErrUnseal) {
		t.Fatalf("got %v, want ErrUnseal", err)
	}
}

func TestSplicedBlobRefused(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a, b := newAccount(t, 1), newAccount(t, 1)
	blobA, blobB := seal(t, k, a), seal(t, k, b)
	// A's metadata with B's IV and ciphertext: B's share under A's name.
	spliced := append(bytes.Clone(blobA[:offIV]), blobB[offIV:]...)
	if _, err := k.Unseal(t.Context(), spliced, a.placement()); !errors.Is(err, hsm.ErrUnseal) {
		t.Fatalf("got %v, want ErrUnseal", err)
	}
}

func TestShareCopiedToAnotherSignerRefusedByPlacement(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	for name, p := range map[string]hsm.Placement{
		"refuses a share for participant 1 at participant 2": {ClusterID: testCluster, Participant: 2},
		"refuses a share for another cluster":                {ClusterID: hsm.ClusterID{9}, Participant: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Unseal(t.Context(), blob, p); !errors.Is(err, hsm.ErrWrongPlacement) {
				t.Fatalf("got %v, want ErrWrongPlacement", err)
			}
			if _, err := k.UnsealAll(t.Context(), [][]byte{blob}, p); !errors.Is(err, hsm.ErrWrongPlacement) {
				t.Fatalf("bulk: got %v, want ErrWrongPlacement", err)
			}
		})
	}
	if _, err := k.Unseal(t.Context(), blob, hsm.Placement{ClusterID: testCluster}); !errors.Is(err, hsm.ErrInvalidBinding) {
		t.Fatalf("placement without participant: got %v, want ErrInvalidBinding", err)
	}
}

func TestUnsealAllIsAllOrNothing(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	var blobs [][]byte
	var accts []account
	for range 10 {
		a := newAccount(t, 1)
		accts = append(accts, a)
		blobs = append(blobs, seal(t, k, a))
	}
	tampered := seal(t, k, newAccount(t, 1))
	tampered[offSealed+5] ^= 0x10
	blobs = append(blobs, tampered, blobs[7][:50], bytes.Clone(blobs[2]))
	set, err := k.UnsealAll(t.Context(), blobs, accts[0].placement())
	if set != nil {
		set.Close()
		t.Fatal("a set was returned despite refused blobs")
	}
	var ue *hsm.UnsealError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want *UnsealError", err)
	}
	want := map[int]error{10: hsm.ErrUnseal, 11: hsm.ErrBlobFormat, 12: hsm.ErrDuplicateShare}
	if ue.Total != len(blobs) || len(ue.Failed) != len(want) {
		t.Fatalf("error %v: want exactly blobs 10, 11, 12 refused", err)
	}
	for _, f := range ue.Failed {
		if !errors.Is(f, want[f.Index]) {
			t.Errorf("blob %d: got %v, want %v", f.Index, f.Err, want[f.Index])
		}
	}
	for _, sentinel := range []error{hsm.ErrUnseal, hsm.ErrBlobFormat, hsm.ErrDuplicateShare} {
		if !errors.Is(err, sentinel) {
			t.Errorf("errors.Is(err, %v) is false", sentinel)
		}
	}
}

// TestForgedShareWithWrongComponentKeyRefused plays an attacker who holds
// the PIN and seals, with the right key and the documented format, a share
// that does not match the component key in its metadata (or is not a
// valid share at all). Authentication passes; the recomputed component key
// must not. The real share, sealed the same way, is accepted: the test
// builds the documented format correctly.
func TestForgedShareWithWrongComponentKeyRefused(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	p, s := rawSession(t, env.ModulePath, "signer-1")
	key := findRaw(t, p, s, sealLabel, pkcs11.CKO_SECRET_KEY)
	a, other := newAccount(t, 1), newAccount(t, 1)
	realShare, otherShare := a.share.Bytes(), other.share.Bytes()
	for _, tc := range []struct {
		name   string
		secret []byte
		want   error
	}{
		{"accepts the real share sealed by hand in the documented format", realShare[:], nil},
		{"refuses a share that does not give the stored component key", otherShare[:], hsm.ErrComponentKeyMismatch},
		{"refuses a zero share", make([]byte, 32), hsm.ErrComponentKeyMismatch},
		{"refuses a value above the group order", bytes.Repeat([]byte{0xff}, 32), hsm.ErrComponentKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := make([]byte, 0, offIV)
			header = append(header, "RPSS\x01"...)
			header = binary.BigEndian.AppendUint16(header, 1)
			header = binary.BigEndian.AppendUint16(header, 3)
			header = append(header, testCluster[:]...)
			ck, pk := a.binding.CompositeKey.Bytes(), a.share.PublicKey().Bytes()
			header = append(header, ck[:]...)
			header = append(header, pk[:]...)
			iv := make([]byte, 12)
			rand.Read(iv)
			aad := append([]byte("rampart/hsm/sealed-share/v1\x00"), header...)
			params := pkcs11.NewGCMParams(iv, aad, 128)
			defer params.Free()
			if err := p.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
				t.Fatal(err)
			}
			ct, err := p.Encrypt(s, tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Unseal(t.Context(), append(append(header, iv...), ct...), a.placement())
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			got.Key.Zero()
		})
	}
}

// findRaw finds one object by label and class over a raw session.
func findRaw(t testing.TB, p *pkcs11.Ctx, s pkcs11.SessionHandle, label string, class uint) pkcs11.ObjectHandle {
	t.Helper()
	if err := p.FindObjectsInit(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
	}); err != nil {
		t.Fatal(err)
	}
	found, _, err := p.FindObjects(s, 2)
	_ = p.FindObjectsFinal(s)
	if err != nil || len(found) != 1 {
		t.Fatalf("found %d objects labelled %q: %v", len(found), label, err)
	}
	return found[0]
}
