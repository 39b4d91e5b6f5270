package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"slices"
)

// MaxRequestPEM bounds a certificate signing request file. Ours are under
// 1 KiB; the bound keeps a wrong file (or a device) from being read whole.
const MaxRequestPEM = 64 << 10

const requestPEMType = "CERTIFICATE REQUEST"

var (
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
)

// extensionNames names the extensions a request is most likely to ask
// for, so a refusal says which.
var extensionNames = map[string]string{
	"2.5.29.14":          "subject key identifier",
	"2.5.29.15":          "key usage",
	"2.5.29.19":          "basic constraints",
	"2.5.29.30":          "name constraints",
	"2.5.29.31":          "CRL distribution points",
	"2.5.29.32":          "certificate policies",
	"2.5.29.35":          "authority key identifier",
	"2.5.29.37":          "extended key usage",
	"1.3.6.1.5.5.7.1.1":  "authority information access",
	"1.3.6.1.5.5.7.1.24": "TLS feature (OCSP must-staple)",
}

// IdentityRequest is a node's certificate signing request after
// [ParseIdentityRequestPEM] checked it: its signature verifies, so the
// holder of PublicKey asked for Name. Nothing else is taken from a
// request; the CA decides the rest of the certificate.
type IdentityRequest struct {
	// Name is the node identity, as [ParseIdentityName] accepts it.
	Name string
	// PublicKey is the node's ECDSA P-256 TLS key.
	PublicKey *ecdsa.PublicKey
}

// NewIdentityRequest makes a PEM certificate signing request for the
// node's TLS key (normally from [Token.GenerateTLSKey], in an HSM), signed
// by that key: common name name and the subject alternative names that
// [IssueIdentityCertificate] would put in the certificate. The request is
// parsed back as the CA will, which also verifies the HSM's signature.
func NewIdentityRequest(rand io.Reader, key crypto.Signer, name string) ([]byte, error) {
	ip, err := ParseIdentityName(name)
	if err != nil {
		return nil, err
	}
	if err := checkIdentityKey(key.Public()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: name},
		DNSNames: []string{name},
	}
	if ip.IsValid() {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	}
	der, err := x509.CreateCertificateRequest(rand, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("%w: signing the request: %w", ErrCertificateRequest, err)
	}
	out := encodePEM(requestPEMType, der)
	if _, err := ParseIdentityRequestPEM(out); err != nil {
		return nil, fmt.Errorf("the new request does not check: %w", err)
	}
	return out, nil
}

// ParseIdentityRequestPEM decodes and checks a node's certificate signing
// request: exactly one PEM CERTIFICATE REQUEST block (strictly, as
// [ParseCertificatesPEM] reads certificates), a signature that verifies
// with the request's own key, an ECDSA P-256 key, a subject that is a
// common name alone, and subject alternative names that are exactly that
// name (DNS, plus IP address when it is one), as [NewIdentityRequest]
// makes them. A request carrying any other attribute or extension, such
// as a CA's basic constraints or a key usage, is refused: the CA decides
// the certificate's extensions, never the request.
func ParseIdentityRequestPEM(data []byte) (*IdentityRequest, error) {
	if len(data) > MaxRequestPEM {
		return nil, fmt.Errorf("%w: the request file is larger than %d bytes", ErrCertificateRequest, MaxRequestPEM)
	}
	blocks, err := decodePEMBlocks(data, requestPEMType, ErrCertificateRequest)
	if err != nil {
		return nil, err
	}
	if len(blocks) != 1 {
		return nil, fmt.Errorf("%w: %d PEM blocks, want exactly one CERTIFICATE REQUEST", ErrCertificateRequest, len(blocks))
	}
	csr, err := x509.ParseCertificateRequest(blocks[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificateRequest, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify with the request's key (the request was altered, or not signed by its key): %w", ErrCertificateRequest, err)
	}
	if err := checkIdentityKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificateRequest, err)
	}
	if err := checkRequestAttributes(csr.RawTBSCertificateRequest); err != nil {
		return nil, err
	}
	if len(csr.Subject.Names) != 1 || !csr.Subject.Names[0].Type.Equal(oidCommonName) {
		return nil, fmt.Errorf("%w: the subject is %q; it must be a common name alone", ErrCertificateRequest, csr.Subject.String())
	}
	name := csr.Subject.CommonName
	ip, err := ParseIdentityName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: common name: %w", ErrCertificateRequest, err)
	}
	var san *pkix.Extension
	for i, ext := range csr.Extensions {
		switch {
		case ext.Id.Equal(oidSubjectAltName) && san == nil:
			san = &csr.Extensions[i]
		case ext.Id.Equal(oidSubjectAltName):
			return nil, fmt.Errorf("%w: two subject alternative name extensions", ErrCertificateRequest)
		default:
			return nil, refusedExtension(ext)
		}
	}
	if san == nil {
		return nil, fmt.Errorf("%w: no subject alternative name; a request names %q as DNS name too (make it with rampartctl tls csr)", ErrCertificateRequest, name)
	}
	if err := checkSANKinds(san.Value); err != nil {
		return nil, err
	}
	var wantIPs []net.IP
	if ip.IsValid() {
		wantIPs = []net.IP{ip.AsSlice()}
	}
	switch {
	case len(csr.EmailAddresses) > 0:
		return nil, fmt.Errorf("%w: asks for e-mail address names %q; only %q may be named", ErrCertificateRequest, csr.EmailAddresses, name)
	case len(csr.URIs) > 0:
		return nil, fmt.Errorf("%w: asks for %d URI names; only %q may be named", ErrCertificateRequest, len(csr.URIs), name)
	case !slices.Equal(csr.DNSNames, []string{name}):
		return nil, fmt.Errorf("%w: asks for DNS names %q; a request names its common name %q alone", ErrCertificateRequest, csr.DNSNames, name)
	case !slices.EqualFunc(csr.IPAddresses, wantIPs, net.IP.Equal):
		return nil, fmt.Errorf("%w: asks for IP addresses %v; want %v for %q", ErrCertificateRequest, csr.IPAddresses, wantIPs, name)
	}
	return &IdentityRequest{Name: name, PublicKey: csr.PublicKey.(*ecdsa.PublicKey)}, nil
}

