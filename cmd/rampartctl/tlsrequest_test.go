package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// publicKeyLine is the fingerprint line tls csr and tls sign print.
func publicKeyLine(t *testing.T, out string) string {
	t.Helper()
	for line := range strings.SplitSeq(out, "\n") {
		if fp, ok := strings.CutPrefix(line, "public key "); ok {
			return fp
		}
	}
	t.Fatalf("no public key line in\n%s", out)
	return ""
}

// TestTLSCSRAndSignEndToEnd: the node makes its key and request in its
// HSM, the CA host signs it with the CA's HSM, and the certificate is one
// the signer accepts: it certifies the key in the node's HSM, chains to the
// CA for server and client use and names the node, as the signer checks
// at start and reload; two nodes then complete a mutual TLS handshake
// with their HSM-held keys.
func TestTLSCSRAndSignEndToEnd(t *testing.T) {
	env := softhsm.New(t, "ca", "node-1", "node-2")
	dir := t.TempDir()
	caPEM := filepath.Join(dir, "ca.pem")
	caKey := objectURI(env.Token("ca"), "rampart-ca")
	if code, out, errOut := run(t, "tls", "ca", "--key", caKey, "--out", caPEM); code != 0 {
		t.Fatalf("tls ca: exit %d\n%s%s", code, out, errOut)
	}
	caBytes, err := os.ReadFile(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBytes) {
		t.Fatal("CA file is not PEM")
	}

	identities := map[string]tls.Certificate{}
	for node, name := range map[string]string{"node-1": "127.0.0.1", "node-2": "node-2.rampart.internal"} {
		csr, certPEM := filepath.Join(dir, node+".csr"), filepath.Join(dir, node+".pem")
		code, out, errOut := run(t, "tls", "csr", "--name", name, "--key", objectURI(env.Token(node), "rampart-tls"), "--out", csr)
		if code != 0 {
			t.Fatalf("tls csr %s: exit %d\n%s%s", node, code, out, errOut)
		}
		nodeFP := publicKeyLine(t, out)
		args := []string{"tls", "sign", "--csr", csr, "--ca-key", caKey, "--ca-cert", caPEM, "--out", certPEM, "--name", name}
		if node == "node-1" {
			args = append(args, "--key-fingerprint", strings.ToUpper(nodeFP[:7])+nodeFP[7:])
		}
		code, out, errOut = run(t, args...)
		if code != 0 {
			t.Fatalf("tls sign %s: exit %d\n%s%s", node, code, out, errOut)
		}
		if signedFP := publicKeyLine(t, out); signedFP != nodeFP {
			t.Fatalf("%s: tls sign printed key %s, tls csr %s", node, signedFP, nodeFP)
		}

		// What the signer does with tls.certificate at start and reload.
		chain, err := os.ReadFile(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := hsm.Open(t.Context(), env.Token(node).URI, hsm.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tok.Close() })
		cert, err := tok.TLSCertificate(t.Context(), hsm.Object{Label: "rampart-tls"}, chain)
		if err != nil {
			t.Fatalf("%s: the signer would refuse its certificate: %v", node, err)
		}
		key, err := tok.TLSKey(t.Context(), hsm.Object{Label: "rampart-tls"})
		if err != nil {
			t.Fatal(err)
		}
		if !cert.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
			t.Fatalf("%s: the certificate does not certify the key in the node's HSM", node)
		}
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		if err := cert.Leaf.VerifyHostname(name); err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		identities[node] = cert
	}

	// node-2 connects to node-1 as peers do: mutual TLS 1.3, each side
	// signing with the key in its HSM.
	server := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{identities["node-1"]}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	client := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{identities["node-2"]}, RootCAs: pool, ServerName: "127.0.0.1"}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	done := make(chan error, 1)
	sc := tls.Server(c1, server)
	go func() { done <- sc.HandshakeContext(t.Context()) }()
	if err := tls.Client(c2, client).HandshakeContext(t.Context()); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if peer := sc.ConnectionState().PeerCertificates[0].Subject.CommonName; peer != "node-2.rampart.internal" {
		t.Fatalf("server saw peer %q", peer)
	}
}

func TestTLSCSRRefusesAndReusesKey(t *testing.T) {
	env := softhsm.New(t, "node-1")
	dir := t.TempDir()
	key := objectURI(env.Token("node-1"), "rampart-tls")
	existing := filepath.Join(dir, "existing.csr")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"refuses a missing --name", []string{"--key", key, "--out", filepath.Join(dir, "a.csr")}, 2, "--name is required"},
		{"refuses an invalid name", []string{"--name", "Node_1", "--key", key, "--out", filepath.Join(dir, "a.csr")}, 1, "invalid identity name"},
		{"refuses an existing --out", []string{"--name", "node-1", "--key", key, "--out", existing}, 1, "already exists"},
		{"refuses a missing --out", []string{"--name", "node-1", "--key", key}, 2, "--out is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"tls", "csr"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	// The refusals made no key, and left the existing file alone.
	noTLSKey(t, env, "node-1")
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Fatalf("the existing --out was changed to %q", b)
	}

	first := filepath.Join(dir, "first.csr")
	code, out, errOut := run(t, "tls", "csr", "--name", "node-1", "--key", key, "--out", first)
	if code != 0 {
		t.Fatalf("tls csr: exit %d\n%s%s", code, out, errOut)
	}
	fp := publicKeyLine(t, out)
	second := filepath.Join(dir, "second.csr")
	if code, _, errOut := run(t, "tls", "csr", "--name", "node-1", "--key", key, "--out", second); code != 1 || !strings.Contains(errOut, "--reuse-key") {
		t.Fatalf("second tls csr: exit %d\n%s", code, errOut)
	}
	code, out, errOut = run(t, "tls", "csr", "--name", "node-1", "--key", key, "--out", second, "--reuse-key")
	if code != 0 {
		t.Fatalf("tls csr --reuse-key: exit %d\n%s%s", code, out, errOut)
	}
	if again := publicKeyLine(t, out); again != fp {
		t.Fatalf("--reuse-key requested key %s, want the existing %s", again, fp)
	}
}

