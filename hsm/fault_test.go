package hsm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// These tests put hsm.Faults between a Token and the real SoftHSM module:
// every call reaches SoftHSM except the one a test alters, so each
// defensive branch of the package is driven by exactly the misbehaviour
// it exists for. Each test names the branch (file and check) it proves.

// openFaulty opens tok through fresh Faults and closes it when the test
// ends.
func openFaulty(t testing.TB, tok *softhsm.Token, opts hsm.Options) (*hsm.Token, *hsm.Faults) {
	t.Helper()
	f := hsm.NewFaults()
	ht, err := hsm.OpenFaulty(t.Context(), tok.URI, opts, f)
	if err != nil {
		t.Fatalf("open %s: %v", tok.Label, err)
	}
	t.Cleanup(func() {
		if err := ht.Close(); err != nil {
			t.Errorf("close %s: %v", tok.Label, err)
		}
	})
	return ht, f
}

// faultySealingKey creates the sealing key in a fresh token opened
// through Faults.
func faultySealingKey(t testing.TB) (*hsm.Token, *hsm.SealingKey, *hsm.Faults, *softhsm.Env) {
	t.Helper()
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatalf("create sealing key: %v", err)
	}
	return ht, k, f, env
}

// waitFor receives from ch, failing the test if that never happens (a
// guard against a hang when the branch under test is broken, not a timing
// assertion).
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("%s never happened", what)
		panic("unreachable")
	}
}

// waitClosed waits until session s is closed.
func waitClosed(t testing.TB, f *hsm.Faults, s pkcs11.SessionHandle) {
	t.Helper()
	for {
		if got := waitFor(t, f.SessionClosed(), fmt.Sprintf("closing session %d", s)); got == s {
			return
		}
	}
}

var dataLabel = []byte("rampart test data v1")

// sealOps are the three operations that make something with AES-GCM and
// check it before returning it.
func sealOps(t testing.TB) []struct {
	name string
	run  func(ctx context.Context, k *hsm.SealingKey) ([]byte, error)
} {
	a := newAccount(t, 1)
	return []struct {
		name string
		run  func(ctx context.Context, k *hsm.SealingKey) ([]byte, error)
	}{
		{"share", func(ctx context.Context, k *hsm.SealingKey) ([]byte, error) { return k.Seal(ctx, a.share, a.binding) }},
		{"data", func(ctx context.Context, k *hsm.SealingKey) ([]byte, error) {
			return k.SealData(ctx, []byte("ceremony snapshot"), dataLabel)
		}},
		{"tag", func(ctx context.Context, k *hsm.SealingKey) ([]byte, error) {
			return k.Tag(ctx, []byte("audit checkpoint"), dataLabel)
		}},
	}
}

// TestModuleThatEncryptsUnderItsOwnIVIsRefused proves encryptGCM's IV
// check (sealkey.go, "the module replaced the AES-GCM IV"): a module that
// ignores the IV it is given and encrypts under one of its own (some
// modules do) is refused with ErrMechanismUnsupported for shares, data and
// tags, and nothing is returned.
func TestModuleThatEncryptsUnderItsOwnIVIsRefused(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	var mu sync.Mutex
	var params []*pkcs11.GCMParams
	t.Cleanup(func() {
		for _, p := range params {
			p.Free()
		}
	})
	f.Set(func(f *hsm.Faults) {
		f.EncryptInit = func(_ []*pkcs11.Mechanism, next func([]*pkcs11.Mechanism) error) error {
			own := pkcs11.NewGCMParams(make([]byte, 12), nil, 128)
			mu.Lock()
			params = append(params, own)
			mu.Unlock()
			return next([]*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, own)})
		}
	})
	for _, op := range sealOps(t) {
		t.Run("refuses a "+op.name+" sealed under the module's IV", func(t *testing.T) {
			out, err := op.run(t.Context(), k)
			if !errors.Is(err, hsm.ErrMechanismUnsupported) || !strings.Contains(err.Error(), "replaced the AES-GCM IV") || out != nil {
				t.Fatalf("got %d bytes, %v; want ErrMechanismUnsupported naming the IV", len(out), err)
			}
		})
	}
}

// TestWrongCiphertextLengthIsRefused proves encryptGCM's length check
// (sealkey.go, "AES-GCM returned %d bytes for %d bytes of plaintext"): a
// module that returns a byte too many (and, consistently, ignores it when
// decrypting, so the seal-then-unseal check passes) is refused with
// ErrModule. For data and tags this check is the only barrier; for shares
// Seal's own length check is a second one.
func TestWrongCiphertextLengthIsRefused(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	f.Set(func(f *hsm.Faults) {
		f.Encrypt = func(_ pkcs11.SessionHandle, pt []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			ct, err := next(pt)
			return append(ct, 0x5a), err
		}
		f.Decrypt = func(_ pkcs11.SessionHandle, ct []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			if len(ct) > 0 && ct[len(ct)-1] == 0x5a {
				ct = ct[:len(ct)-1]
			}
			return next(ct)
		}
	})
	for _, op := range sealOps(t) {
		t.Run("refuses a "+op.name+" with a byte too many", func(t *testing.T) {
			out, err := op.run(t.Context(), k)
			if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "bytes of plaintext") || out != nil {
				t.Fatalf("got %d bytes, %v; want ErrModule naming the ciphertext length", len(out), err)
			}
		})
	}
}

