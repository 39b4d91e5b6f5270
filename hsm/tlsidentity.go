package hsm

import (
	"context"
	"crypto/tls"
)

// OpenTLSCertificate opens the token that keyURI names (with its
// module-path and pin-source) and returns the TLS certificate of the key
// there with chainPEM (leaf first), as [Token.TLSCertificate] checks it.
// The key never leaves the HSM; the returned function closes the token
// once the certificate is no longer used. Clients that keep their TLS
// identity in an HSM (rampartctl, rampart-vc) load it with this.
func OpenTLSCertificate(ctx context.Context, keyURI string, chainPEM []byte) (tls.Certificate, func(), error) {
	uri, err := ParseURI(keyURI)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tok, err := Open(ctx, uri, DefaultOptions())
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tok.TLSCertificate(ctx, uri.ObjectRef(), chainPEM)
	if err != nil {
		tok.Close()
		return tls.Certificate{}, nil, err
	}
	return cert, func() { tok.Close() }, nil
}
