package hsm_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// pki is a cluster CA and two nodes, every key in its own SoftHSM token,
// plus a rogue CA in a token of its own.
type pki struct {
	env               *softhsm.Env
	caPool, roguePool *x509.CertPool
	server, client    tls.Certificate // 127.0.0.1 and node-b, issued by the CA
	rogueClient       tls.Certificate // node-b again, issued by the rogue CA
}

var tlsKey = hsm.Object{Label: "rampart-tls"}

func newPKI(t testing.TB) *pki {
	t.Helper()
	env := softhsm.New(t, "ca", "node-a", "node-b", "rogue-ca")
	ctx := t.Context()
	now := time.Now()
	tokens := map[string]*hsm.Token{}
	for _, tok := range env.Tokens {
		tokens[tok.Label] = open(t, tok)
	}
	newCA := func(token, name string) (*x509.Certificate, *x509.CertPool, *hsm.Token) {
		key, err := tokens[token].GenerateTLSKey(ctx, hsm.Object{Label: "rampart-ca"})
		if err != nil {
			t.Fatal(err)
		}
		ca, err := hsm.NewCACertificate(rand.Reader, key, name, now, hsm.DefaultCAValidity)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		return ca, pool, tokens[token]
	}
	issue := func(caCert *x509.Certificate, caToken *hsm.Token, node string, key hsm.Object, name string) tls.Certificate {
		caKey, err := caToken.TLSKey(ctx, hsm.Object{Label: "rampart-ca"})
		if err != nil {
			t.Fatal(err)
		}
		nodeKey, err := tokens[node].GenerateTLSKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := hsm.IssueIdentityCertificate(rand.Reader, caCert, caKey, nodeKey.Public(), name, now, hsm.DefaultIdentityValidity)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tokens[node].TLSCertificate(ctx, key, hsm.EncodeCertificatesPEM(cert))
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	p := &pki{env: env}
	ca, caPool, caToken := newCA("ca", "Rampart test cluster CA")
	rogue, roguePool, rogueToken := newCA("rogue-ca", "Rampart test cluster CA")
	p.caPool, p.roguePool = caPool, roguePool
	p.server = issue(ca, caToken, "node-a", tlsKey, "127.0.0.1")
	p.client = issue(ca, caToken, "node-b", tlsKey, "node-b")
	p.rogueClient = issue(rogue, rogueToken, "node-b", hsm.Object{Label: "rogue-tls"}, "node-b")
	return p
}

func serverConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
}

func clientConfig(cert *tls.Certificate, roots *x509.CertPool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: "127.0.0.1"}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// exchange runs one TLS connection over TCP on 127.0.0.1: the client sends
// a line and the server echoes it. It returns the client identity the
// server saw and the server's and the client's errors.
func exchange(t *testing.T, server, client *tls.Config) (peer string, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type result struct {
		err  error
		peer string
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		if err := tc.HandshakeContext(ctx); err != nil {
			done <- result{err: err}
			return
		}
		st := tc.ConnectionState()
		if st.Version != tls.VersionTLS13 {
			done <- result{err: errors.New("not TLS 1.3")}
			return
		}
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err == nil {
			_, err = tc.Write([]byte(line))
		}
		done <- result{err: err, peer: st.PeerCertificates[0].DNSNames[0]}
	}()
	conn, err := (&tls.Dialer{Config: client}).DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		defer conn.Close()
		if _, err = conn.Write([]byte("ping\n")); err == nil {
			var line string
			line, err = bufio.NewReader(conn).ReadString('\n')
			if err == nil && line != "ping\n" {
				err = errors.New("echo differs")
			}
		}
	}
	r := <-done
	return r.peer, r.err, err
}

func TestMutualTLSWithHSMKeys(t *testing.T) {
	p := newPKI(t)
	peer, serverErr, clientErr := exchange(t, serverConfig(p.server, p.caPool), clientConfig(&p.client, p.caPool))
	if serverErr != nil || clientErr != nil {
		t.Fatalf("server: %v; client: %v", serverErr, clientErr)
	}
	if peer != "node-b" {
		t.Fatalf("server saw client %q, want node-b", peer)
	}
}

func TestMutualTLSRefusals(t *testing.T) {
	p := newPKI(t)
	unknownAuthority := func(err error) bool {
		var verr *tls.CertificateVerificationError
		var uae x509.UnknownAuthorityError
		return errors.As(err, &verr) && errors.As(err, &uae)
	}
	// A TLS 1.3 client learns of the refusal from the server's alert
	// (certificate_required) on its first read.
	alerted := func(err error) bool {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "remote error"
	}
	for _, tc := range []struct {
		name           string
		server, client *tls.Config
		check          func(serverErr, clientErr error) bool
	}{
		{"server refuses a client without certificate",
			serverConfig(p.server, p.caPool), clientConfig(nil, p.caPool),
			func(s, c error) bool { return alerted(c) && !unknownAuthority(s) }},
		{"server refuses a client certified by another CA",
			serverConfig(p.server, p.caPool), clientConfig(&p.rogueClient, p.caPool),
			func(s, _ error) bool { return unknownAuthority(s) }},
		{"client refuses a server certified by another CA",
			serverConfig(p.server, p.caPool), clientConfig(&p.client, p.roguePool),
			func(_, c error) bool { return unknownAuthority(c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, serverErr, clientErr := exchange(t, tc.server, tc.client)
			if serverErr == nil || clientErr == nil {
				t.Fatalf("connection went through: server %v, client %v", serverErr, clientErr)
			}
			if !tc.check(serverErr, clientErr) {
				t.Fatalf("refused for another reason: server %v; client %v", serverErr, clientErr)
			}
		})
	}
}

func TestTLSCertificateRefusesAnotherKeysCertificate(t *testing.T) {
	p := newPKI(t)
	tok := p.env.Token("node-a")
	// node-a's token is open (newPKI); open it again to ask for its key
	// with node-b's certificate.
	ht := open(t, tok)
	_, err := ht.TLSCertificate(t.Context(), tlsKey, hsm.EncodeCertificatesPEM(p.client.Leaf))
	if !errors.Is(err, hsm.ErrCertificate) {
		t.Fatalf("got %v, want ErrCertificate", err)
	}
	if _, err := ht.TLSCertificate(t.Context(), tlsKey, []byte("not PEM")); !errors.Is(err, hsm.ErrCertificate) {
		t.Fatalf("garbage: got %v, want ErrCertificate", err)
	}
	if _, err := ht.TLSKey(t.Context(), hsm.Object{Label: "absent"}); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("missing key: got %v, want ErrKeyNotFound", err)
	}
}