// TestSealThatUnsealsToAnotherValueIsRefused proves sealChecked's
// comparison (sealkey.go, "just sealed unseals to another value"): when
// the check decryption gives back other bytes than were sealed, the seal
// fails with ErrModule while the secret still exists elsewhere.
func TestSealThatUnsealsToAnotherValueIsRefused(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	f.Set(func(f *hsm.Faults) {
		f.Decrypt = func(_ pkcs11.SessionHandle, ct []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			pt, err := next(ct)
			if len(pt) > 0 {
				pt[0] ^= 1
			}
			return pt, err
		}
	})
	for _, op := range sealOps(t)[:2] { // a tag has no plaintext to differ
		t.Run("refuses a "+op.name+" that unseals to another value", func(t *testing.T) {
			out, err := op.run(t.Context(), k)
			if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "unseals to another value") || out != nil {
				t.Fatalf("got %d bytes, %v; want ErrModule", len(out), err)
			}
		})
	}
}

// TestSealThatDoesNotUnsealIsRefused proves the check decryption of
// sealChecked (sealkey.go, "just sealed does not unseal") and of Tag
// (mac.go, "a tag just made does not verify"): when the module cannot
// open what it just made, nothing is returned.
func TestSealThatDoesNotUnsealIsRefused(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	f.Set(func(f *hsm.Faults) {
		f.Decrypt = func(_ pkcs11.SessionHandle, ct []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			pt, _ := next(ct)
			clear(pt)
			return nil, pkcs11.Error(pkcs11.CKR_ENCRYPTED_DATA_INVALID)
		}
	})
	want := map[string]string{"share": "does not unseal", "data": "does not unseal", "tag": "does not verify"}
	for _, op := range sealOps(t) {
		t.Run("refuses a "+op.name+" that does not open", func(t *testing.T) {
			out, err := op.run(t.Context(), k)
			if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), want[op.name]) || out != nil {
				t.Fatalf("got %d bytes, %v; want ErrModule saying %q", len(out), err, want[op.name])
			}
		})
	}
}

// TestWrongPlaintextLengthIsRefused proves decryptGCM's length check
// (sealkey.go, "AES-GCM returned %d bytes, want %d"): a module that
// returns more or fewer bytes than the ciphertext holds is a module
// failure (ErrModule), not a forged blob and not data to hand out. For
// tags, VerifyTag's own empty-plaintext check is a second barrier.
func TestWrongPlaintextLengthIsRefused(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	sealed, err := k.SealData(t.Context(), []byte("ceremony snapshot"), dataLabel)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := k.Tag(t.Context(), []byte("audit checkpoint"), dataLabel)
	if err != nil {
		t.Fatal(err)
	}
	for _, change := range []struct {
		name string
		f    func(pt []byte) []byte
	}{
		{"a byte more", func(pt []byte) []byte { return append(pt, 0) }},
		{"a byte less", func(pt []byte) []byte {
			if len(pt) == 0 {
				return pt
			}
			return pt[:len(pt)-1]
		}},
	} {
		f.Set(func(f *hsm.Faults) {
			f.Decrypt = func(_ pkcs11.SessionHandle, ct []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
				pt, err := next(ct)
				return change.f(pt), err
			}
		})
		t.Run("refuses a share unsealed to "+change.name, func(t *testing.T) {
			if got, err := k.Unseal(t.Context(), blob, a.placement()); !errors.Is(err, hsm.ErrModule) || got.Key != nil {
				t.Fatalf("got %v; want ErrModule", err)
			}
		})
		t.Run("refuses data unsealed to "+change.name, func(t *testing.T) {
			if got, err := k.UnsealData(t.Context(), sealed, dataLabel); !errors.Is(err, hsm.ErrModule) || got != nil {
				t.Fatalf("got %d bytes, %v; want ErrModule", len(got), err)
			}
		})
		t.Run("aborts a bulk unseal on "+change.name, func(t *testing.T) {
			var ue *hsm.UnsealError
			if set, err := k.UnsealAll(t.Context(), [][]byte{blob}, a.placement()); !errors.Is(err, hsm.ErrModule) || errors.As(err, &ue) || set != nil {
				t.Fatalf("got %v; want ErrModule for the whole unseal, not a refused blob", err)
			}
		})
		if change.name == "a byte more" {
			t.Run("refuses a tag verified to "+change.name, func(t *testing.T) {
				if err := k.VerifyTag(t.Context(), []byte("audit checkpoint"), dataLabel, tag); !errors.Is(err, hsm.ErrModule) || errors.Is(err, hsm.ErrTag) {
					t.Fatalf("got %v; want ErrModule", err)
				}
			})
		}
	}
}

