package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/tss"
)

// ClusterFile describes a cluster from the outside, for the tools that talk
// to it: rampartctl (key generation, import, status) and validator clients.
// `rampartctl devnet up` writes one; an operator writes one by hand for a
// production cluster. It holds no secret: identities name a key file or a
// pkcs11: URI.
type ClusterFile struct {
	Network   NetworkConfig `yaml:"network"`
	ClusterID string        `yaml:"cluster_id"`
	// Threshold is the t of new accounts.
	Threshold int `yaml:"threshold"`
	// CA is the cluster CA certificate (PEM).
	CA string `yaml:"ca"`
	// Participants lists every signer.
	Participants []ClusterParticipant `yaml:"participants"`
	// Admin is the operator identity (admin.clients of every signer).
	Admin *Identity `yaml:"admin,omitempty"`
	// Client is a validator client identity.
	Client *Identity `yaml:"client,omitempty"`
	// CoordinatorHTTP is a loopback Remote Signing API without TLS, if a
	// signer opens one.
	CoordinatorHTTP string `yaml:"coordinator_http,omitempty"`
	// Accounts lists the validators' composite public keys.
	Accounts []string `yaml:"accounts,omitempty"`
}

// ClusterParticipant is one signer as seen from outside.
type ClusterParticipant struct {
	ID uint64 `yaml:"id"`
	// Endpoint is the participant listener (https://host:port).
	Endpoint string `yaml:"endpoint"`
	TLSName  string `yaml:"tls_name"`
	// Coordinator is the Remote Signing API listener (https://host:port).
	Coordinator string `yaml:"coordinator,omitempty"`
	// Operations is the metrics and health listener (http://host:port).
	Operations string `yaml:"operations,omitempty"`
}

// Identity is a client certificate and its key: a PEM file or a pkcs11:
// URI (the key in an HSM).
type Identity struct {
	Name        string `yaml:"name"`
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"`
}

// LoadClusterFile reads and checks a cluster file.
func LoadClusterFile(path string) (*ClusterFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster file: %w", err)
	}
	var cf ClusterFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cluster file %s: %w", path, err)
	}
	if err := cf.Validate(); err != nil {
		return nil, fmt.Errorf("cluster file %s: %w", path, err)
	}
	return &cf, nil
}

// Write saves the cluster file (mode 0644: it holds no secret).
func (cf *ClusterFile) Write(path string) error {
	data, err := yaml.Marshal(cf)
	if err != nil {
		return err
	}
	header := "# Rampart cluster description: endpoints, CA and client identities (no secrets).\n"
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append([]byte(header), data...), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Validate checks the file.
func (cf *ClusterFile) Validate() error {
	if len(cf.Participants) == 0 {
		return fieldErr("participants", "required")
	}
	ids := make([]tss.ID, len(cf.Participants))
	for i, p := range cf.Participants {
		ids[i] = tss.ID(p.ID)
		if !strings.HasPrefix(p.Endpoint, "https://") {
			return fieldErr(fmt.Sprintf("participants[%d].endpoint", i), "%q is not https://", p.Endpoint)
		}
		if p.TLSName == "" {
			return fieldErr(fmt.Sprintf("participants[%d].tls_name", i), "required")
		}
	}
	if err := tss.CheckIDs(ids); err != nil {
		return fieldErr("participants", "%v", err)
	}
	if cf.Threshold != 0 {
		if err := tss.CheckThreshold(cf.Threshold, len(ids)); err != nil {
			return fieldErr("threshold", "%v", err)
		}
	}
	if cf.CA == "" {
		return fieldErr("ca", "required")
	}
	return nil
}

// LoadNetwork resolves the network.
func (cf *ClusterFile) LoadNetwork(ctx context.Context) (*network.Network, error) {
	return network.Selection{Name: cf.Network.Name, ConfigPath: cf.Network.Config, GenesisValidatorsRoot: cf.Network.GenesisValidatorsRoot}.Load(ctx, network.Names{
		Name: "network.name", ConfigPath: "network.config", GenesisValidatorsRoot: "network.genesis_validators_root",
	})
}

// TLSConfig returns the mTLS client configuration of identity id (the
// admin or client entry) with the cluster CA as the only root. A key given
// as a pkcs11: URI is opened in its HSM; the returned closer releases it.
func (cf *ClusterFile) TLSConfig(ctx context.Context, id *Identity) (*tls.Config, func(), error) {
	if id == nil {
		return nil, nil, errors.New("cluster file: no identity for this command (admin or client entry)")
	}
	caPEM, err := os.ReadFile(cf.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster file ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("cluster file ca: no certificate in %s", cf.CA)
	}
	var cert tls.Certificate
	closer := func() {}
	if strings.HasPrefix(id.Key, "pkcs11:") {
		uri, err := hsm.ParseURI(id.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("identity %s key: %w", id.Name, err)
		}
		tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
		if err != nil {
			return nil, nil, fmt.Errorf("identity %s key: %w", id.Name, err)
		}
		chain, err := os.ReadFile(id.Certificate)
		if err != nil {
			tok.Close()
			return nil, nil, err
		}
		if cert, err = tok.TLSCertificate(ctx, uri.ObjectRef(), chain); err != nil {
			tok.Close()
			return nil, nil, err
		}
		closer = func() { tok.Close() }
	} else {
		if cert, err = tls.LoadX509KeyPair(id.Certificate, id.Key); err != nil {
			return nil, nil, fmt.Errorf("identity %s: %w", id.Name, err)
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool}, closer, nil
}

// Peers returns the administrative clients of every participant.
func (cf *ClusterFile) Peers(tlsConfig *tls.Config) []*Peer {
	out := make([]*Peer, len(cf.Participants))
	for i, p := range cf.Participants {
		out[i] = NewPeer(ParticipantConfig{ID: p.ID, Endpoint: p.Endpoint, TLSName: p.TLSName}, tlsConfig)
	}
	return out
}

// Coordinator returns a coordinator over every participant's distributed
// endpoints, with the identity in tlsConfig.
func (cf *ClusterFile) Coordinator(tlsConfig *tls.Config) (*coordinator.Coordinator, error) {
	cfg := coordinator.DefaultConfig()
	for _, p := range cf.Participants {
		hp, err := coordinator.NewHTTPParticipant(tss.ID(p.ID), p.Endpoint, p.TLSName, tlsConfig)
		if err != nil {
			return nil, err
		}
		cfg.Participants = append(cfg.Participants, hp)
	}
	return coordinator.New(cfg)
}

// Abs makes the file's relative paths absolute against dir.
func (cf *ClusterFile) Abs(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && !strings.HasPrefix(*p, "pkcs11:") {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&cf.CA)
	abs(&cf.Network.Config)
	for _, id := range []*Identity{cf.Admin, cf.Client} {
		if id != nil {
			abs(&id.Certificate)
			abs(&id.Key)
		}
	}
}
