//go:build redteam

package redteam_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"time"

	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// identity is a TLS client identity an attack presents.
type identity struct {
	name  string
	about string
	// cert is nil for a client that presents no certificate.
	cert *tls.Certificate
}

// Names of the forged identities.
const (
	forgedUnknown  = "forged-unknown"
	forgedPeer     = "forged-peer"
	forgedClient   = "forged-client"
	forgedTwoNames = "forged-peer+client"
	forgedOtherCA  = "other-ca"
	forgedExpired  = "expired"
	forgedNoClient = "no-clientauth-eku"
	noCertificate  = "no-certificate"
	forgedPeerName = "signer-2"
)

// identities loads the cluster's own client identities and forges the
// others with the cluster CA's key, as an attacker who reached the CA (or
// a careless operator) would.
func identities(ctx context.Context, lc *localcluster.Cluster) (map[string]*identity, error) {
	ids := map[string]*identity{noCertificate: {name: noCertificate, about: "no client certificate"}}
	for _, cl := range lc.Clients {
		cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
		if err != nil {
			return nil, err
		}
		ids[cl.Name] = &identity{name: cl.Name, about: "the cluster's own " + cl.Name + " certificate", cert: &cert}
	}
	caPEM, err := os.ReadFile(lc.CAPath)
	if err != nil {
		return nil, err
	}
	cas, err := hsm.ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, err
	}
	// The CA's token lives in the cluster's first SoftHSM configuration.
	if err := os.Setenv(softhsm.ConfigEnv, lc.HSM.ConfigPath); err != nil {
		return nil, err
	}
	uri := lc.HSM.Token(localcluster.CATokenLabel).ObjectURI(localcluster.CAKeyLabel)
	tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
	if err != nil {
		return nil, err
	}
	defer tok.Close()
	caKey, err := tok.TLSKey(ctx, uri.ObjectRef())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	forge := func(name, about string, parent *x509.Certificate, parentKey crypto.Signer, tmpl x509.Certificate) error {
		cert, err := issue(parent, parentKey, tmpl)
		if err != nil {
			return err
		}
		ids[name] = &identity{name: name, about: about, cert: cert}
		return nil
	}
	leaf := func(names []string, notBefore, notAfter time.Time, eku []x509.ExtKeyUsage) x509.Certificate {
		return x509.Certificate{
			Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
			NotBefore: notBefore, NotAfter: notAfter,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku, BasicConstraintsValid: true,
		}
	}
	year := now.Add(365 * 24 * time.Hour)
	from := now.Add(-time.Minute)
	for _, f := range []struct {
		name, about string
		tmpl        x509.Certificate
	}{
		{forgedUnknown, "cluster CA, unknown name \"mallory\"", leaf([]string{"mallory"}, from, year, both)},
		{forgedPeer, "cluster CA, a second certificate for signer-2's name", leaf([]string{forgedPeerName}, from, year, both)},
		{forgedClient, "cluster CA, a second certificate for vc-1's name", leaf([]string{validatorClient}, from, year, both)},
		{forgedTwoNames, "cluster CA, names signer-2 and vc-1", leaf([]string{forgedPeerName, validatorClient}, from, year, both)},
		// The CA certificate is back-dated by five minutes: this one was
		// valid for two minutes inside the CA's life and is expired now.
		{forgedExpired, "cluster CA, vc-1's name, expired a minute ago", leaf([]string{validatorClient}, now.Add(-4*time.Minute), now.Add(-time.Minute), both)},
		{forgedNoClient, "cluster CA, vc-1's name, serverAuth EKU only", leaf([]string{validatorClient}, from, year, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})},
	} {
		if err := forge(f.name, f.about, cas[0], caKey, f.tmpl); err != nil {
			return nil, err
		}
	}
	// Another CA, with its key in memory: the same names mean nothing.
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	otherCA, err := hsm.NewCACertificate(rand.Reader, otherKey, "Another CA", now, hsm.DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	if err := forge(forgedOtherCA, "another CA, vc-1's name", otherCA, otherKey, leaf([]string{validatorClient}, from, year, both)); err != nil {
		return nil, err
	}
	return ids, nil
}

// issue signs a fresh P-256 key's certificate from tmpl with the parent.
func issue(parent *x509.Certificate, parentKey crypto.Signer, tmpl x509.Certificate) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
