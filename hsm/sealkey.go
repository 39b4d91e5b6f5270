package hsm

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// SealingKey is the token's AES-256 key that seals shares. Its value never
// leaves the HSM: encryption and decryption run inside it.
type SealingKey struct {
	t   *Token
	obj Object // with the id, so that finding it again finds this key

	ref atomic.Pointer[keyRef]
	mu  sync.Mutex // one search at a time after a Reopen
}

// keyRef is a key's object handle and the generation of the conn it was
// found through: handles do not outlive a token's removal.
type keyRef struct {
	gen    uint64
	handle pkcs11.ObjectHandle
}

// handle returns the key's object handle for calls through c. After a
// Reopen the key is found again by label and id, and its attributes are
// checked again, on first use.
func (k *SealingKey) handle(c *conn, s pkcs11.SessionHandle) (pkcs11.ObjectHandle, error) {
	if r := k.ref.Load(); r != nil && r.gen == c.gen {
		return r.handle, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.ref.Load()
	if r != nil && r.gen == c.gen {
		return r.handle, nil
	}
	h, err := findSealingKey(c, s, k.obj)
	if err != nil {
		return 0, err
	}
	// A call still running on a replaced conn does not step back the
	// generation the key is known by.
	if r == nil || r.gen < c.gen {
		k.ref.Store(&keyRef{gen: c.gen, handle: h})
	}
	return h, nil
}

// findSealingKey finds the sealing key o and checks its attributes.
func findSealingKey(c *conn, s pkcs11.SessionHandle, o Object) (pkcs11.ObjectHandle, error) {
	h, err := findOne(c.p11, s, o, pkcs11.CKO_SECRET_KEY, "sealing key")
	if err != nil {
		return 0, err
	}
	if err := checkAttributes(c.p11, s, h, sealingKeyRules(), "sealing key "+o.String()); err != nil {
		return 0, err
	}
	return h, nil
}

// keyIDLength is the length of the random CKA_ID given to keys created
// without an id.
const keyIDLength = 16

// sealingKeyRules is what a sealing key must be: an AES-256 token object
// that is private, sensitive and never extractable, usable to encrypt and
// decrypt with AES-GCM only. A key that fails any rule is not used, even if
// some other tool made it.
func sealingKeyRules() []attrRule {
	return append([]attrRule{
		ulongRule(pkcs11.CKA_CLASS, "CKA_CLASS", pkcs11.CKO_SECRET_KEY, showClass),
		ulongRule(pkcs11.CKA_KEY_TYPE, "CKA_KEY_TYPE", pkcs11.CKK_AES, showKeyType),
		ulongRule(pkcs11.CKA_VALUE_LEN, "CKA_VALUE_LEN", 32, showULong),
	}, append(secretRules(),
		boolRule(pkcs11.CKA_ENCRYPT, "CKA_ENCRYPT", true),
		boolRule(pkcs11.CKA_DECRYPT, "CKA_DECRYPT", true),
		boolRule(pkcs11.CKA_WRAP, "CKA_WRAP", false),
		boolRule(pkcs11.CKA_UNWRAP, "CKA_UNWRAP", false),
		boolRule(pkcs11.CKA_SIGN, "CKA_SIGN", false),
		boolRule(pkcs11.CKA_VERIFY, "CKA_VERIFY", false),
		boolRule(pkcs11.CKA_DERIVE, "CKA_DERIVE", false),
		mechanismsRule(pkcs11.CKM_AES_GCM),
	)...)
}

// CreateSealingKey generates the AES-256 sealing key in the token with the
// object's label and id (a random 16-byte id when none is given). It
// refuses, changing nothing, when any object already has that label or id,
// and checks the created key's attributes before returning it.
func (t *Token) CreateSealingKey(ctx context.Context, o Object) (*SealingKey, error) {
	o, err := t.prepareNewKey(ctx, o, needAESKeyGen, needAESGCM)
	if err != nil {
		return nil, err
	}
	k := &SealingKey{t: t, obj: o}
	err = t.do(ctx, "creating sealing key "+o.String(), func(c *conn, s pkcs11.SessionHandle) error {
		if err := refuseExisting(c.p11, s, o); err != nil {
			return err
		}
		h, err := c.p11.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, sealingKeyTemplate(o))
		if err != nil {
			return callError("C_GenerateKey(CKM_AES_KEY_GEN)", err)
		}
		if err := checkAttributes(c.p11, s, h, sealingKeyRules(), "new sealing key "+o.String()); err != nil {
			// The module did not honour the template: do not leave a weak key.
			_ = c.p11.DestroyObject(s, h)
			return err
		}
		k.ref.Store(&keyRef{gen: c.gen, handle: h})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func sealingKeyTemplate(o Object) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		// Not modifiable: nobody with the PIN can later widen its uses.
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_COPYABLE, false),
		mechanismsRule(pkcs11.CKM_AES_GCM).attribute(),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, o.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, o.ID),
	}
}

func (r attrRule) attribute() *pkcs11.Attribute { return pkcs11.NewAttribute(r.typ, r.want) }

