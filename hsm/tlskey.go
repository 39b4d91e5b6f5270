package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// p256Params is CKA_EC_PARAMS for P-256: the DER-encoded curve OID
// 1.2.840.10045.3.1.7.
var p256Params = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// tlsKeyRules is what a TLS identity private key must be: an ECDSA P-256
// token key that is private, sensitive, never extractable, and can only
// sign with CKM_ECDSA.
func tlsKeyRules() []attrRule {
	return append([]attrRule{
		ulongRule(pkcs11.CKA_CLASS, "CKA_CLASS", pkcs11.CKO_PRIVATE_KEY, showClass),
		ulongRule(pkcs11.CKA_KEY_TYPE, "CKA_KEY_TYPE", pkcs11.CKK_EC, showKeyType),
		bytesRule(pkcs11.CKA_EC_PARAMS, "CKA_EC_PARAMS", p256Params),
	}, append(secretRules(),
		boolRule(pkcs11.CKA_SIGN, "CKA_SIGN", true),
		boolRule(pkcs11.CKA_DECRYPT, "CKA_DECRYPT", false),
		boolRule(pkcs11.CKA_UNWRAP, "CKA_UNWRAP", false),
		boolRule(pkcs11.CKA_DERIVE, "CKA_DERIVE", false),
		mechanismsRule(pkcs11.CKM_ECDSA),
	)...)
}

// GenerateTLSKey creates an ECDSA P-256 key pair in the token for a TLS
// identity (or a CA), labelled and identified by o (a random 16-byte id when
// none is given). It refuses, changing nothing, when an object with that
// label or id exists. The private key never leaves the HSM.
func (t *Token) GenerateTLSKey(ctx context.Context, o Object) (crypto.Signer, error) {
	o, err := t.prepareNewKey(ctx, o, needECKeyGen, needECDSA)
	if err != nil {
		return nil, err
	}
	if err := t.do(ctx, "checking for key "+o.String(), func(c *conn, s pkcs11.SessionHandle) error {
		return refuseExisting(c.p11, s, o)
	}); err != nil {
		return nil, err
	}
	pub, priv, err := tlsKeyTemplates(o)
	if err != nil {
		return nil, err
	}
	var key crypto11.Signer
	var gen uint64
	if err := t.run(ctx, "generating TLS key "+o.String(), func(c *conn) error {
		var err error
		key, err = c.c11.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
		if err != nil {
			return callError("C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN)", err)
		}
		gen = c.gen
		return nil
	}); err != nil {
		return nil, err
	}
	if err := t.checkTLSKey(ctx, o); err != nil {
		// The module did not honour the template: do not leave a weak key.
		_ = t.run(ctx, "deleting refused key "+o.String(), func(*conn) error { return key.Delete() })
		return nil, err
	}
	return t.wrapSigner(key, gen, o, o)
}

func tlsKeyTemplates(o Object) (pub, priv crypto11.AttributeSet, err error) {
	pub, err = crypto11.NewAttributeSetWithIDAndLabel(o.ID, []byte(o.Label))
	if err != nil {
		return nil, nil, fmt.Errorf("hsm: TLS key template: %w", err)
	}
	priv = pub.Copy()
	for typ, v := range map[uint]any{
		pkcs11.CKA_PRIVATE:    false,
		pkcs11.CKA_VERIFY:     true,
		pkcs11.CKA_ENCRYPT:    false,
		pkcs11.CKA_WRAP:       false,
		pkcs11.CKA_MODIFIABLE: false,
	} {
		if err := pub.Set(typ, v); err != nil {
			return nil, nil, fmt.Errorf("hsm: TLS key template: %w", err)
		}
	}
	for typ, v := range map[uint]any{
		pkcs11.CKA_PRIVATE:     true,
		pkcs11.CKA_SENSITIVE:   true,
		pkcs11.CKA_EXTRACTABLE: false,
		pkcs11.CKA_SIGN:        true,
		pkcs11.CKA_DECRYPT:     false,
		pkcs11.CKA_UNWRAP:      false,
		pkcs11.CKA_DERIVE:      false,
		pkcs11.CKA_MODIFIABLE:  false,
		pkcs11.CKA_COPYABLE:    false,
		// Only raw ECDSA over a digest computed by the caller: what TLS
		// and X.509 signing need, nothing else.
		pkcs11.CKA_ALLOWED_MECHANISMS: mechanismsRule(pkcs11.CKM_ECDSA).want,
	} {
		if err := priv.Set(typ, v); err != nil {
			return nil, nil, fmt.Errorf("hsm: TLS key template: %w", err)
		}
	}
	return pub, priv, nil
}

// TLSKey finds the TLS key pair named by o and checks the private key's
// attributes; it returns a crypto.Signer whose private key stays in the HSM.
func (t *Token) TLSKey(ctx context.Context, o Object) (crypto.Signer, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := t.checkMechanisms(ctx, needECDSA); err != nil {
		return nil, err
	}
	key, gen, found, err := t.loadTLSKey(ctx, o)
	if err != nil {
		return nil, err
	}
	return t.wrapSigner(key, gen, o, found)
}