// TestStandardAuthenticationFailureIsAForgery proves decryptGCM's
// classification of tag mismatches (sealkey.go, the CKR_ENCRYPTED_DATA_*
// case): SoftHSM reports a failed GCM tag as CKR_GENERAL_ERROR, other
// modules use the standard codes; each is a refused blob (ErrUnseal, or
// ErrTag for tags), and in a bulk unseal only that blob is refused.
func TestStandardAuthenticationFailureIsAForgery(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	a, b := newAccount(t, 1), newAccount(t, 1)
	blobA, blobB := seal(t, k, a), seal(t, k, b)
	tag, err := k.Tag(t.Context(), []byte("audit checkpoint"), dataLabel)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []uint{pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE} {
		f.Set(func(f *hsm.Faults) {
			f.Decrypt = func(_ pkcs11.SessionHandle, ct []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
				// Only blob B (and the tag) is "forged". The real call
				// still runs, so that the module's operation ends as a
				// failed C_Decrypt ends it.
				pt, err := next(ct)
				if bytes.HasSuffix(blobB, ct) || bytes.HasSuffix(tag, ct) {
					clear(pt)
					return nil, pkcs11.Error(code)
				}
				return pt, err
			}
		})
		name := pkcs11.Error(code).Error()
		t.Run("refuses a share on "+name, func(t *testing.T) {
			if _, err := k.Unseal(t.Context(), blobB, b.placement()); !errors.Is(err, hsm.ErrUnseal) || !hsm.Permanent(err) {
				t.Fatalf("got %v; want ErrUnseal", err)
			}
		})
		t.Run("refuses a tag on "+name, func(t *testing.T) {
			if err := k.VerifyTag(t.Context(), []byte("audit checkpoint"), dataLabel, tag); !errors.Is(err, hsm.ErrTag) {
				t.Fatalf("got %v; want ErrTag", err)
			}
		})
		t.Run("refuses only that blob of a bulk unseal on "+name, func(t *testing.T) {
			_, err := k.UnsealAll(t.Context(), [][]byte{blobA, blobB}, a.placement())
			var ue *hsm.UnsealError
			if !errors.As(err, &ue) || len(ue.Failed) != 1 || ue.Failed[0].Index != 1 || !errors.Is(ue.Failed[0], hsm.ErrUnseal) {
				t.Fatalf("got %v; want blob #1 refused with ErrUnseal", err)
			}
		})
	}
}

// TestModuleFailureOnUnsealIsNotAForgery proves the other side of those
// branches: decryptGCM's default (callError), VerifyTag's ErrUnseal-only
// translation to ErrTag (mac.go), and unsealParsed's fatal case
// (unsealall.go): a device error is a transient module failure, never
// reported as a forged blob or tag, it aborts a bulk unseal, and the
// session it happened in is closed, not reused.
func TestModuleFailureOnUnsealIsNotAForgery(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	tag, err := k.Tag(t.Context(), []byte("audit checkpoint"), dataLabel)
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan pkcs11.SessionHandle, 16)
	f.Set(func(f *hsm.Faults) {
		f.Decrypt = func(s pkcs11.SessionHandle, _ []byte, _ func([]byte) ([]byte, error)) ([]byte, error) {
			failed <- s
			return nil, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
		}
	})
	if _, err := k.Unseal(t.Context(), blob, a.placement()); !errors.Is(err, hsm.ErrModule) || errors.Is(err, hsm.ErrUnseal) || !hsm.Transient(err) {
		t.Errorf("unseal: got %v; want a transient ErrModule, not ErrUnseal", err)
	}
	waitClosed(t, f, <-failed)
	if err := k.VerifyTag(t.Context(), []byte("audit checkpoint"), dataLabel, tag); !errors.Is(err, hsm.ErrModule) || errors.Is(err, hsm.ErrTag) {
		t.Errorf("verify tag: got %v; want ErrModule, not ErrTag", err)
	}
	waitClosed(t, f, <-failed)
	var ue *hsm.UnsealError
	if set, err := k.UnsealAll(t.Context(), [][]byte{blob}, a.placement()); !errors.Is(err, hsm.ErrModule) || errors.As(err, &ue) || set != nil {
		t.Errorf("unseal all: got %v; want ErrModule for the whole unseal", err)
	}
	waitClosed(t, f, <-failed)
}

// attrCase is an attribute a module reports differently from what was
// asked for.
type attrCase struct {
	name  string // of the attribute, as the error must name it
	typ   uint
	value []byte
}

func boolValue(v bool) []byte  { return pkcs11.NewAttribute(0, v).Value }
func ulongValue(v uint) []byte { return pkcs11.NewAttribute(0, v).Value }
func mechanisms(m ...uint) []byte {
	var b []byte
	for _, x := range m {
		b = append(b, ulongValue(x)...)
	}
	return b
}

// secretKeyCases are reports that make any key holding a secret unfit.
var secretKeyCases = []attrCase{
	{"CKA_TOKEN", pkcs11.CKA_TOKEN, boolValue(false)},
	{"CKA_PRIVATE", pkcs11.CKA_PRIVATE, boolValue(false)},
	{"CKA_SENSITIVE", pkcs11.CKA_SENSITIVE, boolValue(false)},
	{"CKA_SENSITIVE", pkcs11.CKA_SENSITIVE, []byte{1, 0}}, // wrong size
	{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE, boolValue(true)},
	{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE, nil}, // empty
	{"CKA_ALWAYS_SENSITIVE", pkcs11.CKA_ALWAYS_SENSITIVE, boolValue(false)},
	{"CKA_NEVER_EXTRACTABLE", pkcs11.CKA_NEVER_EXTRACTABLE, boolValue(false)},
}

// alterAttribute makes the module report c instead of the real value.
func alterAttribute(f *hsm.Faults, c attrCase) {
	f.Set(func(f *hsm.Faults) {
		f.Attribute = func(typ uint, next func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
			got, err := next()
			if err == nil && typ == c.typ {
				got[0].Value = c.value
			}
			return got, err
		}
	})
}

