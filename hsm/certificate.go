package hsm

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Certificate profile. Certificates live in PEM files; only their keys are
// in HSMs.
const (
	// DefaultCAValidity is how long a cluster CA certificate is valid.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultIdentityValidity is how long a node certificate is valid.
	DefaultIdentityValidity = 2 * 365 * 24 * time.Hour
	// MaxValidity bounds any certificate's validity.
	MaxValidity = 30 * 365 * 24 * time.Hour
	// clockSkew back-dates NotBefore so a peer whose clock is a little
	// behind accepts a certificate issued just now.
	clockSkew = 5 * time.Minute
	// maxCommonName is X.520's upper bound for a common name.
	maxCommonName = 64
	// maxPEM bounds a certificate file.
	maxPEM = 1 << 20
)

// NewCACertificate makes the self-signed certificate of a cluster CA whose
// key (normally from GenerateTLSKey, in an HSM) signs node certificates. The
// CA may sign end-entity certificates only (path length 0).
func NewCACertificate(rand io.Reader, key crypto.Signer, commonName string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if err := CheckCA(commonName, validity); err != nil {
		return nil, err
	}
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return createCertificate(rand, tmpl, tmpl, key.Public(), key)
}

// IssueIdentityCertificate signs, with the CA's key, a certificate for a
// node's ECDSA P-256 key pub, usable for both TLS server and client
// authentication. name becomes the common name and a DNS subject
// alternative name, and also an IP address SAN when it is an IP address, so
// the identity is found in the DNS SANs either way. The certificate may not
// outlive the CA.
func IssueIdentityCertificate(rand io.Reader, ca *x509.Certificate, caKey crypto.Signer, pub crypto.PublicKey, name string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	ip, err := ParseIdentityName(name)
	if err != nil {
		return nil, err
	}
	if err := CheckIssuer(ca, caKey.Public(), now, validity); err != nil {
		return nil, err
	}
	if err := checkIdentityKey(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{name},
	}
	if ip.IsValid() {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	}
	return createCertificate(rand, tmpl, ca, pub, caKey)
}