// loadTLSKey finds the TLS key pair o, checks the private key's
// attributes and loads the pair through crypto11. It returns the conn
// generation the key was loaded in and the key's label and id.
func (t *Token) loadTLSKey(ctx context.Context, o Object) (crypto11.Signer, uint64, Object, error) {
	var id []byte
	if err := t.do(ctx, "finding TLS key "+o.String(), func(c *conn, s pkcs11.SessionHandle) error {
		h, err := findOne(c.p11, s, o, pkcs11.CKO_PRIVATE_KEY, "TLS private key")
		if err != nil {
			return err
		}
		if err := checkAttributes(c.p11, s, h, tlsKeyRules(), "TLS key "+o.String()); err != nil {
			return err
		}
		id, err = readID(c.p11, s, h)
		return err
	}); err != nil {
		return nil, 0, o, err
	}
	if len(id) == 0 {
		return nil, 0, o, fmt.Errorf("%w: TLS private key %v has no CKA_ID to find its public half by", ErrKeyAttributes, o)
	}
	var keys []crypto11.Signer
	var gen uint64
	if err := t.run(ctx, "loading TLS key "+o.String(), func(c *conn) error {
		var err error
		keys, err = c.c11.FindKeyPairs(id, []byte(o.Label))
		if err != nil {
			return callError("finding key pair", err)
		}
		gen = c.gen
		return nil
	}); err != nil {
		return nil, 0, o, err
	}
	switch len(keys) {
	case 0:
		return nil, 0, o, fmt.Errorf("%w: TLS key %v has no public key with the same id and label", ErrKeyNotFound, o)
	case 1:
		return keys[0], gen, Object{Label: o.Label, ID: id}, nil
	}
	return nil, 0, o, fmt.Errorf("%w: %d TLS key pairs are %v", ErrKeyAmbiguous, len(keys), o)
}

func (t *Token) checkTLSKey(ctx context.Context, o Object) error {
	return t.do(ctx, "checking TLS key "+o.String(), func(c *conn, s pkcs11.SessionHandle) error {
		h, err := findOne(c.p11, s, o, pkcs11.CKO_PRIVATE_KEY, "TLS private key")
		if err != nil {
			return err
		}
		return checkAttributes(c.p11, s, h, tlsKeyRules(), "TLS key "+o.String())
	})
}

// wrapSigner makes key, loaded in conn generation gen, a crypto.Signer
// named o in messages and found again by found (label and id) after a
// Reopen.
func (t *Token) wrapSigner(key crypto11.Signer, gen uint64, o, found Object) (crypto.Signer, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: TLS key %v is not an ECDSA P-256 key", ErrKeyAttributes, o)
	}
	return &hsmSigner{t: t, key: key, gen: gen, pub: pub, obj: o, found: found}, nil
}

// hsmSigner is a crypto.Signer whose private key is in the HSM. crypto.Signer
// takes no context, so every signature runs under the token's call
// timeout.
type hsmSigner struct {
	t     *Token
	pub   *ecdsa.PublicKey
	obj   Object // as the caller named it
	found Object // label and id

	mu  sync.Mutex
	key crypto11.Signer
	gen uint64 // of the conn key was loaded in
}

// current returns the key loaded in the token's current conn. After a
// Reopen the key pair is found and checked again, and must be the same
// key: a token put back with another key under the same label and id is
// refused, not signed with.
func (s *hsmSigner) current(ctx context.Context) (crypto11.Signer, error) {
	gen := s.t.current().gen
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen >= gen {
		return s.key, nil
	}
	key, kgen, _, err := s.t.loadTLSKey(ctx, s.found)
	if err != nil {
		return nil, err
	}
	if !s.pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%w: TLS key %v is another key since the token was reopened (its public key changed)", ErrKeyAttributes, s.obj)
	}
	s.key, s.gen = key, kgen
	return key, nil
}

// Public returns the ECDSA P-256 public key.
func (s *hsmSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs a digest with CKM_ECDSA inside the HSM and returns an ASN.1
// DER signature, as crypto/tls and crypto/x509 expect. rand is unused: the
// HSM draws the ECDSA nonce.
func (s *hsmSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() == 0 || len(digest) != opts.HashFunc().Size() {
		return nil, fmt.Errorf("hsm: TLS key %v signs hash digests only (got %d bytes)", s.obj, len(digest))
	}
	ctx := context.Background()
	key, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.t.run(ctx, "signing with TLS key "+s.obj.String(), func(*conn) error {
		var err error
		sig, err = key.Sign(nil, digest, opts)
		if err != nil {
			return callError("C_Sign(CKM_ECDSA)", err)
		}
		return nil
	})
	return sig, err
}

// TLSCertificate returns a tls.Certificate for the TLS key o and its
// certificate chain (PEM, leaf first), for either side of mutual TLS. The
// leaf must certify this key and be valid now.
func (t *Token) TLSCertificate(ctx context.Context, o Object, chainPEM []byte) (tls.Certificate, error) {
	chain, err := ParseCertificatesPEM(chainPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := t.TLSKey(ctx, o)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return tls.Certificate{}, fmt.Errorf("%w: the certificate for %q does not certify TLS key %v", ErrCertificate, leaf.Subject.CommonName, o)
	}
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("%w: the certificate for %q is valid from %v to %v, not now", ErrCertificate, leaf.Subject.CommonName, leaf.NotBefore.UTC(), leaf.NotAfter.UTC())
	}
	out := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}
