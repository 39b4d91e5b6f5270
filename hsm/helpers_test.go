package hsm_test

import (
	"crypto/rand"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/bls"
)

const sealLabel = "rampart-seal"

// open opens a SoftHSM token and closes it when the test ends.
func open(t testing.TB, tok *softhsm.Token) *hsm.Token {
	t.Helper()
	ht, err := hsm.Open(t.Context(), tok.URI, hsm.DefaultOptions())
	if err != nil {
		t.Fatalf("open %s: %v", tok.Label, err)
	}
	t.Cleanup(func() {
		if err := ht.Close(); err != nil {
			t.Errorf("close %s: %v", tok.Label, err)
		}
	})
	return ht
}

// sealingKey creates the sealing key in a fresh token.
func sealingKey(t testing.TB, tok *softhsm.Token) (*hsm.Token, *hsm.SealingKey) {
	t.Helper()
	ht := open(t, tok)
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatalf("create sealing key: %v", err)
	}
	return ht, k
}

// account is a share with its binding, as a DKG would produce.
type account struct {
	share   *bls.SecretKey
	binding hsm.Binding
}

var testCluster = hsm.ClusterID{0xc1, 0x05}

func newAccount(t testing.TB, participant uint64) account {
	t.Helper()
	share, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	composite, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer composite.Zero()
	return account{share: share, binding: hsm.Binding{
		ClusterID: testCluster, Participant: participant, Threshold: 3, CompositeKey: composite.PublicKey(),
	}}
}

func (a account) placement() hsm.Placement {
	return hsm.Placement{ClusterID: a.binding.ClusterID, Participant: a.binding.Participant}
}

func seal(t testing.TB, k *hsm.SealingKey, a account) []byte {
	t.Helper()
	blob, err := k.Seal(t.Context(), a.share, a.binding)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return blob
}

// rawSession opens a plain PKCS#11 session on a token that an hsm.Token
// has open (so the module is initialised and the token logged in), for
// tests that act as an attacker holding the PIN.
func rawSession(t testing.TB, modulePath, label string) (*pkcs11.Ctx, pkcs11.SessionHandle) {
	t.Helper()
	p := pkcs11.New(modulePath)
	if p == nil {
		t.Fatal("cannot load module")
	}
	if err := p.Initialize(); err != nil && err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		t.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Label != label {
			continue
		}
		sh, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = p.CloseSession(sh)
			p.Destroy()
		})
		return p, sh
	}
	t.Fatalf("no token %q", label)
	return nil, 0
}
