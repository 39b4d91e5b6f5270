package hsm

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"io"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Faults sits between a Token and the real libraries (SoftHSM through
// miekg/pkcs11 and crypto11) and lets a test alter what one call returns:
// the module "misbehaves" in exactly one way while everything else is
// real. A nil hook passes the call through; a hook gets the call's real
// implementation as next and decides whether to call it and what to
// return. Every conn of the Token (Open and each Reopen) goes through the
// same Faults. Set hooks with Set; read records with the accessors.
type Faults struct {
	mu sync.Mutex

	Initialize    func(next func() error) error
	SlotList      func(next func() ([]uint, error)) ([]uint, error)
	TokenInfo     func(next func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error)
	MechanismInfo func(mech uint, next func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error)
	OpenSession   func(next func() (pkcs11.SessionHandle, error)) (pkcs11.SessionHandle, error)
	SessionInfo   func(next func() (pkcs11.SessionInfo, error)) (pkcs11.SessionInfo, error)
	FindObjects   func(next func() ([]pkcs11.ObjectHandle, bool, error)) ([]pkcs11.ObjectHandle, bool, error)
	FindFinal     func(next func() error) error
	Attribute     func(typ uint, next func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error)
	GenerateKey   func(next func() (pkcs11.ObjectHandle, error)) (pkcs11.ObjectHandle, error)
	EncryptInit   func(m []*pkcs11.Mechanism, next func(m []*pkcs11.Mechanism) error) error
	Encrypt       func(s pkcs11.SessionHandle, pt []byte, next func(pt []byte) ([]byte, error)) ([]byte, error)
	DecryptInit   func(m []*pkcs11.Mechanism, next func(m []*pkcs11.Mechanism) error) error
	Decrypt       func(s pkcs11.SessionHandle, ct []byte, next func(ct []byte) ([]byte, error)) ([]byte, error)

	// Load replaces loading the module file; ok false is "not a module".
	Load func(next func() bool) bool
	// Configure wraps crypto11's initialisation and login.
	Configure func(next func() error) error
	// FindKeyPairs and Sign wrap crypto11's key lookup and signatures;
	// find looks up any key pair.
	FindKeyPairs func(id, label []byte, find func(id, label []byte) ([]crypto11.Signer, error)) ([]crypto11.Signer, error)
	Sign         func(next func() ([]byte, error)) ([]byte, error)

	closed     []pkcs11.SessionHandle
	destroyed  []pkcs11.ObjectHandle
	released   int // module handles destroyed
	configured int // crypto11 contexts configured

	closedCh   chan pkcs11.SessionHandle
	releasedCh chan struct{}
}

// NewFaults returns Faults that pass every call through.
func NewFaults() *Faults {
	return &Faults{closedCh: make(chan pkcs11.SessionHandle, 1024), releasedCh: make(chan struct{}, 64)}
}

// SessionClosed delivers each session handle as it is closed.
func (f *Faults) SessionClosed() <-chan pkcs11.SessionHandle { return f.closedCh }

// ModuleReleased delivers an event each time a conn's module handle is
// released (Close, a replaced conn, a failed or abandoned opening).
func (f *Faults) ModuleReleased() <-chan struct{} { return f.releasedCh }

// Set changes hooks under the lock the wrapped calls read them with.
func (f *Faults) Set(change func(f *Faults)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// ClosedSessions returns the sessions closed so far.
func (f *Faults) ClosedSessions() []pkcs11.SessionHandle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pkcs11.SessionHandle(nil), f.closed...)
}

// DestroyedObjects returns the objects destroyed so far.
func (f *Faults) DestroyedObjects() []pkcs11.ObjectHandle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pkcs11.ObjectHandle(nil), f.destroyed...)
}

// Released counts the module handles released.
func (f *Faults) Released() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.released
}

// Configured counts the crypto11 contexts configured (logins).
func (f *Faults) Configured() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.configured
}

func get[H any](f *Faults, h func(f *Faults) H) H {
	f.mu.Lock()
	defer f.mu.Unlock()
	return h(f)
}

