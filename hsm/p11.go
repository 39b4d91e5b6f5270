package hsm

import (
	"crypto/elliptic"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// The PKCS#11 calls this package makes, declared where they are used and
// no wider. *pkcs11.Ctx implements every one; the tests put a wrapper
// around the real (SoftHSM) implementation that alters one call's result,
// to drive the defensive branches a well-behaved module never takes: an IV
// the module chose itself, a ciphertext or plaintext of the wrong length,
// a seal that does not open, attributes weaker than asked for, a session
// or token that goes away.

// moduleHandle is the process's handle on a module that crypto11 has
// initialised: joined at open, dropped at release.
type moduleHandle interface {
	Initialize(opts ...pkcs11.InitializeOption) error
	Destroy()
}

// slotReader finds the token and what it supports.
type slotReader interface {
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error)
	GetMechanismInfo(slotID uint, m []*pkcs11.Mechanism) (pkcs11.MechanismInfo, error)
}

// sessionOpener opens, checks and closes the sessions of the pool.
type sessionOpener interface {
	OpenSession(slotID uint, flags uint) (pkcs11.SessionHandle, error)
	CloseSession(sh pkcs11.SessionHandle) error
	GetSessionInfo(sh pkcs11.SessionHandle) (pkcs11.SessionInfo, error)
}

// objectFinder searches the token's objects.
type objectFinder interface {
	FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error
	FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error)
	FindObjectsFinal(sh pkcs11.SessionHandle) error
}

// attributeReader reads one object's attributes.
type attributeReader interface {
	GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error)
}

// keyMaker creates the sealing key, and destroys it again when the module
// did not honour the template.
type keyMaker interface {
	GenerateKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, temp []*pkcs11.Attribute) (pkcs11.ObjectHandle, error)
	DestroyObject(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle) error
}

// encrypter seals with AES-GCM.
type encrypter interface {
	EncryptInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error
	Encrypt(sh pkcs11.SessionHandle, message []byte) ([]byte, error)
}

// decrypter unseals with AES-GCM.
type decrypter interface {
	DecryptInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error
	Decrypt(sh pkcs11.SessionHandle, cipher []byte) ([]byte, error)
}

// module is everything a Token does with miekg/pkcs11.
type module interface {
	moduleHandle
	slotReader
	sessionOpener
	objectFinder
	attributeReader
	keyMaker
	encrypter
	decrypter
}

// tlsKeyStore is what a Token does with crypto11, which owns the module's
// initialisation and login and makes TLS keys usable as crypto.Signers.
// The signers it returns (crypto11.Signer) are an interface already.
type tlsKeyStore interface {
	GenerateECDSAKeyPairWithAttributes(public, private crypto11.AttributeSet, curve elliptic.Curve) (crypto11.Signer, error)
	FindKeyPairs(id []byte, label []byte) ([]crypto11.Signer, error)
	Close() error
}

var (
	_ module      = (*pkcs11.Ctx)(nil)
	_ tlsKeyStore = (*crypto11.Context)(nil)
)

// backend loads a module and logs in. Open uses the real libraries; tests
// give a Token one that wraps them.
type backend struct {
	// load opens the module file with miekg/pkcs11; ok is false when the
	// file is not a PKCS#11 module.
	load func(path string) (m module, ok bool)
	// configure initialises the module (once per process and path),
	// finds the token and logs in, through crypto11.
	configure func(cfg *crypto11.Config) (tlsKeyStore, error)
}

// libraries is the production backend.
func libraries() backend {
	return backend{
		load: func(path string) (module, bool) {
			// A nil *pkcs11.Ctx must not become a non-nil interface.
			if p := pkcs11.New(path); p != nil {
				return p, true
			}
			return nil, false
		},
		configure: func(cfg *crypto11.Config) (tlsKeyStore, error) {
			c, err := crypto11.Configure(cfg)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}