// TestSealingKeyAttributesAreCheckedOneByOne proves checkAttributes
// (object.go, the comparison with each rule of sealingKeyRules): whatever
// one attribute the module reports weaker than required (a key that is not
// sensitive, extractable, usable with other mechanisms or for other
// operations, of another type or length, or an attribute of the wrong
// size), the key is refused with ErrKeyAttributes naming that attribute.
func TestSealingKeyAttributesAreCheckedOneByOne(t *testing.T) {
	ht, _, f, _ := faultySealingKey(t)
	cases := append([]attrCase{
		{"CKA_CLASS", pkcs11.CKA_CLASS, ulongValue(pkcs11.CKO_PRIVATE_KEY)},
		{"CKA_KEY_TYPE", pkcs11.CKA_KEY_TYPE, ulongValue(pkcs11.CKK_GENERIC_SECRET)},
		{"CKA_VALUE_LEN", pkcs11.CKA_VALUE_LEN, ulongValue(16)},
		{"CKA_VALUE_LEN", pkcs11.CKA_VALUE_LEN, []byte{32, 0, 0, 0}}, // a 4-byte CK_ULONG
		{"CKA_ENCRYPT", pkcs11.CKA_ENCRYPT, boolValue(false)},
		{"CKA_DECRYPT", pkcs11.CKA_DECRYPT, boolValue(false)},
		{"CKA_WRAP", pkcs11.CKA_WRAP, boolValue(true)},
		{"CKA_UNWRAP", pkcs11.CKA_UNWRAP, boolValue(true)},
		{"CKA_SIGN", pkcs11.CKA_SIGN, boolValue(true)},
		{"CKA_VERIFY", pkcs11.CKA_VERIFY, boolValue(true)},
		{"CKA_DERIVE", pkcs11.CKA_DERIVE, boolValue(true)},
		{"CKA_ALLOWED_MECHANISMS", pkcs11.CKA_ALLOWED_MECHANISMS, nil}, // any mechanism
		{"CKA_ALLOWED_MECHANISMS", pkcs11.CKA_ALLOWED_MECHANISMS, mechanisms(pkcs11.CKM_AES_GCM, pkcs11.CKM_AES_CBC)},
		{"CKA_ALLOWED_MECHANISMS", pkcs11.CKA_ALLOWED_MECHANISMS, mechanisms(pkcs11.CKM_AES_CBC_PAD)},
	}, secretKeyCases...)
	for _, c := range cases {
		t.Run(fmt.Sprintf("refuses %s reported as %x", c.name, c.value), func(t *testing.T) {
			alterAttribute(f, c)
			_, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel})
			if !errors.Is(err, hsm.ErrKeyAttributes) || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("got %v; want ErrKeyAttributes naming %s", err, c.name)
			}
		})
	}
}

// TestTLSKeyAttributesAreCheckedOneByOne is the same for tlsKeyRules
// (tlskey.go): another curve, a key that can decrypt, unwrap or derive,
// other mechanisms than CKM_ECDSA, or any secret-key rule broken.
func TestTLSKeyAttributesAreCheckedOneByOne(t *testing.T) {
	env := softhsm.New(t, "node-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	if _, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"}); err != nil {
		t.Fatal(err)
	}
	p384 := []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}
	cases := append([]attrCase{
		{"CKA_CLASS", pkcs11.CKA_CLASS, ulongValue(pkcs11.CKO_SECRET_KEY)},
		{"CKA_KEY_TYPE", pkcs11.CKA_KEY_TYPE, ulongValue(pkcs11.CKK_RSA)},
		{"CKA_EC_PARAMS", pkcs11.CKA_EC_PARAMS, p384},
		{"CKA_SIGN", pkcs11.CKA_SIGN, boolValue(false)},
		{"CKA_DECRYPT", pkcs11.CKA_DECRYPT, boolValue(true)},
		{"CKA_UNWRAP", pkcs11.CKA_UNWRAP, boolValue(true)},
		{"CKA_DERIVE", pkcs11.CKA_DERIVE, boolValue(true)},
		{"CKA_ALLOWED_MECHANISMS", pkcs11.CKA_ALLOWED_MECHANISMS, mechanisms(pkcs11.CKM_ECDSA, pkcs11.CKM_ECDSA_SHA256)},
		{"CKA_ALLOWED_MECHANISMS", pkcs11.CKA_ALLOWED_MECHANISMS, nil},
	}, secretKeyCases...)
	for _, c := range cases {
		t.Run(fmt.Sprintf("refuses %s reported as %x", c.name, c.value), func(t *testing.T) {
			alterAttribute(f, c)
			_, err := ht.TLSKey(t.Context(), hsm.Object{Label: "tls"})
			if !errors.Is(err, hsm.ErrKeyAttributes) || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("got %v; want ErrKeyAttributes naming %s", err, c.name)
			}
		})
	}
	t.Run("refuses a TLS key without CKA_ID", func(t *testing.T) {
		// loadTLSKey (tlskey.go, "has no CKA_ID to find its public half by").
		alterAttribute(f, attrCase{"CKA_ID", pkcs11.CKA_ID, nil})
		if _, err := ht.TLSKey(t.Context(), hsm.Object{Label: "tls"}); !errors.Is(err, hsm.ErrKeyAttributes) || !strings.Contains(err.Error(), "CKA_ID") {
			t.Fatalf("got %v; want ErrKeyAttributes naming CKA_ID", err)
		}
	})
}

