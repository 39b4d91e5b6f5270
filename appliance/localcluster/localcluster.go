// Package localcluster provisions a complete Rampart cluster on one host
// for development, demos and tests: a SoftHSM token per signer plus one for
// the cluster CA, a sealing key and an HSM-held TLS identity per signer,
// client certificates for validator clients, loopback listeners and a
// configuration file per signer. `rampartctl devnet` and the appliance's
// cluster tests build on it; nothing here is meant for production, where
// each signer's operator provisions their own HSM.
//
// # Security
//
// Token PINs are random and kept in owner-only files beside the tokens;
// client keys for validator clients are written as owner-only PEM files,
// since a validator client holds no HSM. The administrative token is
// random, written owner-only for rampartctl (Dir/admin.token, named by the
// cluster file), and each signer holds only its verifier
// (signer-N/admin-token.verifier). The roles are kept apart as in
// production: the other signers are granted validator-duty types only,
// and only the admin identity administers. Everything lives under
// Spec.Dir.
package localcluster

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/signing"
)

// Object labels used in every token.
const (
	SealingKeyLabel = "rampart-seal"
	TLSKeyLabel     = "rampart-tls"
	CAKeyLabel      = "rampart-ca"
	CATokenLabel    = "rampart-ca"
)

// Spec describes the cluster to provision.
type Spec struct {
	// Dir receives everything; it must exist and be empty.
	Dir string
	// Signers is the number of signers (n).
	Signers int
	// Network is written into every signer's configuration.
	Network appliance.NetworkConfig
	// Host is the loopback address every listener binds; 127.0.0.1 when
	// empty.
	Host string
	// CoordinatorHTTP, when set, opens signer 1's coordinator API without
	// TLS on this loopback address, for a validator client that cannot
	// present a client certificate.
	CoordinatorHTTP string
	// Clients are validator-client names to issue client certificates for;
	// each may use every account and every request type but GENERIC
	// (types: all) at every signer.
	Clients []string
	// UnauthorisedClients get certificates from the cluster CA but no
	// authorisation rule (tests of refusal).
	UnauthorisedClients []string
	// Hardening is every signer's process.hardening.
	Hardening string
	// ClusterID names the cluster; "local" when empty.
	ClusterID string
	// Threshold is written into the cluster file for new accounts.
	Threshold int
	// SeparateHSMs gives every signer a SoftHSM configuration and token
	// directory of its own, as separate processes need: SoftHSM's file
	// store is not safe for several processes opening one token directory
	// at once (seen: CKR_GENERAL_ERROR from C_GetTokenInfo). Signers in one
	// process share one configuration instead, since SoftHSM reads its
	// configuration from the environment once per module instance.
	SeparateHSMs bool
	// HedgeDelay is every signer's cluster.hedge_delay.
	HedgeDelay time.Duration
	// FutureEpochs, when positive, is every signer's
	// slashing.future_epochs (a cluster for load tests signs many target
	// epochs ahead of the clock; the default 1 otherwise).
	FutureEpochs uint64
}

// AdminClient is the operator identity every signer lets manage accounts.
const AdminClient = "admin"

// Signer is one provisioned signer.
type Signer struct {
	ID         uint64
	Name       string
	Dir        string
	ConfigPath string
	// SoftHSMConf is the SOFTHSM2_CONF the signer's process needs.
	SoftHSMConf string
	Config      *appliance.Config
	// Listeners are bound on the chosen ports; close them before starting
	// the signer as a separate process, or pass them to appliance.Options.
	Listeners map[string]net.Listener
}

// Client is a validator client's identity.
type Client struct {
	Name     string
	CertPath string
	KeyPath  string
}

// Cluster is what Provision made.
type Cluster struct {
	Dir     string
	HSM     *softhsm.Env
	CAPath  string
	Signers []*Signer
	Clients []*Client
	// AdminToken is the administrative token (also in AdminTokenPath,
	// owner-only); the signers hold its verifier.
	AdminToken     adminapi.Token
	AdminTokenPath string
	// File describes the cluster for rampartctl and validator clients; it
	// is also written to Dir/cluster.yaml.
	File *adminapi.ClusterFile
}

