package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// The attacker in these tests holds the user PIN (a logged-in session) and
// tries to get the key value out of the HSM or to widen what the key may
// do. Each attempt must fail inside the module.

func TestSealingKeyValueCannotBeRead(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	sealingKey(t, env.Tokens[0])
	p, s := rawSession(t, env.ModulePath, "signer-1")
	key := findRaw(t, p, s, sealLabel, pkcs11.CKO_SECRET_KEY)
	_, err := p.GetAttributeValue(s, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
		t.Fatalf("reading CKA_VALUE: got %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
}

func TestSealingKeyCannotBeExported(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	sealingKey(t, env.Tokens[0])
	p, s := rawSession(t, env.ModulePath, "signer-1")
	key := findRaw(t, p, s, sealLabel, pkcs11.CKO_SECRET_KEY)
	wrapper := attackerWrappingKey(t, p, s)
	for _, mech := range []uint{pkcs11.CKM_AES_KEY_WRAP, pkcs11.CKM_AES_KEY_WRAP_PAD} {
		if out, err := p.WrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, wrapper, key); err == nil {
			t.Fatalf("wrapping with mechanism 0x%x exported %d bytes", mech, len(out))
		}
	}
	// Copying into an extractable object is refused too.
	if _, err := p.CopyObject(s, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)}); err == nil {
		t.Fatal("copied the sealing key into an extractable object")
	}
}

func TestSealingKeyUsesCannotBeWidened(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	sealingKey(t, env.Tokens[0])
	p, s := rawSession(t, env.ModulePath, "signer-1")
	key := findRaw(t, p, s, sealLabel, pkcs11.CKO_SECRET_KEY)
	for name, attr := range map[string]*pkcs11.Attribute{
		"refuses making it extractable":   pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		"refuses making it non-sensitive": pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		"refuses allowing key wrapping":   pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		"refuses allowing all mechanisms": pkcs11.NewAttribute(pkcs11.CKA_ALLOWED_MECHANISMS, []byte{}),
		"refuses relabelling the key":     pkcs11.NewAttribute(pkcs11.CKA_LABEL, "other"),
	} {
		t.Run(name, func(t *testing.T) {
			if err := p.SetAttributeValue(s, key, []*pkcs11.Attribute{attr}); err == nil {
				t.Fatal("the module changed the attribute")
			}
		})
	}
	// Mechanisms with valid parameters, refused only because the key
	// allows AES-GCM alone; the attacker's own key shows they work.
	control := attackerWrappingKey(t, p, s)
	for name, mech := range map[string]*pkcs11.Mechanism{
		"refuses AES-CBC": pkcs11.NewMechanism(pkcs11.CKM_AES_CBC_PAD, make([]byte, 16)),
		"refuses AES-ECB": pkcs11.NewMechanism(pkcs11.CKM_AES_ECB, nil),
	} {
		t.Run(name, func(t *testing.T) {
			if err := p.DecryptInit(s, []*pkcs11.Mechanism{mech}, control); err != nil {
				t.Fatalf("control key refused the mechanism: %v", err)
			}
			_, _ = p.Decrypt(s, make([]byte, 32)) // ends the control operation; its result does not matter
			if err := p.DecryptInit(s, []*pkcs11.Mechanism{mech}, key); !errors.Is(err, pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)) {
				t.Fatalf("decrypt: got %v, want CKR_MECHANISM_INVALID", err)
			}
			if err := p.EncryptInit(s, []*pkcs11.Mechanism{mech}, key); !errors.Is(err, pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)) {
				t.Fatalf("encrypt: got %v, want CKR_MECHANISM_INVALID", err)
			}
		})
	}
}

func TestCreateSealingKeyRefusesToOverwrite(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	for name, o := range map[string]hsm.Object{
		"refuses an existing label":                {Label: sealLabel},
		"refuses an existing id under a new label": {Label: "another", ID: k.Object().ID},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ht.CreateSealingKey(t.Context(), o); !errors.Is(err, hsm.ErrKeyExists) {
				t.Fatalf("got %v, want ErrKeyExists", err)
			}
		})
	}
	// Nothing changed: the old key still opens the old blob.
	again, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Unseal(t.Context(), blob, a.placement())
	if err != nil {
		t.Fatal(err)
	}
	got.Key.Zero()
}

func TestWeakSealingKeyRefused(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht := open(t, env.Tokens[0])
	p, s := rawSession(t, env.ModulePath, "signer-1")
	base := func(label string) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
		}
	}
	gcmOnly := pkcs11.NewAttribute(pkcs11.CKA_ALLOWED_MECHANISMS, pkcs11.NewAttribute(0, uint(pkcs11.CKM_AES_GCM)).Value)
	for _, tc := range []struct {
		name, label, attribute string
		extra                  []*pkcs11.Attribute
	}{
		{"refuses an extractable key", "extractable", "CKA_EXTRACTABLE", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), gcmOnly}},
		{"refuses a key usable with any mechanism", "any-mechanism", "CKA_ALLOWED_MECHANISMS", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false), pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false), pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false)}},
		{"refuses an AES-128 key", "aes-128", "CKA_VALUE_LEN", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false), gcmOnly}},
		{"refuses a key that can wrap other keys", "wrapping", "CKA_WRAP", []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), gcmOnly}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)},
				append(base(tc.label), tc.extra...)); err != nil {
				t.Fatal(err)
			}
			_, err := ht.SealingKey(t.Context(), hsm.Object{Label: tc.label})
			if !errors.Is(err, hsm.ErrKeyAttributes) || !strings.Contains(err.Error(), tc.attribute) {
				t.Fatalf("got %v, want ErrKeyAttributes naming %s", err, tc.attribute)
			}
		})
	}
}

func TestSealingKeyLookupRefuses(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, _ := sealingKey(t, env.Tokens[0])
	for _, tc := range []struct {
		name string
		o    hsm.Object
		want error
	}{
		{"refuses a missing key", hsm.Object{Label: "absent"}, hsm.ErrKeyNotFound},
		{"refuses the right label with another id", hsm.Object{Label: sealLabel, ID: []byte{1}}, hsm.ErrKeyNotFound},
		{"refuses an empty label", hsm.Object{}, hsm.ErrInvalidURI},
		{"refuses a label with a control character", hsm.Object{Label: "a\nb"}, hsm.ErrInvalidURI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ht.SealingKey(t.Context(), tc.o); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTLSKeyCannotBeReadOrExported(t *testing.T) {
	env := softhsm.New(t, "node-1")
	ht := open(t, env.Tokens[0])
	if _, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"}); err != nil {
		t.Fatal(err)
	}
	p, s := rawSession(t, env.ModulePath, "node-1")
	key := findRaw(t, p, s, "tls", pkcs11.CKO_PRIVATE_KEY)
	if _, err := p.GetAttributeValue(s, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
		t.Fatalf("reading CKA_VALUE: got %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	wrapper := attackerWrappingKey(t, p, s)
	if out, err := p.WrapKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wrapper, key); err == nil {
		t.Fatalf("wrapping exported %d bytes", len(out))
	}
	if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA_SHA256, nil)}, key); err == nil {
		t.Fatal("the TLS key accepted a mechanism other than CKM_ECDSA")
	}
	if _, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"}); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("second generation: got %v, want ErrKeyExists", err)
	}
}

// attackerWrappingKey makes a session AES key allowed to wrap, encrypt and
// decrypt with any mechanism, as someone with the PIN could.
func attackerWrappingKey(t testing.TB, p *pkcs11.Ctx, s pkcs11.SessionHandle) pkcs11.ObjectHandle {
	t.Helper()
	h, err := p.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