// TestAttributeQueriesThatFail proves checkAttributes' and readAttribute's
// error branches (object.go): an attribute the module cannot report is a
// key that cannot be vouched for (ErrKeyAttributes); a device error is a
// module failure; an answer with another number of attributes than asked
// for is refused instead of indexed.
func TestAttributeQueriesThatFail(t *testing.T) {
	ht, _, f, _ := faultySealingKey(t)
	for _, tc := range []struct {
		name   string
		answer func(next func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error)
		want   error
	}{
		{"refuses a key whose CKA_SENSITIVE the module cannot report",
			func(func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
				return nil, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_TYPE_INVALID)
			}, hsm.ErrKeyAttributes},
		{"refuses a key whose CKA_SENSITIVE is itself sensitive",
			func(func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
				return nil, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)
			}, hsm.ErrKeyAttributes},
		{"reports a device error as a module failure",
			func(func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
				return nil, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
			}, hsm.ErrModule},
		{"refuses an answer without the attribute",
			func(func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) { return nil, nil }, hsm.ErrModule},
		{"refuses an answer with another attribute",
			func(func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
				return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "x")}, nil
			}, hsm.ErrModule},
		{"refuses an answer with two attributes",
			func(next func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
				got, err := next()
				return append(got, got...), err
			}, hsm.ErrModule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Set(func(f *hsm.Faults) {
				f.Attribute = func(typ uint, next func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
					if typ == pkcs11.CKA_SENSITIVE {
						return tc.answer(next)
					}
					return next()
				}
			})
			if _, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
		})
	}
}

// TestCreatedKeyWeakerThanAskedIsDestroyed proves the clean-up branches of
// CreateSealingKey (sealkey.go, DestroyObject after a failed check) and
// GenerateTLSKey (tlskey.go, key.Delete after a failed check): a module
// that does not honour the template (here: the key comes out extractable)
// leaves no key behind, so the label is free again.
func TestCreatedKeyWeakerThanAskedIsDestroyed(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	extractable := attrCase{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE, boolValue(true)}

	alterAttribute(f, extractable)
	if _, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel}); !errors.Is(err, hsm.ErrKeyAttributes) {
		t.Fatalf("create sealing key: got %v; want ErrKeyAttributes", err)
	}
	if _, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"}); !errors.Is(err, hsm.ErrKeyAttributes) {
		t.Fatalf("generate TLS key: got %v; want ErrKeyAttributes", err)
	}
	f.Set(func(f *hsm.Faults) { f.Attribute = nil })
	if len(f.DestroyedObjects()) != 1 {
		t.Errorf("destroyed %d objects, want the one sealing key", len(f.DestroyedObjects()))
	}
	if _, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel}); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("the refused sealing key is still there: %v", err)
	}
	if _, err := ht.TLSKey(t.Context(), hsm.Object{Label: "tls"}); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("the refused TLS key is still there: %v", err)
	}
}

// TestObjectSearchFaults proves findObjects' and findOne's branches
// (object.go): two objects answering one label and id are ambiguous, and
// a failing search (including its C_FindObjectsFinal) is a module failure.
func TestObjectSearchFaults(t *testing.T) {
	ht, _, f, _ := faultySealingKey(t)
	for _, tc := range []struct {
		name string
		set  func(f *hsm.Faults)
		want error
	}{
		{"refuses a key found twice", func(f *hsm.Faults) {
			f.FindObjects = func(next func() ([]pkcs11.ObjectHandle, bool, error)) ([]pkcs11.ObjectHandle, bool, error) {
				h, more, err := next()
				return append(h, h...), more, err
			}
		}, hsm.ErrKeyAmbiguous},
		{"refuses a key found nowhere", func(f *hsm.Faults) {
			f.FindObjects = func(func() ([]pkcs11.ObjectHandle, bool, error)) ([]pkcs11.ObjectHandle, bool, error) {
				return nil, false, nil
			}
		}, hsm.ErrKeyNotFound},
		{"reports a failed search", func(f *hsm.Faults) {
			f.FindObjects = func(func() ([]pkcs11.ObjectHandle, bool, error)) ([]pkcs11.ObjectHandle, bool, error) {
				return nil, false, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
			}
		}, hsm.ErrModule},
		{"reports a search that cannot be ended", func(f *hsm.Faults) {
			f.FindFinal = func(next func() error) error {
				_ = next()
				return pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
			}
		}, hsm.ErrModule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Set(func(f *hsm.Faults) { f.FindObjects, f.FindFinal = nil, nil; tc.set(f) })
			if _, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
		})
	}
}

// otherCurveSigner is a crypto11.Signer whose public key is P-384.
type otherCurveSigner struct{ key *ecdsa.PrivateKey }

func (s otherCurveSigner) Public() crypto.PublicKey { return s.key.Public() }
func (s otherCurveSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(r, d, o)
}
func (s otherCurveSigner) Delete() error { return nil }