// Provision creates the cluster described by spec.
func Provision(ctx context.Context, spec Spec) (*Cluster, error) {
	if spec.Signers < 1 || spec.Signers > 64 {
		return nil, fmt.Errorf("localcluster: %d signers; want 1 to 64", spec.Signers)
	}
	if spec.Host == "" {
		spec.Host = "127.0.0.1"
	}
	if spec.ClusterID == "" {
		spec.ClusterID = "local"
	}
	if spec.Hardening == "" {
		spec.Hardening = "best-effort"
	}
	dir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	hsmDir := filepath.Join(dir, "softhsm")
	if err := os.MkdirAll(hsmDir, 0o700); err != nil {
		return nil, err
	}
	labels := []string{CATokenLabel}
	if !spec.SeparateHSMs {
		for i := 1; i <= spec.Signers; i++ {
			labels = append(labels, signerName(i))
		}
	}
	env, err := softhsm.Create(ctx, hsmDir, labels...)
	if err != nil {
		return nil, fmt.Errorf("localcluster: creating SoftHSM tokens: %w", err)
	}
	c.HSM = env
	// SoftHSM reads its configuration from the environment at the first
	// open of each module instance in this process.
	if err := os.Setenv(softhsm.ConfigEnv, env.ConfigPath); err != nil {
		return nil, err
	}

	caCert, caKey, caTok, err := c.makeCA(ctx, env)
	if err != nil {
		return nil, err
	}
	defer caTok.Close()
	if c.AdminToken, err = adminapi.NewToken(rand.Reader); err != nil {
		return nil, err
	}
	c.AdminTokenPath = filepath.Join(dir, "admin.token")
	if err := os.WriteFile(c.AdminTokenPath, []byte(c.AdminToken.Hex()+"\n"), 0o600); err != nil {
		return nil, err
	}

	var listeners []map[string]net.Listener
	for i := 1; i <= spec.Signers; i++ {
		ls, err := bind(spec, i == 1)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		listeners = append(listeners, ls)
	}
	var participants []appliance.ParticipantConfig
	for i := 1; i <= spec.Signers; i++ {
		participants = append(participants, appliance.ParticipantConfig{
			ID:       uint64(i),
			Endpoint: "https://" + listeners[i-1][appliance.ListenerParticipant].Addr().String(),
			TLSName:  signerName(i),
		})
	}
	for i := 1; i <= spec.Signers; i++ {
		s, err := c.makeSigner(ctx, spec, env, i, participants, listeners[i-1], caCert, caKey)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		c.Signers = append(c.Signers, s)
	}
	for _, name := range append(append([]string{AdminClient}, spec.Clients...), spec.UnauthorisedClients...) {
		cl, err := c.makeClient(name, caCert, caKey)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		c.Clients = append(c.Clients, cl)
	}
	c.File = c.describe(spec)
	if err := c.File.Write(filepath.Join(dir, "cluster.yaml")); err != nil {
		closeAll(listeners)
		return nil, err
	}
	return c, nil
}

// describe builds the cluster file.
func (c *Cluster) describe(spec Spec) *adminapi.ClusterFile {
	cf := &adminapi.ClusterFile{Network: spec.Network, ClusterID: spec.ClusterID, Threshold: spec.Threshold, CA: c.CAPath}
	for _, s := range c.Signers {
		cf.Participants = append(cf.Participants, adminapi.ClusterParticipant{
			ID: s.ID, Endpoint: "https://" + s.Config.Listen.Participant, TLSName: s.Name,
			Coordinator: "https://" + s.Config.Listen.Coordinator, Operations: "http://" + s.Config.Listen.Operations,
		})
		if s.Config.Listen.CoordinatorInsecureLoopback != "" {
			cf.CoordinatorHTTP = "http://" + s.Config.Listen.CoordinatorInsecureLoopback
		}
	}
	if a := c.Client(AdminClient); a != nil {
		cf.Admin = &adminapi.Identity{Name: a.Name, Certificate: a.CertPath, Key: a.KeyPath, Token: "file:" + c.AdminTokenPath}
	}
	if len(spec.Clients) > 0 {
		v := c.Client(spec.Clients[0])
		cf.Client = &adminapi.Identity{Name: v.Name, Certificate: v.CertPath, Key: v.KeyPath}
	}
	return cf
}

func signerName(i int) string { return fmt.Sprintf("signer-%d", i) }

func closeAll(ls []map[string]net.Listener) {
	for _, m := range ls {
		for _, l := range m {
			l.Close()
		}
	}
}

// CloseListeners closes every pre-bound listener (before starting the
// signers as processes, which bind the same ports themselves).
func (c *Cluster) CloseListeners() {
	for _, s := range c.Signers {
		for _, l := range s.Listeners {
			l.Close()
		}
		s.Listeners = nil
	}
}

