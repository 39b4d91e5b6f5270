package hsm_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/hsm"
)

func memoryKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseIdentityName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		ip   bool
	}{
		{"node-1", true, false},
		{"signer-3.dc1.rampart.internal", true, false},
		{"127.0.0.1", true, true},
		{"2001:db8::1", true, true},
		{"", false, false},
		{"Node-1", false, false},
		{"-node", false, false},
		{"node-", false, false},
		{"a..b", false, false},
		{"node.", false, false},
		{"*.rampart.internal", false, false},
		{"under_score", false, false},
		{"2001:DB8::1", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"fe80::1%eth0", false, false},
		{string(bytes.Repeat([]byte("a"), 64)), false, false},
	} {
		ip, err := hsm.ParseIdentityName(tc.name)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q refused: %v", tc.name, err)
		case !tc.ok && !errors.Is(err, hsm.ErrInvalidName):
			t.Errorf("%q: got %v, want ErrInvalidName", tc.name, err)
		case tc.ok && ip.IsValid() != tc.ip:
			t.Errorf("%q: IP %v", tc.name, ip)
		}
	}
}

func TestIdentityCertificateProfile(t *testing.T) {
	now := time.Now()
	caKey := memoryKey(t)
	ca, err := hsm.NewCACertificate(rand.Reader, caKey, "Rampart cluster CA", now, hsm.DefaultCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || !ca.MaxPathLenZero || ca.MaxPathLen != 0 || ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Fatalf("CA profile: IsCA %v, MaxPathLen %d, KeyUsage %v", ca.IsCA, ca.MaxPathLen, ca.KeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, tc := range []struct {
		name string
		ips  []net.IP
	}{
		{"signer-1.rampart.internal", nil},
		{"10.1.2.3", []net.IP{net.ParseIP("10.1.2.3").To4()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := memoryKey(t)
			cert, err := hsm.IssueIdentityCertificate(rand.Reader, ca, caKey, node.Public(), tc.name, now, hsm.DefaultIdentityValidity)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != tc.name || !slices.Equal(cert.DNSNames, []string{tc.name}) ||
				!slices.EqualFunc(cert.IPAddresses, tc.ips, net.IP.Equal) {
				t.Fatalf("names: CN %q, DNS %v, IP %v", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses)
			}
			if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature ||
				!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Fatalf("usage: IsCA %v, KeyUsage %v, ExtKeyUsage %v", cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage)
			}
			// Certificates store whole seconds.
			if lead := now.Sub(cert.NotBefore); lead < 0 || lead > 6*time.Minute {
				t.Fatalf("NotBefore %v is not just before %v", cert.NotBefore, now)
			}
			if d := cert.NotAfter.Sub(now); d > hsm.DefaultIdentityValidity || d < hsm.DefaultIdentityValidity-time.Second {
				t.Fatalf("valid for %v, want %v", d, hsm.DefaultIdentityValidity)
			}
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Fatalf("verify for %v: %v", usage, err)
				}
			}
		})
	}
}

func TestIssueIdentityCertificateRefuses(t *testing.T) {
	now := time.Now()
	caKey := memoryKey(t)
	ca, err := hsm.NewCACertificate(rand.Reader, caKey, "CA", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafKey := memoryKey(t)
	leaf, err := hsm.IssueIdentityCertificate(rand.Reader, ca, caKey, leafKey.Public(), "node", now, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name     string
		ca       *x509.Certificate
		caKey    *ecdsa.PrivateKey
		pub      any
		id       string
		now      time.Time
		validity time.Duration
		want     error
	}{
		{"refuses a certificate that outlives the CA", ca, caKey, leafKey.Public(), "node", now, 48 * time.Hour, hsm.ErrCertificate},
		{"refuses a CA key that does not match the CA certificate", ca, leafKey, leafKey.Public(), "node", now, time.Hour, hsm.ErrCertificate},
		{"refuses a parent that is not a CA", leaf, leafKey, leafKey.Public(), "node", now, time.Hour, hsm.ErrCertificate},
		{"refuses an expired CA", ca, caKey, leafKey.Public(), "node", now.Add(25 * time.Hour), time.Hour, hsm.ErrCertificate},
		{"refuses a key other than ECDSA P-256", ca, caKey, edKey.Public(), "node", now, time.Hour, hsm.ErrCertificate},
		{"refuses a validity under an hour", ca, caKey, leafKey.Public(), "node", now, time.Minute, hsm.ErrCertificate},
		{"refuses an invalid name", ca, caKey, leafKey.Public(), "Node_1", now, time.Hour, hsm.ErrInvalidName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hsm.IssueIdentityCertificate(rand.Reader, tc.ca, tc.caKey, tc.pub, tc.id, tc.now, tc.validity)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	for name, cn := range map[string]string{"refuses an empty CA name": "", "refuses a CA name over 64 bytes": string(bytes.Repeat([]byte("x"), 65))} {
		t.Run(name, func(t *testing.T) {
			if _, err := hsm.NewCACertificate(rand.Reader, caKey, cn, now, time.Hour); !errors.Is(err, hsm.ErrCertificate) {
				t.Fatalf("got %v, want ErrCertificate", err)
			}
		})
	}
}

func TestParseCertificatesPEMRefuses(t *testing.T) {
	key := memoryKey(t)
	ca, err := hsm.NewCACertificate(rand.Reader, key, "CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := hsm.EncodeCertificatesPEM(ca)
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: ca.Raw})
	for name, in := range map[string][]byte{
		"refuses empty input":             nil,
		"refuses text before a block":     append([]byte("hello\n"), good...),
		"refuses text after a block":      append(bytes.Clone(good), "trailing"...),
		"refuses a private key block":     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}),
		"refuses PEM headers":             withHeader,
		"refuses a block that is not DER": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := hsm.ParseCertificatesPEM(in); !errors.Is(err, hsm.ErrCertificate) {
				t.Fatalf("got %v, want ErrCertificate", err)
			}
		})
	}
	certs, err := hsm.ParseCertificatesPEM(append(append([]byte("\n"), good...), good...))
	if err != nil || len(certs) != 2 {
		t.Fatalf("two blocks: %d certificates, %v", len(certs), err)
	}
}

// FuzzParseCertificatesPEM checks that the parser never panics and that
// whatever it accepts encodes to PEM that parses to the same certificates.
func FuzzParseCertificatesPEM(f *testing.F) {
	key := memoryKey(f)
	ca, err := hsm.NewCACertificate(rand.Reader, key, "CA", time.Now(), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	good := hsm.EncodeCertificatesPEM(ca)
	f.Add(good)
	f.Add(append(bytes.Clone(good), good...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		certs, err := hsm.ParseCertificatesPEM(in)
		if err != nil {
			if !errors.Is(err, hsm.ErrCertificate) {
				t.Fatalf("error %v does not wrap ErrCertificate", err)
			}
			return
		}
		back, err := hsm.ParseCertificatesPEM(hsm.EncodeCertificatesPEM(certs...))
		if err != nil || len(back) != len(certs) {
			t.Fatalf("re-encoding: %d certificates, %v", len(back), err)
		}
		for i := range certs {
			if !back[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed", i)
			}
		}
	})
}
