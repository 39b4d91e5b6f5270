package peer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/peer"
)

// pki is a CA, a server certificate for "signer-2" and a client
// certificate, all from the CA.
type pki struct {
	roots      *x509.CertPool
	server     tls.Certificate
	clientCert tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pki{roots: roots, server: issue(2, "signer-2", x509.ExtKeyUsageServerAuth), clientCert: issue(3, "admin", x509.ExtKeyUsageClientAuth)}
}

// serve starts an mTLS server answering with h.
func (p *pki) serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.roots, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func (p *pki) client(t *testing.T, srv *httptest.Server, serverName string) *peer.Client {
	t.Helper()
	c, err := peer.New(2, srv.URL, serverName, &tls.Config{Certificates: []tls.Certificate{p.clientCert}, RootCAs: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestAnswersAreBoundedNeverCut(t *testing.T) {
	p := newPKI(t)
	const size = 1000
	srv := p.serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", size)))
	})
	c := p.client(t, srv, "signer-2")
	for _, tc := range []struct {
		name  string
		limit int64
		ok    bool
	}{
		{"reads an answer exactly at the bound", size, true},
		{"refuses an answer one byte over the bound", size - 1, false},
		{"reads an answer under the default bound", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Do(context.Background(), peer.Request{Method: http.MethodGet, Path: "/", MaxResponse: tc.limit})
			if tc.ok {
				if err != nil || len(b) != size {
					t.Fatalf("%d bytes, %v", len(b), err)
				}
				return
			}
			if !errors.Is(err, peer.ErrResponseTooLarge) || b != nil {
				t.Fatalf("got %d bytes, %v; want ErrResponseTooLarge and nothing", len(b), err)
			}
		})
	}
}

func TestRefusalsAreStatusErrors(t *testing.T) {
	p := newPKI(t)
	srv := p.serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.WriteHeader(http.StatusPreconditionFailed)
			w.Write([]byte(`{"code":412,"message":"double vote"}`))
		case "/text":
			http.Error(w, "not json", http.StatusServiceUnavailable)
		case "/headers":
			if r.Header.Get("Authorization") != "Bearer x" || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusBadRequest)
			}
			w.Write([]byte(`{}`))
		}
	})
	c := p.client(t, srv, "signer-2")
	_, err := c.Do(context.Background(), peer.Request{Method: http.MethodGet, Path: "/json"})
	var se *peer.StatusError
	if !errors.As(err, &se) || se.Code != 412 || se.Message != "double vote" || peer.Status(err) != 412 {
		t.Fatalf("JSON refusal: %v", err)
	}
	_, err = c.Do(context.Background(), peer.Request{Method: http.MethodGet, Path: "/text"})
	if peer.Status(err) != 503 || !errors.As(err, &se) || se.Message != "" {
		t.Fatalf("refusal without a JSON body: %v", err)
	}
	if _, err := c.Do(context.Background(), peer.Request{Method: http.MethodPost, Path: "/headers", Body: []byte(`{}`), Header: http.Header{"Authorization": {"Bearer x"}}}); err != nil {
		t.Fatalf("headers: %v", err)
	}
}

// TestSignerMustPresentItsConfiguredName: a server with a valid certificate
// from the cluster CA for another name is refused, whatever address it was
// reached at.
func TestSignerMustPresentItsConfiguredName(t *testing.T) {
	p := newPKI(t)
	srv := p.serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	if _, err := p.client(t, srv, "signer-3").Do(context.Background(), peer.Request{Method: http.MethodGet, Path: "/"}); err == nil {
		t.Fatal("a certificate for signer-2 was accepted as signer-3")
	}
	if _, err := p.client(t, srv, "signer-2").Do(context.Background(), peer.Request{Method: http.MethodGet, Path: "/"}); err != nil {
		t.Fatal(err)
	}
}

// TestHandshakeIsBounded: a server that accepts the connection and never
// answers the TLS handshake fails the call even when the caller's context
// has no deadline.
func TestHandshakeIsBounded(t *testing.T) {
	p := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := peer.New(2, "https://"+ln.Addr().String(), "signer-2", &tls.Config{Certificates: []tls.Certificate{p.clientCert}, RootCAs: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	peer.SetHandshakeTimeout(c, 50*time.Millisecond)
	_, err = c.Do(context.Background(), peer.Request{Method: http.MethodGet, Path: "/"})
	held = append(held, <-accepted)
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("got %v, want a handshake timeout", err)
	}
}

func TestNewRefusesBadEndpoints(t *testing.T) {
	tc := &tls.Config{}
	for _, ep := range []string{"http://127.0.0.1:1", "https://", "https://h/path", "https://h?q=1", "127.0.0.1:1"} {
		if _, err := peer.New(1, ep, "x", tc); err == nil {
			t.Errorf("%q accepted", ep)
		}
	}
	if _, err := peer.New(0, "https://h", "x", tc); err == nil {
		t.Error("participant id 0 accepted")
	}
	if _, err := peer.New(1, "https://h", "x", nil); err == nil {
		t.Error("no TLS configuration accepted")
	}
}