func bind(spec Spec, first bool) (map[string]net.Listener, error) {
	ls := map[string]net.Listener{}
	for _, name := range []string{appliance.ListenerParticipant, appliance.ListenerCoordinator, appliance.ListenerOperations} {
		l, err := listenStable(spec.Host)
		if err != nil {
			closeAll([]map[string]net.Listener{ls})
			return nil, fmt.Errorf("localcluster: binding a port: %w", err)
		}
		ls[name] = l
	}
	if first && spec.CoordinatorHTTP != "" {
		l, err := net.Listen("tcp", spec.CoordinatorHTTP)
		if err != nil {
			closeAll([]map[string]net.Listener{ls})
			return nil, fmt.Errorf("localcluster: --coordinator-http %s: %w", spec.CoordinatorHTTP, err)
		}
		ls[appliance.ListenerInsecureLoopback] = l
	}
	return ls, nil
}

func (c *Cluster) makeCA(ctx context.Context, env *softhsm.Env) (*x509.Certificate, crypto.Signer, *hsm.Token, error) {
	uri := env.Token(CATokenLabel).ObjectURI(CAKeyLabel)
	t, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("localcluster: CA token: %w", err)
	}
	key, err := t.GenerateTLSKey(ctx, uri.ObjectRef())
	if err != nil {
		t.Close()
		return nil, nil, nil, fmt.Errorf("localcluster: CA key: %w", err)
	}
	cert, err := hsm.NewCACertificate(rand.Reader, key, "Rampart local cluster CA", time.Now(), hsm.DefaultCAValidity)
	if err != nil {
		t.Close()
		return nil, nil, nil, err
	}
	c.CAPath = filepath.Join(c.Dir, "ca.pem")
	if err := os.WriteFile(c.CAPath, hsm.EncodeCertificatesPEM(cert), 0o644); err != nil {
		t.Close()
		return nil, nil, nil, err
	}
	return cert, key, t, nil
}

