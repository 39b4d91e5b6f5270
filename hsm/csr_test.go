package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/hsm"
)

// requestPEM makes a request from any template, as a node (or an
// attacker) with its own tools could.
func requestPEM(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestIdentityRequestRoundTrip(t *testing.T) {
	caKey := memoryKey(t)
	now := time.Now()
	ca, err := hsm.NewCACertificate(rand.Reader, caKey, "CA", now, hsm.DefaultCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"signer-1.rampart.internal", "10.1.2.3", "2001:db8::7"} {
		t.Run(name, func(t *testing.T) {
			node := memoryKey(t)
			csr, err := hsm.NewIdentityRequest(rand.Reader, node, name)
			if err != nil {
				t.Fatal(err)
			}
			req, err := hsm.ParseIdentityRequestPEM(csr)
			if err != nil {
				t.Fatal(err)
			}
			if req.Name != name || !req.PublicKey.Equal(node.Public()) {
				t.Fatalf("request for %q with another key, want %q", req.Name, name)
			}
			// The certificate from a request is the one issued directly.
			viaCSR, err := hsm.IssueIdentityCertificate(rand.Reader, ca, caKey, req.PublicKey, req.Name, now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := hsm.IssueIdentityCertificate(rand.Reader, ca, caKey, node.Public(), name, now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(viaCSR.RawSubject, direct.RawSubject) || !bytes.Equal(viaCSR.RawSubjectPublicKeyInfo, direct.RawSubjectPublicKeyInfo) ||
				len(viaCSR.Extensions) != len(direct.Extensions) {
				t.Fatal("the certificate issued from the request differs in form from the one issued directly")
			}
			for i := range direct.Extensions {
				if !viaCSR.Extensions[i].Id.Equal(direct.Extensions[i].Id) {
					t.Fatalf("extension %d: %v, want %v", i, viaCSR.Extensions[i].Id, direct.Extensions[i].Id)
				}
			}
		})
	}
}

func TestNewIdentityRequestRefuses(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.NewIdentityRequest(rand.Reader, p384, "node-1"); !errors.Is(err, hsm.ErrCertificate) || !strings.Contains(err.Error(), "P-384") {
		t.Fatalf("P-384 key: got %v, want ErrCertificate naming P-384", err)
	}
	if _, err := hsm.NewIdentityRequest(rand.Reader, memoryKey(t), "Node_1"); !errors.Is(err, hsm.ErrInvalidName) {
		t.Fatalf("invalid name: got %v, want ErrInvalidName", err)
	}
}

// TestParseIdentityRequestRefusesWhatTheCADecides: a request names a key
// and one identity; anything more it asks for is refused, not dropped.
func TestParseIdentityRequestRefusesWhatTheCADecides(t *testing.T) {
	key := memoryKey(t)
	good, err := hsm.NewIdentityRequest(rand.Reader, key, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(good)
	tampered := bytes.Clone(block.Bytes)
	// The common name's last byte: "node-1" becomes "node-2".
	i := bytes.LastIndex(tampered, []byte("node-1"))
	tampered[i+5] = '2'
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ext := func(id asn1.ObjectIdentifier, v any) pkix.Extension {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.Extension{Id: id, Value: b}
	}
	registeredID := ext(asn1.ObjectIdentifier{2, 5, 29, 17}, []asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("node-1")},
		{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: []byte{0x2a, 0x03}},
	})
	caExt := ext(asn1.ObjectIdentifier{2, 5, 29, 19}, struct{ IsCA bool }{true})
	keyUsage := ext(asn1.ObjectIdentifier{2, 5, 29, 15}, asn1.BitString{Bytes: []byte{0x04}, BitLength: 6})
	spiffe, _ := url.Parse("spiffe://rampart/node-1")
	cn := pkix.Name{CommonName: "node-1"}
	dns := []string{"node-1"}
	challenge := &x509.CertificateRequest{Subject: cn, DNSNames: dns}
	//lint:ignore SA1019 the attribute a request may not carry is made with the deprecated field
	challenge.Attributes = []pkix.AttributeTypeAndValueSET{{
		Type:  asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7},
		Value: [][]pkix.AttributeTypeAndValue{{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}, Value: "secret"}}},
	}}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"refuses a tampered request", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), "signature does not verify"},
		{"refuses an RSA key", requestPEM(t, rsaKey, &x509.CertificateRequest{Subject: cn, DNSNames: dns}), "RSA-2048"},
		{"refuses a P-384 key", requestPEM(t, p384, &x509.CertificateRequest{Subject: cn, DNSNames: dns}), "ECDSA P-384"},
		{"refuses an Ed25519 key", requestPEM(t, edKey, &x509.CertificateRequest{Subject: cn, DNSNames: dns}), "Ed25519"},
		{"refuses an extra DNS name", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: []string{"node-1", "beacon-1"}}), `"beacon-1"`},
		{"refuses a DNS name other than the common name", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: []string{"node-2"}}), `"node-2"`},
		{"refuses an IP address for a DNS name", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: dns, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}), "IP addresses [10.0.0.1]"},
		{"refuses an IP name without its IP address", requestPEM(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "10.0.0.1"}, DNSNames: []string{"10.0.0.1"}}), "want [10.0.0.1]"},
		{"refuses an e-mail name", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: dns, EmailAddresses: []string{"ops@example.net"}}), "e-mail"},
		{"refuses a URI name", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: dns, URIs: []*url.URL{spiffe}}), "URI"},
		{"refuses a name kind crypto/x509 ignores", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, ExtraExtensions: []pkix.Extension{registeredID}}), "tag 8"},
		{"refuses a request without subject alternative names", requestPEM(t, key, &x509.CertificateRequest{Subject: cn}), "no subject alternative name"},
		{"refuses a request to be a CA", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: dns, ExtraExtensions: []pkix.Extension{caExt}}), "asks to be a CA"},
		{"refuses a key usage extension", requestPEM(t, key, &x509.CertificateRequest{Subject: cn, DNSNames: dns, ExtraExtensions: []pkix.Extension{keyUsage}}), "asks for key usage"},
		{"refuses a challenge password attribute", requestPEM(t, key, challenge), "attribute 1.2.840.113549.1.9.7"},
		{"refuses a subject with more than a common name", requestPEM(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "node-1", Organization: []string{"Rampart"}}, DNSNames: dns}), "common name alone"},
		{"refuses an invalid common name", requestPEM(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Node-1"}, DNSNames: []string{"Node-1"}}), "invalid identity name"},
		{"refuses two requests in one file", append(bytes.Clone(good), good...), "2 PEM blocks"},
		{"refuses a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), `"CERTIFICATE", want CERTIFICATE REQUEST`},
		{"refuses text around the block", append([]byte("Certificate Request:\n"), good...), "text outside PEM blocks"},
		{"refuses garbage", []byte("garbage\x00\xff"), "text outside PEM blocks"},
		{"refuses an empty file", nil, "0 PEM blocks"},
		{"refuses DER that is not a request", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("junk")}), "certificate request refused: "},
		{"refuses a file over the bound", append(bytes.Clone(good), bytes.Repeat([]byte("\n"), hsm.MaxRequestPEM)...), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hsm.ParseIdentityRequestPEM(tc.in)
			if !errors.Is(err, hsm.ErrCertificateRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrCertificateRequest with %q", err, tc.want)
			}
		})
	}
}

func TestPublicKeyFingerprint(t *testing.T) {
	key := memoryKey(t)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	got, err := hsm.PublicKeyFingerprint(key.Public())
	if want := "sha256:" + hex.EncodeToString(sum[:]); err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// FuzzParseIdentityRequestPEM checks that the parser never panics, that
// every refusal wraps ErrCertificateRequest, and that whatever it accepts
// names a valid identity with a P-256 key.
func FuzzParseIdentityRequestPEM(f *testing.F) {
	key := memoryKey(f)
	for _, name := range []string{"node-1", "10.0.0.1"} {
		good, err := hsm.NewIdentityRequest(rand.Reader, key, name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(good)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := hsm.ParseIdentityRequestPEM(in)
		if err != nil {
			if !errors.Is(err, hsm.ErrCertificateRequest) {
				t.Fatalf("error %v does not wrap ErrCertificateRequest", err)
			}
			return
		}
		if _, err := hsm.ParseIdentityName(req.Name); err != nil || req.PublicKey.Curve != elliptic.P256() {
			t.Fatalf("accepted %q with curve %v: %v", req.Name, req.PublicKey.Curve.Params().Name, err)
		}
	})
}