// SealingKey finds the sealing key named by o and checks its attributes
// and the token's AES-GCM support. A key weaker than CreateSealingKey makes
// is refused with ErrKeyAttributes.
func (t *Token) SealingKey(ctx context.Context, o Object) (*SealingKey, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := t.checkMechanisms(ctx, needAESGCM); err != nil {
		return nil, err
	}
	k := &SealingKey{t: t, obj: o}
	err := t.do(ctx, "finding sealing key "+o.String(), func(c *conn, s pkcs11.SessionHandle) error {
		h, err := findSealingKey(c, s, o)
		if err != nil {
			return err
		}
		id, err := readID(c.p11, s, h)
		if err != nil {
			return err
		}
		k.obj.ID = id
		k.ref.Store(&keyRef{gen: c.gen, handle: h})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Object returns the key's label and id.
func (k *SealingKey) Object() Object { return Object{Label: k.obj.Label, ID: bytes.Clone(k.obj.ID)} }

// sealChecked encrypts plaintext with [encryptGCM] and decrypts the result
// once, comparing it with plaintext, so a module that mis-seals is caught
// while the plaintext still exists elsewhere. what names it in errors.
func (k *SealingKey) sealChecked(c *conn, s pkcs11.SessionHandle, iv [ivLength]byte, aad, plaintext []byte, what string) ([]byte, error) {
	sealed, err := k.encryptGCM(c, s, iv, aad, plaintext)
	if err != nil {
		return nil, err
	}
	back, err := k.decryptGCM(c, s, iv, aad, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s just sealed does not unseal: %w", ErrModule, what, err)
	}
	same := subtle.ConstantTimeCompare(back, plaintext) == 1
	clear(back)
	if !same {
		return nil, fmt.Errorf("%w: %s just sealed unseals to another value", ErrModule, what)
	}
	return sealed, nil
}

// encryptGCM encrypts plaintext with AES-256-GCM in the HSM under our IV
// and a 128-bit tag, and returns the ciphertext followed by the tag.
// Neither the IV nor the tag length is left to the module: some modules
// accept an empty IV or a zero tag length, and some replace the IV; the IV
// is read back and compared so such a module is refused instead of
// producing blobs that can never be opened.
func (k *SealingKey) encryptGCM(c *conn, s pkcs11.SessionHandle, iv [ivLength]byte, aad, plaintext []byte) ([]byte, error) {
	h, err := k.handle(c, s)
	if err != nil {
		return nil, err
	}
	params := pkcs11.NewGCMParams(iv[:], aad, tagBits)
	defer params.Free()
	if err := c.p11.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, h); err != nil {
		return nil, callError("C_EncryptInit(CKM_AES_GCM)", err)
	}
	ct, err := c.p11.Encrypt(s, plaintext)
	if err != nil {
		return nil, callError("C_Encrypt(CKM_AES_GCM)", err)
	}
	if used := params.IV(); subtle.ConstantTimeCompare(used, iv[:]) != 1 {
		return nil, fmt.Errorf("%w: the module replaced the AES-GCM IV with its own", ErrMechanismUnsupported)
	}
	if len(ct) != len(plaintext)+tagBits/8 {
		return nil, fmt.Errorf("%w: AES-GCM returned %d bytes for %d bytes of plaintext", ErrModule, len(ct), len(plaintext))
	}
	return ct, nil
}

// decrypt opens a sealed share with [decryptGCM].
func (k *SealingKey) decrypt(c *conn, s pkcs11.SessionHandle, iv [ivLength]byte, aad []byte, sealed [sealedLength]byte) ([]byte, error) {
	return k.decryptGCM(c, s, iv, aad, sealed[:])
}

// decryptGCM opens AES-256-GCM ciphertext (followed by its tag) in the
// HSM. The IV comes from the blob (it is the one used to seal) but its
// length, and the tag length, are fixed here. The caller zeroes the result.
func (k *SealingKey) decryptGCM(c *conn, s pkcs11.SessionHandle, iv [ivLength]byte, aad []byte, sealed []byte) ([]byte, error) {
	if len(sealed) < tagBits/8 {
		return nil, fmt.Errorf("%w: %d bytes of ciphertext, shorter than the tag", ErrUnseal, len(sealed))
	}
	h, err := k.handle(c, s)
	if err != nil {
		return nil, err
	}
	params := pkcs11.NewGCMParams(iv[:], aad, tagBits)
	defer params.Free()
	if err := c.p11.DecryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, h); err != nil {
		return nil, callError("C_DecryptInit(CKM_AES_GCM)", err)
	}
	pt, err := c.p11.Decrypt(s, sealed)
	if err != nil {
		code, _ := returnCode(err)
		switch code {
		// SoftHSM reports a tag mismatch as CKR_GENERAL_ERROR; the
		// standard code is CKR_ENCRYPTED_DATA_INVALID.
		case pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, pkcs11.CKR_GENERAL_ERROR:
			return nil, fmt.Errorf("%w: %s", ErrUnseal, codeName(code))
		}
		return nil, callError("C_Decrypt(CKM_AES_GCM)", err)
	}
	if len(pt) != len(sealed)-tagBits/8 {
		clear(pt)
		return nil, fmt.Errorf("%w: AES-GCM returned %d bytes, want %d", ErrModule, len(pt), len(sealed)-tagBits/8)
	}
	return pt, nil
}