// PublicKeyFingerprint is the SHA-256 of the key's DER SubjectPublicKeyInfo,
// as "sha256:" and lower-case hex: what `openssl pkey -pubin -outform DER |
// sha256sum` prints, so operators can compare a key across hosts and tools.
func PublicKeyFingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("hsm: fingerprint of the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// checkIdentityKey refuses any key but ECDSA P-256, naming the one given.
// Callers wrap the error with their sentinel.
func checkIdentityKey(pub crypto.PublicKey) error {
	if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P256() {
		return nil
	}
	var kind string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		kind = "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		kind = fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		kind = "Ed25519"
	default:
		kind = fmt.Sprintf("%T", pub)
	}
	return fmt.Errorf("the key is %s; identity keys must be ECDSA P-256", kind)
}

// checkRequestAttributes refuses a request with attributes other than one
// extension request (a challenge password, say): it must ask for nothing
// the CA would silently drop.
func checkRequestAttributes(tbs []byte) error {
	var req struct {
		Raw        asn1.RawContent
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}
	if rest, err := asn1.Unmarshal(tbs, &req); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: the request body is malformed", ErrCertificateRequest)
	}
	seen := false
	for _, raw := range req.Attributes {
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue `asn1:"set"`
		}
		if rest, err := asn1.Unmarshal(raw.FullBytes, &attr); err != nil || len(rest) > 0 {
			return fmt.Errorf("%w: a request attribute is malformed", ErrCertificateRequest)
		}
		switch {
		case !attr.Type.Equal(oidExtensionRequest):
			return fmt.Errorf("%w: carries attribute %v; a request carries only its subject alternative names", ErrCertificateRequest, attr.Type)
		case seen:
			return fmt.Errorf("%w: two extension request attributes", ErrCertificateRequest)
		}
		seen = true
	}
	return nil
}

// refusedExtension says which extension a request asked for, and that it
// may not.
func refusedExtension(ext pkix.Extension) error {
	if ext.Id.Equal(oidBasicConstraints) {
		var bc struct {
			IsCA bool `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(ext.Value, &bc); err == nil && bc.IsCA {
			return fmt.Errorf("%w: asks to be a CA (basic constraints CA:TRUE); node identities are never CAs", ErrCertificateRequest)
		}
	}
	name := extensionNames[ext.Id.String()]
	if name == "" {
		name = "extension"
	}
	return fmt.Errorf("%w: asks for %s (%v); the CA decides the extensions, a request carries only its subject alternative names", ErrCertificateRequest, name, ext.Id)
}

// checkSANKinds refuses subject alternative names other than DNS names
// and IP addresses; crypto/x509 skips kinds it does not know (other names,
// directory names) instead of reporting them.
func checkSANKinds(value []byte) error {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(value, &seq); err != nil || len(rest) > 0 || !seq.IsCompound || seq.Tag != asn1.TagSequence {
		return fmt.Errorf("%w: the subject alternative names are malformed", ErrCertificateRequest)
	}
	for rest := seq.Bytes; len(rest) > 0; {
		var gn asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &gn); err != nil {
			return fmt.Errorf("%w: the subject alternative names are malformed", ErrCertificateRequest)
		}
		const dnsName, uri, ipAddress, email = 2, 6, 7, 1
		if gn.Class != asn1.ClassContextSpecific || (gn.Tag != dnsName && gn.Tag != ipAddress && gn.Tag != uri && gn.Tag != email) {
			return fmt.Errorf("%w: asks for a subject alternative name of another kind than DNS name or IP address (tag %d)", ErrCertificateRequest, gn.Tag)
		}
	}
	return nil
}