// TestTLSSignRefuses: the CA host signs only a well-formed request for one
// node identity and an ECDSA P-256 key, as the operator expects it.
func TestTLSSignRefuses(t *testing.T) {
	env := softhsm.New(t, "ca", "node-1")
	dir := t.TempDir()
	caPEM := filepath.Join(dir, "ca.pem")
	caKey := objectURI(env.Token("ca"), "rampart-ca")
	if code, out, errOut := run(t, "tls", "ca", "--key", caKey, "--out", caPEM); code != 0 {
		t.Fatalf("tls ca: exit %d\n%s%s", code, out, errOut)
	}
	good := filepath.Join(dir, "node-1.csr")
	code, out, errOut := run(t, "tls", "csr", "--name", "node-1", "--key", objectURI(env.Token("node-1"), "rampart-tls"), "--out", good)
	if code != 0 {
		t.Fatalf("tls csr: exit %d\n%s%s", code, out, errOut)
	}
	goodPEM, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	request := func(key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}
	block, _ := pem.Decode(goodPEM)
	tampered := bytes.Clone(block.Bytes)
	tampered[bytes.LastIndex(tampered, []byte("node-1"))+5] = '2'
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	isCA, err := asn1.Marshal(struct{ IsCA bool }{true})
	if err != nil {
		t.Fatal(err)
	}
	subject := pkix.Name{CommonName: "node-1"}
	existing := write("existing.pem", []byte("keep"))
	wrongFP := "sha256:" + strings.Repeat("ab", 32)

	for _, tc := range []struct {
		name  string
		csr   string
		extra []string
		code  int
		want  string
	}{
		{"refuses a tampered request", write("tampered.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})), nil, 1, "signature does not verify"},
		{"refuses an RSA key", write("rsa.csr", request(rsaKey, &x509.CertificateRequest{Subject: subject, DNSNames: []string{"node-1"}})), nil, 1, "the key is RSA-2048; identity keys must be ECDSA P-256"},
		{"refuses a P-384 key", write("p384.csr", request(p384, &x509.CertificateRequest{Subject: subject, DNSNames: []string{"node-1"}})), nil, 1, "the key is ECDSA P-384"},
		{"refuses an extra subject alternative name", write("extra.csr", request(p256, &x509.CertificateRequest{Subject: subject, DNSNames: []string{"node-1", "validator.example.net"}})), nil, 1, `asks for DNS names ["node-1" "validator.example.net"]`},
		{"refuses a request to be a CA", write("ca.csr", request(p256, &x509.CertificateRequest{Subject: subject, DNSNames: []string{"node-1"},
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Value: isCA}}})), nil, 1, "asks to be a CA"},
		{"refuses a request for another node than --name", good, []string{"--name", "node-2"}, 1, `asks for "node-1", not --name "node-2"`},
		{"refuses a request for another key than --key-fingerprint", good, []string{"--key-fingerprint", wrongFP}, 1, "not --key-fingerprint " + wrongFP},
		{"refuses a malformed --key-fingerprint", good, []string{"--key-fingerprint", "ab:cd"}, 1, `--key-fingerprint "ab:cd" is not`},
		{"refuses an existing --out", good, []string{"--out", existing}, 1, "already exists"},
		{"refuses a garbage file", write("garbage.csr", []byte("\x00\x01garbage")), nil, 1, "text outside PEM blocks"},
		{"refuses two requests in one file", write("two.csr", append(bytes.Clone(goodPEM), goodPEM...)), nil, 1, "2 PEM blocks, want exactly one CERTIFICATE REQUEST"},
		{"refuses a certificate given as a request", caPEM, nil, 1, `block 1 is "CERTIFICATE", want CERTIFICATE REQUEST`},
		{"refuses a missing request file", filepath.Join(dir, "missing.csr"), nil, 1, "--csr: open"},
		{"refuses days out of range", good, []string{"--days", "0"}, 1, "--days 0"},
		{"refuses a certificate outliving the CA", good, []string{"--days", "10000"}, 1, "outlive the CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "refused.pem")
			args := append([]string{"tls", "sign", "--csr", tc.csr, "--ca-key", caKey, "--ca-cert", caPEM, "--out", out}, tc.extra...)
			code, stdout, errOut := run(t, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, stdout, errOut)
			}
			if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused request left %s: %v", out, err)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Fatalf("the existing --out was changed to %q", b)
	}
	// The refusals are not sticky: the good request signs.
	if code, out, errOut := run(t, "tls", "sign", "--csr", good, "--ca-key", caKey, "--ca-cert", caPEM, "--out", filepath.Join(dir, "node-1.pem"), "--name", "node-1"); code != 0 {
		t.Fatalf("tls sign: exit %d\n%s%s", code, out, errOut)
	}
}