// TestTLSKeyPairLookupFaults proves loadTLSKey's and wrapSigner's branches
// (tlskey.go): crypto11 finding no key pair, two, one on another curve, or
// failing.
func TestTLSKeyPairLookupFaults(t *testing.T) {
	env := softhsm.New(t, "node-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	if _, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"}); err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type finder = func(id, label []byte) ([]crypto11.Signer, error)
	for _, tc := range []struct {
		name   string
		answer func(id, label []byte, find finder) ([]crypto11.Signer, error)
		want   error
	}{
		{"refuses a private key without its public half", func([]byte, []byte, finder) ([]crypto11.Signer, error) {
			return nil, nil
		}, hsm.ErrKeyNotFound},
		{"refuses two key pairs", func(id, label []byte, find finder) ([]crypto11.Signer, error) {
			k, err := find(id, label)
			return append(k, k...), err
		}, hsm.ErrKeyAmbiguous},
		{"refuses a key pair on another curve", func([]byte, []byte, finder) ([]crypto11.Signer, error) {
			return []crypto11.Signer{otherCurveSigner{p384}}, nil
		}, hsm.ErrKeyAttributes},
		{"reports a failed lookup", func([]byte, []byte, finder) ([]crypto11.Signer, error) {
			return nil, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
		}, hsm.ErrModule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Set(func(f *hsm.Faults) { f.FindKeyPairs = tc.answer })
			if _, err := ht.TLSKey(t.Context(), hsm.Object{Label: "tls"}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
		})
	}
}

// lostCodes are the return values that mean the token, its session, its
// login or its object handles went away under a running call.
var lostCodes = []uint{
	pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_SESSION_HANDLE_INVALID,
	pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_OBJECT_HANDLE_INVALID,
	pkcs11.CKR_KEY_HANDLE_INVALID,
}

// TestSessionLostMidSealIsTransientAndDropped proves callError's
// ErrTokenRemoved case (p11errors.go) and do's session rule (token.go,
// release only when the call succeeded): a seal whose session, token or
// key handle goes away fails with a transient ErrTokenRemoved, its session
// is closed rather than put back, and the next seal, on a fresh session,
// works.
func TestSessionLostMidSealIsTransientAndDropped(t *testing.T) {
	_, k, f, _ := faultySealingKey(t)
	a := newAccount(t, 1)
	for _, code := range lostCodes {
		t.Run(pkcs11.Error(code).Error(), func(t *testing.T) {
			lost := make(chan pkcs11.SessionHandle, 1)
			var once sync.Once
			f.Set(func(f *hsm.Faults) {
				f.Encrypt = func(s pkcs11.SessionHandle, pt []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
					failed := false
					once.Do(func() { failed = true })
					if failed {
						lost <- s
						return nil, pkcs11.Error(code)
					}
					return next(pt)
				}
			})
			if _, err := k.Seal(t.Context(), a.share, a.binding); !errors.Is(err, hsm.ErrTokenRemoved) || !hsm.Transient(err) || hsm.Permanent(err) {
				t.Fatalf("got %v; want a transient ErrTokenRemoved", err)
			}
			waitClosed(t, f, <-lost)
			seal(t, k, a)
		})
	}
}

// TestTLSSignatureOnLostTokenIsTransient proves the same classification
// for crypto11's signatures (tlskey.go, hsmSigner.Sign), issue 17's
// "every TLS handshake failed (CKR_OBJECT_HANDLE_INVALID)", and Sign's
// digest check, which refuses before the module sees anything.
func TestTLSSignatureOnLostTokenIsTransient(t *testing.T) {
	env := softhsm.New(t, "node-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	key, err := ht.GenerateTLSKey(t.Context(), hsm.Object{Label: "tls"})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("handshake"))
	for _, code := range append(lostCodes, pkcs11.CKR_DEVICE_ERROR) {
		t.Run(pkcs11.Error(code).Error(), func(t *testing.T) {
			f.Set(func(f *hsm.Faults) {
				f.Sign = func(func() ([]byte, error)) ([]byte, error) { return nil, pkcs11.Error(code) }
			})
			want := hsm.ErrTokenRemoved
			if code == pkcs11.CKR_DEVICE_ERROR {
				want = hsm.ErrModule
			}
			if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, want) || !hsm.Transient(err) {
				t.Fatalf("got %v; want a transient %v", err, want)
			}
		})
	}
	t.Run("refuses a digest of the wrong length before the module", func(t *testing.T) {
		f.Set(func(f *hsm.Faults) {
			f.Sign = func(func() ([]byte, error)) ([]byte, error) {
				t.Error("the module was asked to sign")
				return nil, nil
			}
		})
		if _, err := key.Sign(rand.Reader, digest[:31], crypto.SHA256); err == nil {
			t.Fatal("signed a 31-byte SHA-256 digest")
		}
	})
}

