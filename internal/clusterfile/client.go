package clusterfile

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
)

// ClientConfig is the cluster section of a client's configuration file
// (rampart-vc's and rampart-gateway's `cluster:`): which cluster file to
// read, with which identity, and how long to wait for a signer. Its errors
// name the field under `cluster.`.
type ClientConfig struct {
	// File is the cluster description (cluster.yaml): network,
	// participants, CA, and possibly a client identity.
	File string `yaml:"file"`
	// Certificate and Key override the cluster file's client identity:
	// a PEM certificate chain, and an owner-only PEM key file or a pkcs11:
	// URI (the key in an HSM). Empty: the cluster file's client entry.
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"`
	// Timeout bounds each call to one signer.
	Timeout time.Duration `yaml:"timeout"`
	// HedgeDelay: 0 asks every signer at once; a positive delay asks the
	// first threshold signers and the others only if they have not all
	// answered by then.
	HedgeDelay time.Duration `yaml:"hedge_delay"`
}

// MaxClientTimeout bounds cluster.timeout and cluster.hedge_delay.
const MaxClientTimeout = time.Minute

// DefaultClientConfig is the cluster section when the file leaves it out.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{File: "/etc/rampart/cluster.yaml", Timeout: 2 * time.Second}
}

// Abs makes the section's relative paths absolute against dir (the
// configuration file's directory), leaving pkcs11: URIs alone.
func (c *ClientConfig) Abs(dir string) {
	for _, p := range []*string{&c.File, &c.Certificate, &c.Key} {
		if *p != "" && !filepath.IsAbs(*p) && !strings.HasPrefix(*p, "pkcs11:") {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Validate checks the section and returns the first problem, named by its
// YAML path (cluster.file, cluster.key, cluster.timeout,
// cluster.hedge_delay).
func (c *ClientConfig) Validate() error {
	if c.File == "" {
		return clientFieldErr("cluster.file", "required")
	}
	if (c.Certificate == "") != (c.Key == "") {
		return clientFieldErr("cluster.key", "cluster.certificate and cluster.key go together")
	}
	if d := c.Timeout; d <= 0 || d > MaxClientTimeout {
		return clientFieldErr("cluster.timeout", "%s is not more than 0s and at most %s", d, MaxClientTimeout)
	}
	if d := c.HedgeDelay; d < 0 || d > MaxClientTimeout {
		return clientFieldErr("cluster.hedge_delay", "%s is not 0s or more and at most %s", d, MaxClientTimeout)
	}
	return nil
}

// clientFieldErr names a field of the client's own configuration file, not
// of the cluster file (fieldErr).
func clientFieldErr(path, format string, a ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
}

// Client is what a client of the cluster reads at start-up: the cluster
// file (paths absolute), its network and the identity to present.
type Client struct {
	File     *File
	Network  *network.Network
	Identity *Identity
	cfg      ClientConfig
}

// Open reads the cluster file c names and its network, and chooses the
// identity: c's certificate and key (under name) or the file's client
// entry. Every error is the configuration's.
func (c ClientConfig) Open(ctx context.Context, name string) (*Client, error) {
	cf, err := Load(c.File)
	if err != nil {
		return nil, fmt.Errorf("cluster.file: %w", err)
	}
	cf.Abs(filepath.Dir(c.File))
	netw, err := cf.LoadNetwork(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster.file %s: %w", c.File, err)
	}
	identity := cf.Client
	if c.Certificate != "" {
		identity = &Identity{Name: name, Certificate: c.Certificate, Key: c.Key}
	}
	if identity == nil {
		return nil, errors.New("cluster.certificate: required, since the cluster file has no client entry")
	}
	return &Client{File: cf, Network: netw, Identity: identity, cfg: c}, nil
}

// Coordinator builds the coordinator over every signer's distributed
// endpoints with the configured timeout and hedge delay, presenting
// tlsConfig's identity. It returns the signers' clients too, which the
// caller closes (their idle connections) when it stops. Every error is the
// configuration's.
func (cl *Client) Coordinator(tlsConfig *tls.Config, log *slog.Logger, metrics *coordinator.Metrics) (*coordinator.Coordinator, []*coordinator.HTTPParticipant, error) {
	ps, err := cl.File.HTTPParticipants(tlsConfig)
	if err != nil {
		return nil, nil, err
	}
	hps := make([]*coordinator.HTTPParticipant, len(ps))
	for i, p := range ps {
		hps[i] = p.(*coordinator.HTTPParticipant)
	}
	ccfg := coordinator.DefaultConfig()
	ccfg.Participants = ps
	ccfg.Timeout = cl.cfg.Timeout
	ccfg.HedgeDelay = cl.cfg.HedgeDelay
	ccfg.Logger = log.With("component", "coordinator")
	ccfg.Metrics = metrics
	coord, err := coordinator.New(ccfg)
	if err != nil {
		for _, hp := range hps {
			hp.Close()
		}
		return nil, nil, err
	}
	return coord, hps, nil
}
