package adminapi

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// ClusterFile describes a cluster from the outside, for the tools that talk
// to it: rampartctl (key generation, import, status) and validator clients.
// Its format and checks are package clusterfile's, which rampart-vc reads
// without importing the appliance; this type adds what needs the HSM or the
// administrative API.
type ClusterFile clusterfile.File

// ClusterParticipant is one signer as seen from outside.
type ClusterParticipant = clusterfile.Participant

// Identity is a client certificate and its key: a PEM file or a pkcs11:
// URI (the key in an HSM).
type Identity = clusterfile.Identity

func (cf *ClusterFile) file() *clusterfile.File { return (*clusterfile.File)(cf) }

// LoadClusterFile reads and checks a cluster file.
func LoadClusterFile(path string) (*ClusterFile, error) {
	f, err := clusterfile.Load(path)
	return (*ClusterFile)(f), err
}

// Write saves the cluster file (mode 0644: it holds no secret).
func (cf *ClusterFile) Write(path string) error { return cf.file().Write(path) }

// Validate checks the file.
func (cf *ClusterFile) Validate() error { return cf.file().Validate() }

// LoadNetwork resolves the network.
func (cf *ClusterFile) LoadNetwork(ctx context.Context) (*network.Network, error) {
	return cf.file().LoadNetwork(ctx)
}

// Abs makes the file's relative paths absolute against dir.
func (cf *ClusterFile) Abs(dir string) { cf.file().Abs(dir) }

// TLSConfig returns the mTLS client configuration of identity id (the
// admin or client entry) with the cluster CA as the only root. A key given
// as a pkcs11: URI is opened in its HSM; the returned closer releases it.
func (cf *ClusterFile) TLSConfig(ctx context.Context, id *Identity) (*tls.Config, func(), error) {
	return cf.file().TLSConfig(ctx, id, hsm.OpenTLSCertificate)
}

// Peers returns one mutual-TLS client per participant, with the identity
// in tlsConfig: the one connection pool per signer that the
// administrative clients and a coordinator of that identity share.
func (cf *ClusterFile) Peers(tlsConfig *tls.Config) ([]*peer.Client, error) {
	out := make([]*peer.Client, len(cf.Participants))
	for i, p := range cf.Participants {
		c, err := peer.New(tss.ID(p.ID), p.Endpoint, p.TLSName, tlsConfig)
		if err != nil {
			return nil, fmt.Errorf("cluster file participants[%d]: %w", i, err)
		}
		out[i] = c
	}
	return out, nil
}

// AdminToken reads the administrative token from the admin entry's token
// source (credentialsDir is $CREDENTIALS_DIRECTORY, for credential:).
func (cf *ClusterFile) AdminToken(credentialsDir string) (Token, error) {
	if cf.Admin == nil || cf.Admin.Token == "" {
		return Token{}, fmt.Errorf("%w: the cluster file's admin entry names none (admin.token: file:/path of the file rampartctl admin token --out wrote)", ErrToken)
	}
	tok, err := LoadToken(cf.Admin.Token, credentialsDir)
	if err != nil {
		return Token{}, fmt.Errorf("cluster file admin.token: %w", err)
	}
	return tok, nil
}

// AdminClients returns the administrative clients of every participant as
// the admin identity, carrying the administrative token; the returned
// function releases the identity's key and zeroes the token.
func (cf *ClusterFile) AdminClients(ctx context.Context) ([]*Client, func(), error) {
	tok, err := cf.AdminToken(os.Getenv("CREDENTIALS_DIRECTORY"))
	if err != nil {
		return nil, nil, err
	}
	tlsConfig, release, err := cf.TLSConfig(ctx, cf.Admin)
	if err != nil {
		tok.Zero()
		return nil, nil, err
	}
	peers, err := cf.Peers(tlsConfig)
	if err != nil {
		release()
		tok.Zero()
		return nil, nil, err
	}
	out := make([]*Client, len(peers))
	for i, p := range peers {
		out[i] = NewClient(p).WithToken(tok)
	}
	return out, func() {
		for _, p := range peers {
			p.Close()
		}
		release()
		tok.Zero()
	}, nil
}

// Coordinator returns a coordinator over every participant's distributed
// endpoints, with the identity in tlsConfig.
func (cf *ClusterFile) Coordinator(tlsConfig *tls.Config) (*coordinator.Coordinator, error) {
	peers, err := cf.Peers(tlsConfig)
	if err != nil {
		return nil, err
	}
	cfg := coordinator.DefaultConfig()
	for _, p := range peers {
		cfg.Participants = append(cfg.Participants, coordinator.Over(p))
	}
	return coordinator.New(cfg)
}

// Connect loads identity id (TLSConfig) and returns its configuration and a
// coordinator over every participant with it; the returned function
// releases the identity's key.
func (cf *ClusterFile) Connect(ctx context.Context, id *Identity) (*tls.Config, *coordinator.Coordinator, func(), error) {
	tlsConfig, release, err := cf.TLSConfig(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	coord, err := cf.Coordinator(tlsConfig)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	return tlsConfig, coord, release, nil
}