// TestMechanismSupportIsChecked proves checkMechanism's branches
// (mechanism.go): a token without AES-GCM, without the decrypt flag, with
// key sizes that exclude AES-256, or failing the query, is refused before
// any key is used, with a message naming the mechanism and what it is
// needed for; a module that states no key sizes (0..0) is accepted.
func TestMechanismSupportIsChecked(t *testing.T) {
	ht, _, f, _ := faultySealingKey(t)
	for _, tc := range []struct {
		name   string
		answer func(next func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error)
		want   error
		msg    string
	}{
		{"refuses a token without AES-GCM", func(func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
			return pkcs11.MechanismInfo{}, pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)
		}, hsm.ErrMechanismUnsupported, "lacks CKM_AES_GCM, needed to seal"},
		{"refuses AES-GCM that cannot decrypt", func(next func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
			mi, err := next()
			mi.Flags &^= pkcs11.CKF_DECRYPT
			return mi, err
		}, hsm.ErrMechanismUnsupported, "lacks the usage flags"},
		{"refuses AES-GCM limited to AES-128", func(next func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
			mi, err := next()
			mi.MinKeySize, mi.MaxKeySize = 16, 16
			return mi, err
		}, hsm.ErrMechanismUnsupported, "supports key sizes 16..16"},
		{"accepts a module that states no key sizes", func(next func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
			mi, err := next()
			mi.MinKeySize, mi.MaxKeySize = 0, 0
			return mi, err
		}, nil, ""},
		{"reports a failed query", func(func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
			return pkcs11.MechanismInfo{}, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
		}, hsm.ErrModule, "C_GetMechanismInfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.Set(func(f *hsm.Faults) {
				f.MechanismInfo = func(mech uint, next func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
					if mech == pkcs11.CKM_AES_GCM {
						return tc.answer(next)
					}
					return next()
				}
			})
			_, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel})
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) || err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v; want %v saying %q", err, tc.want, tc.msg)
			}
		})
	}
}

// loginError is how crypto11 reports a failed C_Login: the PKCS#11 code,
// wrapped.
func loginError(code uint) error {
	return fmt.Errorf("failed to log into long term session: %w", pkcs11.Error(code))
}

// TestOpenFaultsAreClassified proves the branches of Open (token.go, dial
// and findSlot) and callError's classification (p11errors.go) of what
// the module says while a token is opened and logged in to: a wrong or
// locked PIN is permanent (a restart must not try it again), a device
// error or a token that went away is transient; nothing stays open.
func TestOpenFaultsAreClassified(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	type outcome struct {
		want      error
		permanent bool
	}
	for _, tc := range []struct {
		name string
		set  func(f *hsm.Faults)
		outcome
	}{
		{"a wrong PIN is permanent", func(f *hsm.Faults) {
			f.Configure = func(func() error) error { return loginError(pkcs11.CKR_PIN_INCORRECT) }
		}, outcome{hsm.ErrWrongPIN, true}},
		{"a locked PIN is permanent", func(f *hsm.Faults) {
			f.Configure = func(func() error) error { return loginError(pkcs11.CKR_PIN_LOCKED) }
		}, outcome{hsm.ErrPINLocked, true}},
		{"a device error at login is transient", func(f *hsm.Faults) {
			f.Configure = func(func() error) error { return loginError(pkcs11.CKR_DEVICE_ERROR) }
		}, outcome{hsm.ErrModule, false}},
		{"a token removed during login is transient", func(f *hsm.Faults) {
			f.Configure = func(func() error) error { return loginError(pkcs11.CKR_DEVICE_REMOVED) }
		}, outcome{hsm.ErrTokenRemoved, false}},
		{"no token with the label is permanent", func(f *hsm.Faults) {
			f.Configure = func(func() error) error { return errors.New("could not find PKCS#11 token") }
		}, outcome{hsm.ErrTokenNotFound, true}},
		{"a file that is not a module is permanent", func(f *hsm.Faults) {
			f.Load = func(func() bool) bool { return false }
		}, outcome{hsm.ErrModuleNotFound, true}},
		{"a failed C_Initialize is transient", func(f *hsm.Faults) {
			f.Initialize = func(func() error) error { return pkcs11.Error(pkcs11.CKR_DEVICE_ERROR) }
		}, outcome{hsm.ErrModule, false}},
		{"two tokens with the label are ambiguous", func(f *hsm.Faults) {
			f.SlotList = func(next func() ([]uint, error)) ([]uint, error) {
				s, err := next()
				return append(s, s...), err
			}
		}, outcome{hsm.ErrTokenAmbiguous, true}},
		{"a failed slot list is transient", func(f *hsm.Faults) {
			f.SlotList = func(func() ([]uint, error)) ([]uint, error) { return nil, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR) }
		}, outcome{hsm.ErrModule, false}},
		{"a token gone from its slot is transient", func(f *hsm.Faults) {
			f.TokenInfo = func(func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) {
				return pkcs11.TokenInfo{}, pkcs11.Error(pkcs11.CKR_TOKEN_NOT_PRESENT)
			}
		}, outcome{hsm.ErrTokenRemoved, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := hsm.NewFaults()
			tc.set(f)
			ht, err := hsm.OpenFaulty(t.Context(), env.Tokens[0].URI, hsm.DefaultOptions(), f)
			if err == nil {
				ht.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, tc.want) || hsm.Permanent(err) != tc.permanent || hsm.Transient(err) == tc.permanent {
				t.Fatalf("got %v (permanent %v); want %v (permanent %v)", err, hsm.Permanent(err), tc.want, tc.permanent)
			}
			if f.Load == nil && f.Released() != 1 {
				t.Fatalf("%d module handles released, want the one loaded", f.Released())
			}
		})
	}
	// Nothing was left logged in or initialised: the token opens.
	open(t, env.Tokens[0])
}