func (c *Cluster) makeSigner(ctx context.Context, spec Spec, env *softhsm.Env, i int, participants []appliance.ParticipantConfig, ls map[string]net.Listener, caCert *x509.Certificate, caKey crypto.Signer) (*Signer, error) {
	name := signerName(i)
	dir := filepath.Join(c.Dir, name)
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "data", "shares")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if spec.SeparateHSMs {
		own, err := softhsm.Create(ctx, mkdir(filepath.Join(dir, "softhsm")), name)
		if err != nil {
			return nil, fmt.Errorf("localcluster: %s token: %w", name, err)
		}
		env = own
		if err := os.Setenv(softhsm.ConfigEnv, env.ConfigPath); err != nil {
			return nil, err
		}
	}
	tok := env.Token(name)
	sealURI := tok.ObjectURI(SealingKeyLabel)
	tlsURI := tok.ObjectURI(TLSKeyLabel)
	certPath := filepath.Join(dir, "tls.pem")
	if err := makeKeys(ctx, tok, name, caCert, caKey, certPath); err != nil {
		return nil, err
	}

	// The other signers coordinate validator duties for validator
	// clients: duty types only, never DEPOSIT, VOLUNTARY_EXIT or GENERIC
	// (a key-generation ceremony's deposits need no grant).
	var duties []string
	for _, t := range signing.DutyTypes() {
		duties = append(duties, string(t))
	}
	var rules []appliance.Rule
	for _, p := range participants {
		if p.ID != uint64(i) {
			rules = append(rules, appliance.Rule{Client: p.TLSName, Accounts: appliance.Selector{All: true}, Types: appliance.Selector{List: duties}})
		}
	}
	for _, cl := range spec.Clients {
		rules = append(rules, appliance.Rule{Client: cl, Accounts: appliance.Selector{All: true}, Types: appliance.Selector{All: true}})
	}
	cfg := appliance.Defaults()
	cfg.Node.ID = uint64(i)
	cfg.Network = spec.Network
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.HSM.SealingKey = sealURI.Encode()
	cfg.TLS = appliance.TLSConfig{Key: tlsURI.Encode(), Certificate: certPath, CA: c.CAPath}
	cfg.Listen = appliance.ListenConfig{
		Participant:            ls[appliance.ListenerParticipant].Addr().String(),
		Coordinator:            ls[appliance.ListenerCoordinator].Addr().String(),
		Operations:             ls[appliance.ListenerOperations].Addr().String(),
		InsecureLoopbackClient: cfg.Listen.InsecureLoopbackClient,
		Limits:                 cfg.Listen.Limits,
	}
	if l, ok := ls[appliance.ListenerInsecureLoopback]; ok {
		cfg.Listen.CoordinatorInsecureLoopback = l.Addr().String()
		rules = append(rules, appliance.Rule{Client: cfg.Listen.InsecureLoopbackClient, Accounts: appliance.Selector{All: true}, Types: appliance.Selector{All: true}})
	}
	cfg.Cluster.ID = spec.ClusterID
	cfg.Cluster.Participants = participants
	cfg.Cluster.HedgeDelay = spec.HedgeDelay
	if spec.FutureEpochs > 0 {
		cfg.Slashing.FutureEpochs = spec.FutureEpochs
	}
	cfg.Authorization = rules
	// The operator alone administers, with the administrative token whose
	// verifier each signer holds; the other signers relay its requests.
	verifier := filepath.Join(dir, "admin-token.verifier")
	if err := os.WriteFile(verifier, []byte(c.AdminToken.Verifier()+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg.Admin.Clients = []string{AdminClient}
	cfg.Admin.Token = "file:" + verifier
	cfg.Process.Hardening = spec.Hardening
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	header := fmt.Sprintf("# rampart-signer configuration for %s of a local development cluster,\n# written by localcluster.Provision. See appliance/signer.example.yaml for every field.\n", name)
	path := filepath.Join(dir, "signer.yaml")
	if err := os.WriteFile(path, append([]byte(header), data...), 0o600); err != nil {
		return nil, err
	}
	loaded, err := appliance.Load(path)
	if err != nil {
		return nil, fmt.Errorf("localcluster: generated configuration does not load: %w", err)
	}
	return &Signer{ID: uint64(i), Name: name, Dir: dir, ConfigPath: path, Config: loaded, Listeners: ls, SoftHSMConf: env.ConfigPath}, nil
}

// makeKeys creates a signer's keys in its token, a sealing key and a TLS
// key, and writes the TLS key's certificate of the cluster CA to certPath.
func makeKeys(ctx context.Context, tok *softhsm.Token, name string, caCert *x509.Certificate, caKey crypto.Signer, certPath string) error {
	sealURI := tok.ObjectURI(SealingKeyLabel)
	t, err := hsm.Open(ctx, sealURI, hsm.DefaultOptions())
	if err != nil {
		return fmt.Errorf("localcluster: %s token: %w", name, err)
	}
	defer t.Close()
	if _, err := t.CreateSealingKey(ctx, sealURI.ObjectRef()); err != nil {
		return fmt.Errorf("localcluster: %s sealing key: %w", name, err)
	}
	key, err := t.GenerateTLSKey(ctx, tok.ObjectURI(TLSKeyLabel).ObjectRef())
	if err != nil {
		return fmt.Errorf("localcluster: %s TLS key: %w", name, err)
	}
	cert, err := hsm.IssueIdentityCertificate(rand.Reader, caCert, caKey, key.Public(), name, time.Now(), hsm.DefaultIdentityValidity)
	if err != nil {
		return err
	}
	return os.WriteFile(certPath, hsm.EncodeCertificatesPEM(cert), 0o644)
}

// makeClient issues a validator client's certificate; its key is a file,
// since validator clients hold no HSM.
func (c *Cluster) makeClient(name string, caCert *x509.Certificate, caKey crypto.Signer) (*Client, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := hsm.IssueIdentityCertificate(rand.Reader, caCert, caKey, key.Public(), name, time.Now(), hsm.DefaultIdentityValidity)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Dir, "clients")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cl := &Client{Name: name, CertPath: filepath.Join(dir, name+".pem"), KeyPath: filepath.Join(dir, name+".key")}
	if err := os.WriteFile(cl.CertPath, hsm.EncodeCertificatesPEM(cert), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cl.KeyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return cl, nil
}

func mkdir(d string) string {
	_ = os.MkdirAll(d, 0o700)
	return d
}

// Client returns the client named name, or nil.
func (c *Cluster) Client(name string) *Client {
	for _, cl := range c.Clients {
		if cl.Name == name {
			return cl
		}
	}
	return nil
}

// Configs returns every signer's configuration, for Deal.
func (c *Cluster) Configs() []*appliance.Config {
	out := make([]*appliance.Config, len(c.Signers))
	for i, s := range c.Signers {
		out[i] = s.Config
	}
	return out
}