// OpenFaulty is Open with f between the Token and the libraries.
func OpenFaulty(ctx context.Context, uri *URI, opts Options, f *Faults) (*Token, error) {
	real := libraries()
	return openWith(ctx, uri, opts, backend{
		load: func(path string) (module, bool) {
			var m module
			ok := false
			load := func() bool { m, ok = real.load(path); return ok }
			if h := get(f, func(f *Faults) func(func() bool) bool { return f.Load }); h != nil {
				if !h(load) {
					if m != nil {
						m.Destroy()
					}
					return nil, false
				}
			} else if !load() {
				return nil, false
			}
			return &faultModule{module: m, f: f}, true
		},
		configure: func(cfg *crypto11.Config) (tlsKeyStore, error) {
			var ks tlsKeyStore
			next := func() error {
				var err error
				ks, err = real.configure(cfg)
				return err
			}
			var err error
			if h := get(f, func(f *Faults) func(func() error) error { return f.Configure }); h != nil {
				err = h(next)
			} else {
				err = next()
			}
			if err != nil {
				if ks != nil {
					_ = ks.Close()
				}
				return nil, err
			}
			f.mu.Lock()
			f.configured++
			f.mu.Unlock()
			return &faultKeyStore{tlsKeyStore: ks, f: f}, nil
		},
	})
}

// Generation returns the generation of the token's current conn.
func (t *Token) Generation() uint64 { return t.current().gen }

// Closing reports whether Close has been called.
func (t *Token) Closing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

type faultModule struct {
	module
	f *Faults
}

func (m *faultModule) Initialize(opts ...pkcs11.InitializeOption) error {
	next := func() error { return m.module.Initialize(opts...) }
	if h := get(m.f, func(f *Faults) func(func() error) error { return f.Initialize }); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) Destroy() {
	m.f.mu.Lock()
	m.f.released++
	m.f.mu.Unlock()
	m.module.Destroy()
	select {
	case m.f.releasedCh <- struct{}{}:
	default:
	}
}

func (m *faultModule) GetSlotList(present bool) ([]uint, error) {
	next := func() ([]uint, error) { return m.module.GetSlotList(present) }
	if h := get(m.f, func(f *Faults) func(func() ([]uint, error)) ([]uint, error) { return f.SlotList }); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) GetTokenInfo(slot uint) (pkcs11.TokenInfo, error) {
	next := func() (pkcs11.TokenInfo, error) { return m.module.GetTokenInfo(slot) }
	if h := get(m.f, func(f *Faults) func(func() (pkcs11.TokenInfo, error)) (pkcs11.TokenInfo, error) { return f.TokenInfo }); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) GetMechanismInfo(slot uint, mech []*pkcs11.Mechanism) (pkcs11.MechanismInfo, error) {
	next := func() (pkcs11.MechanismInfo, error) { return m.module.GetMechanismInfo(slot, mech) }
	if h := get(m.f, func(f *Faults) func(uint, func() (pkcs11.MechanismInfo, error)) (pkcs11.MechanismInfo, error) {
		return f.MechanismInfo
	}); h != nil {
		return h(mech[0].Mechanism, next)
	}
	return next()
}

func (m *faultModule) OpenSession(slot uint, flags uint) (pkcs11.SessionHandle, error) {
	next := func() (pkcs11.SessionHandle, error) { return m.module.OpenSession(slot, flags) }
	if h := get(m.f, func(f *Faults) func(func() (pkcs11.SessionHandle, error)) (pkcs11.SessionHandle, error) {
		return f.OpenSession
	}); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) CloseSession(s pkcs11.SessionHandle) error {
	m.f.mu.Lock()
	m.f.closed = append(m.f.closed, s)
	m.f.mu.Unlock()
	err := m.module.CloseSession(s)
	select {
	case m.f.closedCh <- s:
	default:
	}
	return err
}

func (m *faultModule) GetSessionInfo(s pkcs11.SessionHandle) (pkcs11.SessionInfo, error) {
	next := func() (pkcs11.SessionInfo, error) { return m.module.GetSessionInfo(s) }
	if h := get(m.f, func(f *Faults) func(func() (pkcs11.SessionInfo, error)) (pkcs11.SessionInfo, error) {
		return f.SessionInfo
	}); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) FindObjects(s pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error) {
	next := func() ([]pkcs11.ObjectHandle, bool, error) { return m.module.FindObjects(s, max) }
	if h := get(m.f, func(f *Faults) func(func() ([]pkcs11.ObjectHandle, bool, error)) ([]pkcs11.ObjectHandle, bool, error) {
		return f.FindObjects
	}); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) FindObjectsFinal(s pkcs11.SessionHandle) error {
	next := func() error { return m.module.FindObjectsFinal(s) }
	if h := get(m.f, func(f *Faults) func(func() error) error { return f.FindFinal }); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) GetAttributeValue(s pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	next := func() ([]*pkcs11.Attribute, error) { return m.module.GetAttributeValue(s, o, a) }
	if h := get(m.f, func(f *Faults) func(uint, func() ([]*pkcs11.Attribute, error)) ([]*pkcs11.Attribute, error) {
		return f.Attribute
	}); h != nil {
		return h(a[0].Type, next)
	}
	return next()
}