// TestLoginThatHangsTimesOut proves Open's timeout (token.go, openWith's
// select and its late-success release): a login that does not return
// within the call timeout gives a transient ErrTimeout at once, and when
// it does return, what it opened is released.
func TestLoginThatHangsTimesOut(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	f := hsm.NewFaults()
	release := make(chan struct{})
	f.Set(func(f *hsm.Faults) {
		f.Configure = func(next func() error) error {
			<-release
			return next()
		}
	})
	opts := hsm.DefaultOptions()
	opts.CallTimeout = time.Second
	ht, err := hsm.OpenFaulty(t.Context(), env.Tokens[0].URI, opts, f)
	if err == nil {
		ht.Close()
	}
	if !errors.Is(err, hsm.ErrTimeout) || !hsm.Transient(err) {
		t.Fatalf("got %v; want a transient ErrTimeout", err)
	}
	close(release)
	waitFor(t, f.ModuleReleased(), "releasing the late login")
	if f.Configured() != 1 {
		t.Fatalf("%d logins, want the late one", f.Configured())
	}
	open(t, env.Tokens[0])
}

// TestCallThatHangsTimesOut proves run's timeout and do's session rule
// (token.go): a seal stuck in the module returns ErrTimeout at once; when
// the call finally returns, its session is closed, not reused; the next
// seal works.
func TestCallThatHangsTimesOut(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	opts := hsm.DefaultOptions()
	opts.CallTimeout = time.Second
	ht, f := openFaulty(t, env.Tokens[0], opts)
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 1)
	release := make(chan struct{})
	stuck := make(chan pkcs11.SessionHandle, 1)
	f.Set(func(f *hsm.Faults) {
		f.Encrypt = func(s pkcs11.SessionHandle, pt []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			select {
			case stuck <- s:
				<-release
			default:
			}
			return next(pt)
		}
	})
	if _, err := k.Seal(t.Context(), a.share, a.binding); !errors.Is(err, hsm.ErrTimeout) || !hsm.Transient(err) {
		t.Fatalf("got %v; want a transient ErrTimeout", err)
	}
	close(release)
	waitClosed(t, f, <-stuck)
	seal(t, k, a)
}

// TestCloseWithACallStuck proves Close's timeout (token.go): Close
// reports ErrTimeout while a call is stuck, and releases the module once
// the call returns.
func TestCloseWithACallStuck(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	opts := hsm.DefaultOptions()
	opts.CallTimeout = time.Second
	f := hsm.NewFaults()
	ht, err := hsm.OpenFaulty(t.Context(), env.Tokens[0].URI, opts, f)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	f.Set(func(f *hsm.Faults) {
		f.Encrypt = func(_ pkcs11.SessionHandle, pt []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			<-release
			return next(pt)
		}
	})
	a := newAccount(t, 1)
	if _, err := k.Seal(t.Context(), a.share, a.binding); !errors.Is(err, hsm.ErrTimeout) {
		t.Fatalf("seal: got %v; want ErrTimeout", err)
	}
	if err := ht.Close(); !errors.Is(err, hsm.ErrTimeout) {
		t.Fatalf("close: got %v; want ErrTimeout", err)
	}
	if f.Released() != 0 {
		t.Fatal("the module was released under a running call")
	}
	close(release)
	waitFor(t, f.ModuleReleased(), "releasing the module after the stuck call")
}

// TestBulkUnsealThatHangsTimesOut proves unsealParsed's watchdog
// (unsealall.go, "unsealing a share took longer than"): one share stuck in
// the module ends a bulk unseal with ErrTimeout although the caller's
// context has no deadline, and the token still closes cleanly afterwards.
func TestBulkUnsealThatHangsTimesOut(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	opts := hsm.DefaultOptions()
	opts.CallTimeout = time.Second
	ht, f := openFaulty(t, env.Tokens[0], opts)
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	release := make(chan struct{})
	f.Set(func(f *hsm.Faults) {
		f.Decrypt = func(_ pkcs11.SessionHandle, ct []byte, next func([]byte) ([]byte, error)) ([]byte, error) {
			<-release
			return next(ct)
		}
	})
	done := make(chan error, 1)
	go func() {
		set, err := k.UnsealAll(t.Context(), [][]byte{blob}, a.placement())
		if set != nil {
			set.Close()
		}
		done <- err
	}()
	err = waitFor(t, done, "the bulk unseal returning")
	if !errors.Is(err, hsm.ErrTimeout) || !strings.Contains(err.Error(), "took longer than") {
		t.Fatalf("got %v; want ErrTimeout from the watchdog", err)
	}
	close(release)
	if err := ht.Close(); err != nil {
		t.Fatalf("close after the stuck unseal returned: %v", err)
	}
}

// TestStatusReportsPINState proves Status's PIN checks (status.go): a
// locked user PIN, or one wrong try from locking, fails the token check.
func TestStatusReportsPINState(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, f := openFaulty(t, env.Tokens[0], hsm.DefaultOptions())
	for _, flag := range []uint{pkcs11.CKF_USER_PIN_LOCKED, pkcs11.CKF_USER_PIN_FINAL_TRY} {
		f.Set(func(f *hsm.Faults) {
			f.TokenInfo = func(next func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) {
				ti, err := next()
				ti.Flags |= flag
				return ti, err
			}
		})
		st, err := ht.Status(t.Context(), hsm.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.OK() || !errors.Is(st.Checks[0].Err, hsm.ErrPINLocked) {
			t.Fatalf("flag 0x%x: token check %v; want ErrPINLocked", flag, st.Checks[0].Err)
		}
	}
}
