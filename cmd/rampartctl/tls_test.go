package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

func TestTLSCommandsEndToEnd(t *testing.T) {
	env := softhsm.New(t, "ca", "node-1", "node-2", "node-3")
	dir := t.TempDir()
	caPEM := filepath.Join(dir, "ca.pem")
	caKey := objectURI(env.Token("ca"), "rampart-ca")
	if code, out, errOut := run(t, "tls", "ca", "--key", caKey, "--out", caPEM); code != 0 {
		t.Fatalf("tls ca: exit %d\n%s%s", code, out, errOut)
	}
	issue := func(node, name string, extra ...string) (int, string) {
		args := append([]string{"tls", "issue", "--name", name, "--key", objectURI(env.Token(node), "rampart-tls"),
			"--ca-key", caKey, "--ca-cert", caPEM, "--out", filepath.Join(dir, node+".pem")}, extra...)
		code, out, errOut := run(t, args...)
		return code, out + errOut
	}
	if code, out := issue("node-1", "127.0.0.1"); code != 0 {
		t.Fatalf("issue node-1: exit %d\n%s", code, out)
	}
	if code, out := issue("node-2", "node-2.rampart.internal"); code != 0 {
		t.Fatalf("issue node-2: exit %d\n%s", code, out)
	}
	// The CA key in a token that is also a node's: one login serves both.
	if code, out, errOut := run(t, "tls", "issue", "--name", "ca-node", "--key", objectURI(env.Token("ca"), "rampart-tls"),
		"--ca-key", caKey, "--ca-cert", caPEM, "--out", filepath.Join(dir, "ca-node.pem")); code != 0 {
		t.Fatalf("issue in the CA's token: exit %d\n%s%s", code, out, errOut)
	}

	pool := x509.NewCertPool()
	caBytes, err := os.ReadFile(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(caBytes) {
		t.Fatal("CA file is not PEM")
	}
	for node, name := range map[string]string{"node-1": "127.0.0.1", "node-2": "node-2.rampart.internal"} {
		pemBytes, err := os.ReadFile(filepath.Join(dir, node+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		certs, err := hsm.ParseCertificatesPEM(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Fatalf("%s: %v", node, err)
			}
		}
		// The certificate certifies the key that stayed in the node's token.
		tok, err := hsm.Open(t.Context(), env.Token(node).URI, hsm.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		_, err = tok.TLSCertificate(t.Context(), hsm.Object{Label: "rampart-tls"}, pemBytes)
		tok.Close()
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
	}

	for _, tc := range []struct {
		name string
		code int
		out  string
		args []string
	}{
		{"refuses to overwrite a certificate file", 1, "already exists", []string{"node-1", "node-3"}},
		{"refuses an invalid name", 1, "invalid identity name", []string{"node-3", "Node_3"}},
		{"refuses a certificate outliving the CA", 1, "outlive the CA", []string{"node-3", "node-3", "--days", "10000"}},
		{"refuses days out of range", 1, "--days 0", []string{"node-3", "node-3", "--days", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := issue(tc.args[0], tc.args[1], tc.args[2:]...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d, want %d with %q\n%s", code, tc.code, tc.out, out)
			}
		})
	}
	// The refusals changed nothing: node-3 has no key yet.
	noTLSKey(t, env, "node-3")
	code, out, errOut := run(t, "tls", "issue", "--name", "node-1", "--key", objectURI(env.Token("node-1"), "rampart-tls"),
		"--ca-key", caKey, "--ca-cert", caPEM, "--out", filepath.Join(dir, "renewed.pem"))
	if code != 1 || !strings.Contains(errOut, "--reuse-key") {
		t.Fatalf("issuing over an existing key: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "tls", "issue", "--name", "127.0.0.1", "--key", objectURI(env.Token("node-1"), "rampart-tls"),
		"--ca-key", caKey, "--ca-cert", caPEM, "--out", filepath.Join(dir, "renewed.pem"), "--reuse-key")
	if code != 0 {
		t.Fatalf("renewal: exit %d\n%s%s", code, out, errOut)
	}
}

func TestTLSCARefusesAndRenews(t *testing.T) {
	env := softhsm.New(t, "ca")
	dir := t.TempDir()
	key := objectURI(env.Tokens[0], "rampart-ca")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"refuses a missing --out", []string{"--key", key}, 2, "--out is required"},
		{"refuses an empty CA name", []string{"--key", key, "--out", filepath.Join(dir, "a.pem"), "--name", ""}, 1, "common name"},
		{"refuses a validity over 30 years", []string{"--key", key, "--out", filepath.Join(dir, "a.pem"), "--days", "20000"}, 1, "--days 20000"},
		{"refuses a URI naming a secret key", []string{"--key", strings.Replace(key, "?", ";type=secret-key?", 1), "--out", filepath.Join(dir, "a.pem")}, 1, "invalid PKCS#11 URI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"tls", "ca"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	tok, err := hsm.Open(t.Context(), env.Tokens[0].URI, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tok.TLSKey(t.Context(), hsm.Object{Label: "rampart-ca"})
	tok.Close()
	if !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("CA key after refusals: got %v, want ErrKeyNotFound", err)
	}

	first, second := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-renewed.pem")
	if code, out, errOut := run(t, "tls", "ca", "--key", key, "--out", first); code != 0 {
		t.Fatalf("tls ca: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "tls", "ca", "--key", key, "--out", second); code != 1 || !strings.Contains(errOut, "--reuse-key") {
		t.Fatalf("second tls ca: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := run(t, "tls", "ca", "--key", key, "--out", second, "--reuse-key"); code != 0 {
		t.Fatalf("renewal: exit %d\n%s%s", code, out, errOut)
	}
	var certs []*x509.Certificate
	for _, f := range []string{first, second} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := hsm.ParseCertificatesPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c[0])
	}
	if !bytes.Equal(certs[0].RawSubjectPublicKeyInfo, certs[1].RawSubjectPublicKeyInfo) || certs[0].SerialNumber.Cmp(certs[1].SerialNumber) == 0 {
		t.Fatal("renewal did not certify the same key under a new serial")
	}
}

// noTLSKey fails the test unless the token labelled token holds no TLS
// key (rampart-tls): the refusals before it made none.
func noTLSKey(t *testing.T, env *softhsm.Env, token string) {
	t.Helper()
	tok, err := hsm.Open(t.Context(), env.Token(token).URI, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tok.TLSKey(t.Context(), hsm.Object{Label: "rampart-tls"})
	tok.Close()
	if !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("%s's key after the refusals: got %v, want ErrKeyNotFound", token, err)
	}
}