func (m *faultModule) GenerateKey(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, temp []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	next := func() (pkcs11.ObjectHandle, error) { return m.module.GenerateKey(s, mech, temp) }
	if h := get(m.f, func(f *Faults) func(func() (pkcs11.ObjectHandle, error)) (pkcs11.ObjectHandle, error) {
		return f.GenerateKey
	}); h != nil {
		return h(next)
	}
	return next()
}

func (m *faultModule) DestroyObject(s pkcs11.SessionHandle, o pkcs11.ObjectHandle) error {
	m.f.mu.Lock()
	m.f.destroyed = append(m.f.destroyed, o)
	m.f.mu.Unlock()
	return m.module.DestroyObject(s, o)
}

func (m *faultModule) EncryptInit(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error {
	next := func(mech []*pkcs11.Mechanism) error { return m.module.EncryptInit(s, mech, o) }
	if h := get(m.f, func(f *Faults) func([]*pkcs11.Mechanism, func([]*pkcs11.Mechanism) error) error { return f.EncryptInit }); h != nil {
		return h(mech, next)
	}
	return next(mech)
}

func (m *faultModule) Encrypt(s pkcs11.SessionHandle, pt []byte) ([]byte, error) {
	next := func(pt []byte) ([]byte, error) { return m.module.Encrypt(s, pt) }
	if h := get(m.f, func(f *Faults) func(pkcs11.SessionHandle, []byte, func([]byte) ([]byte, error)) ([]byte, error) {
		return f.Encrypt
	}); h != nil {
		return h(s, pt, next)
	}
	return next(pt)
}

func (m *faultModule) DecryptInit(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error {
	next := func(mech []*pkcs11.Mechanism) error { return m.module.DecryptInit(s, mech, o) }
	if h := get(m.f, func(f *Faults) func([]*pkcs11.Mechanism, func([]*pkcs11.Mechanism) error) error { return f.DecryptInit }); h != nil {
		return h(mech, next)
	}
	return next(mech)
}

func (m *faultModule) Decrypt(s pkcs11.SessionHandle, ct []byte) ([]byte, error) {
	next := func(ct []byte) ([]byte, error) { return m.module.Decrypt(s, ct) }
	if h := get(m.f, func(f *Faults) func(pkcs11.SessionHandle, []byte, func([]byte) ([]byte, error)) ([]byte, error) {
		return f.Decrypt
	}); h != nil {
		return h(s, ct, next)
	}
	return next(ct)
}

type faultKeyStore struct {
	tlsKeyStore
	f *Faults
}

func (k *faultKeyStore) GenerateECDSAKeyPairWithAttributes(public, private crypto11.AttributeSet, curve elliptic.Curve) (crypto11.Signer, error) {
	s, err := k.tlsKeyStore.GenerateECDSAKeyPairWithAttributes(public, private, curve)
	if err != nil {
		return nil, err
	}
	return &faultSigner{Signer: s, f: k.f}, nil
}

func (k *faultKeyStore) FindKeyPairs(id, label []byte) ([]crypto11.Signer, error) {
	find := func(id, label []byte) ([]crypto11.Signer, error) {
		keys, err := k.tlsKeyStore.FindKeyPairs(id, label)
		for i := range keys {
			keys[i] = &faultSigner{Signer: keys[i], f: k.f}
		}
		return keys, err
	}
	if h := get(k.f, func(f *Faults) func([]byte, []byte, func([]byte, []byte) ([]crypto11.Signer, error)) ([]crypto11.Signer, error) {
		return f.FindKeyPairs
	}); h != nil {
		return h(id, label, find)
	}
	return find(id, label)
}

type faultSigner struct {
	crypto11.Signer
	f *Faults
}

func (s *faultSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	next := func() ([]byte, error) { return s.Signer.Sign(rand, digest, opts) }
	if h := get(s.f, func(f *Faults) func(func() ([]byte, error)) ([]byte, error) { return f.Sign }); h != nil {
		return h(next)
	}
	return next()
}
