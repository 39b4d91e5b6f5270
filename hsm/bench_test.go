package hsm_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// BenchmarkUnsealAll10000 measures start-up: unsealing 10,000 shares in
// one bulk call (goal: under 2 s).
func BenchmarkUnsealAll10000(b *testing.B) {
	env := softhsm.New(b, "signer-1")
	_, k := sealingKey(b, env.Tokens[0])
	const n = 10000
	blobs := make([][]byte, n)
	var a account
	for i := range blobs {
		a = newAccount(b, 1)
		blobs[i] = seal(b, k, a)
		a.share.Zero()
	}
	b.ResetTimer()
	for b.Loop() {
		set, err := k.UnsealAll(b.Context(), blobs, a.placement())
		if err != nil {
			b.Fatal(err)
		}
		set.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/share")
}

// BenchmarkSeal measures sealing one share (including the check that the
// new blob unseals).
func BenchmarkSeal(b *testing.B) {
	env := softhsm.New(b, "signer-1")
	_, k := sealingKey(b, env.Tokens[0])
	a := newAccount(b, 1)
	for b.Loop() {
		if _, err := k.Seal(b.Context(), a.share, a.binding); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTLSHandshake measures full TLS 1.3 mutual handshakes (no
// resumption) over an in-memory pipe: with both identity keys in SoftHSM,
// and with the same certificate profile and in-memory keys.
func BenchmarkTLSHandshake(b *testing.B) {
	p := newPKI(b)
	b.Run("hsm-keys", func(b *testing.B) {
		benchHandshakes(b, serverConfig(p.server, p.caPool), clientConfig(&p.client, p.caPool))
	})
	now := time.Now()
	caKey := memoryKey(b)
	ca, err := hsm.NewCACertificate(rand.Reader, caKey, "CA", now, hsm.DefaultCAValidity)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	memCert := func(name string) tls.Certificate {
		k := memoryKey(b)
		c, err := hsm.IssueIdentityCertificate(rand.Reader, ca, caKey, k.Public(), name, now, hsm.DefaultIdentityValidity)
		if err != nil {
			b.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
	}
	server, client := memCert("127.0.0.1"), memCert("node-b")
	b.Run("memory-keys", func(b *testing.B) {
		benchHandshakes(b, serverConfig(server, pool), clientConfig(&client, pool))
	})
}

func benchHandshakes(b *testing.B, server, client *tls.Config) {
	server.SessionTicketsDisabled = true
	for b.Loop() {
		c1, c2 := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(c1, server).HandshakeContext(b.Context()) }()
		cerr := tls.Client(c2, client).HandshakeContext(b.Context())
		serr := <-errc
		c1.Close()
		c2.Close()
		if cerr != nil || serr != nil {
			b.Fatalf("client %v, server %v", cerr, serr)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}
