package clusterfile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/tss"
)

// ErrNoIdentity is returned by [File.TLSConfig] when the file lacks the
// identity a command needs (admin or client entry).
var ErrNoIdentity = errors.New("cluster file: no identity for this command (admin or client entry)")

// HSMKeyLoader opens a client key held in an HSM (a pkcs11: URI) with its
// certificate chain (PEM). The returned function releases the HSM session.
// Programs that may use HSM-held keys pass one to [File.TLSConfig]; the
// package itself never opens an HSM.
type HSMKeyLoader func(ctx context.Context, keyURI string, chainPEM []byte) (tls.Certificate, func(), error)

// RootCAs reads the cluster CA into a pool holding it alone.
func (cf *File) RootCAs() (*x509.CertPool, error) {
	caPEM, err := os.ReadFile(cf.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster file ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster file ca: no certificate in %s", cf.CA)
	}
	return pool, nil
}

// TLSConfig returns the mutual-TLS client configuration of identity id
// (the file's admin or client entry) with the cluster CA as the only root
// and TLS 1.3 at least. A key given as a pkcs11: URI is opened with hsm
// (nil refuses such keys); the returned function releases what was opened.
// A PEM key file must not be readable by group or others.
func (cf *File) TLSConfig(ctx context.Context, id *Identity, hsm HSMKeyLoader) (*tls.Config, func(), error) {
	if id == nil {
		return nil, nil, ErrNoIdentity
	}
	pool, err := cf.RootCAs()
	if err != nil {
		return nil, nil, err
	}
	var cert tls.Certificate
	release := func() {}
	if strings.HasPrefix(id.Key, "pkcs11:") {
		if hsm == nil {
			return nil, nil, fmt.Errorf("identity %s key: an HSM-held key (pkcs11: URI) is not supported here; give a PEM key file", id.Name)
		}
		chain, err := os.ReadFile(id.Certificate)
		if err != nil {
			return nil, nil, fmt.Errorf("identity %s certificate: %w", id.Name, err)
		}
		if cert, release, err = hsm(ctx, id.Key, chain); err != nil {
			return nil, nil, fmt.Errorf("identity %s key: %w", id.Name, err)
		}
	} else {
		if err := ownerOnly(id.Key); err != nil {
			return nil, nil, fmt.Errorf("identity %s key: %w", id.Name, err)
		}
		if cert, err = tls.LoadX509KeyPair(id.Certificate, id.Key); err != nil {
			return nil, nil, fmt.Errorf("identity %s: %w", id.Name, err)
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}, release, nil
}

// ownerOnly refuses a key file that group or others may read or write:
// another local user could then impersonate the identity.
func ownerOnly(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("%s has mode %#o; a private key must be owner-only (chmod 600)", path, mode)
	}
	return nil
}

// HTTPParticipants returns the distributed-signing clients of every
// participant, for a coordinator, with the identity in tlsConfig.
func (cf *File) HTTPParticipants(tlsConfig *tls.Config) ([]coordinator.Participant, error) {
	out := make([]coordinator.Participant, 0, len(cf.Participants))
	for _, p := range cf.Participants {
		hp, err := coordinator.NewHTTPParticipant(tss.ID(p.ID), p.Endpoint, p.TLSName, tlsConfig)
		if err != nil {
			return nil, err
		}
		out = append(out, hp)
	}
	return out, nil
}