// CheckIssuer reports whether the CA certificate, with the CA key's public
// half, can issue a certificate valid from now for validity: it must be a
// CA allowed to sign certificates, match the key, be valid now and outlive
// the new certificate. Callers run it before creating the subject's key,
// so a refusal changes nothing.
func CheckIssuer(ca *x509.Certificate, caKey crypto.PublicKey, now time.Time, validity time.Duration) error {
	if err := checkValidity(validity); err != nil {
		return err
	}
	switch {
	case !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%w: %q is not a CA certificate allowed to sign certificates", ErrCertificate, ca.Subject.CommonName)
	case !samePublicKey(ca.PublicKey, caKey):
		return fmt.Errorf("%w: the CA key does not match the CA certificate %q", ErrCertificate, ca.Subject.CommonName)
	case now.Before(ca.NotBefore) || now.After(ca.NotAfter):
		return fmt.Errorf("%w: the CA certificate %q is valid from %v to %v, not now", ErrCertificate, ca.Subject.CommonName, ca.NotBefore.UTC(), ca.NotAfter.UTC())
	case now.Add(validity).After(ca.NotAfter):
		return fmt.Errorf("%w: a certificate valid until %v would outlive the CA (valid until %v); shorten the validity", ErrCertificate, now.Add(validity).UTC().Format(time.DateOnly), ca.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}

func createCertificate(rand io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	// CreateCertificate also verifies the signature it got from the
	// signer, which catches a misbehaving HSM.
	der, err := x509.CreateCertificate(rand, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("%w: signing the certificate: %w", ErrCertificate, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing the new certificate: %w", ErrCertificate, err)
	}
	return cert, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// randomSerial draws a positive 127-bit serial number (RFC 5280 allows up
// to 20 octets; CAs must use at least 64 random bits).
func randomSerial(rand io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("hsm: drawing a certificate serial number: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // never zero, never short
	return new(big.Int).SetBytes(b[:]), nil
}

func checkValidity(d time.Duration) error {
	if d < time.Hour || d > MaxValidity {
		return fmt.Errorf("%w: validity %v is outside [1h, %v]", ErrCertificate, d, MaxValidity)
	}
	return nil
}

// CheckCA reports whether NewCACertificate accepts the common name and
// validity, so a caller can refuse before creating the CA key.
func CheckCA(commonName string, validity time.Duration) error {
	if err := checkCommonName(commonName); err != nil {
		return err
	}
	return checkValidity(validity)
}

func checkCommonName(cn string) error {
	switch {
	case cn == "" || len(cn) > maxCommonName:
		return fmt.Errorf("%w: common name must have 1 to %d bytes", ErrCertificate, maxCommonName)
	case strings.ContainsFunc(cn, isControl):
		return fmt.Errorf("%w: common name contains a control character", ErrCertificate)
	}
	return nil
}

// ParseIdentityName checks that name is a lower-case DNS name (letters,
// digits and hyphens in dot-separated labels) or an IP address in canonical
// form, and returns the address when it is one. Identities are compared as
// strings by authorisation rules, so only one spelling of each is allowed.
func ParseIdentityName(name string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		switch {
		case ip.Zone() != "":
			return netip.Addr{}, fmt.Errorf("%w: IP address %q has a zone", ErrInvalidName, name)
		case ip.Is4In6():
			return netip.Addr{}, fmt.Errorf("%w: %q is an IPv4-mapped IPv6 address; use %v", ErrInvalidName, name, ip.Unmap())
		case ip.String() != name:
			return netip.Addr{}, fmt.Errorf("%w: write IP address %q as %v", ErrInvalidName, name, ip)
		}
		return ip, nil
	}
	if name == "" || len(name) > 253 {
		return netip.Addr{}, fmt.Errorf("%w: a DNS name has 1 to 253 characters", ErrInvalidName)
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return netip.Addr{}, fmt.Errorf("%w: %q has an empty label or one longer than 63 characters", ErrInvalidName, name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return netip.Addr{}, fmt.Errorf("%w: a label of %q starts or ends with '-'", ErrInvalidName, name)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return netip.Addr{}, fmt.Errorf("%w: %q may hold only lower-case letters, digits, '-' and '.'", ErrInvalidName, name)
			}
		}
	}
	return netip.Addr{}, nil
}

// EncodeCertificatesPEM encodes certificates as PEM CERTIFICATE blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, encodePEM("CERTIFICATE", c.Raw)...)
	}
	return b
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ParseCertificatesPEM decodes one or more PEM CERTIFICATE blocks, strictly:
// no other block types, no headers, nothing but whitespace around them.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	if len(data) > maxPEM {
		return nil, fmt.Errorf("%w: certificate file is larger than %d bytes", ErrCertificate, maxPEM)
	}
	blocks, err := decodePEMBlocks(data, "CERTIFICATE", ErrCertificate)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%w: no certificate in the PEM data", ErrCertificate)
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, der := range blocks {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: block %d: %w", ErrCertificate, i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// decodePEMBlocks returns the contents of the PEM blocks of type typ in
// data, strictly: no other block types, no headers, nothing but whitespace
// around them. Errors wrap kind.
func decodePEMBlocks(data []byte, typ string, kind error) ([][]byte, error) {
	var blocks [][]byte
	rest := data
	for n := 1; ; n++ {
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if len(trimmed) == 0 {
			return blocks, nil
		}
		// pem.Decode skips any text before a block; refuse it instead.
		if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: text outside PEM blocks before block %d", kind, n)
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		switch {
		case block == nil:
			return nil, fmt.Errorf("%w: block %d is not PEM", kind, n)
		case block.Type != typ:
			return nil, fmt.Errorf("%w: block %d is %q, want %s", kind, n, block.Type, typ)
		case len(block.Headers) > 0:
			return nil, fmt.Errorf("%w: block %d has PEM headers", kind, n)
		}
		blocks = append(blocks, block.Bytes)
	}
}
