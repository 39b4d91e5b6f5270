package appliance

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/internal/yamlfile"
	"github.com/rampart-signer/rampart/tss"
)

// Config is rampart-signer's configuration file. appliance/signer.example.yaml
// documents every field. Load reads it strictly: unknown fields, a second
// document or a wrong type are refused, and Validate names the first wrong
// field by its YAML path.
type Config struct {
	Node          NodeConfig        `yaml:"node"`
	Network       NetworkConfig     `yaml:"network"`
	DataDir       string            `yaml:"data_dir"`
	HSM           HSMConfig         `yaml:"hsm"`
	TLS           TLSConfig         `yaml:"tls"`
	Listen        ListenConfig      `yaml:"listen"`
	Cluster       ClusterConfig     `yaml:"cluster"`
	Accounts      AccountsConfig    `yaml:"accounts"`
	Authorization []Rule            `yaml:"authorization"`
	Slashing      SlashingConfig    `yaml:"slashing"`
	Audit         AuditConfig       `yaml:"audit"`
	Storage       StorageConfig     `yaml:"storage"`
	Log           LogConfig         `yaml:"log"`
	Keymanager    *KeymanagerConfig `yaml:"keymanager,omitempty"`
	Admin         AdminConfig       `yaml:"admin"`
	Process       ProcessConfig     `yaml:"process"`
}

// ProcessConfig controls process hardening.
type ProcessConfig struct {
	// Hardening is "required" (refuse to start unless memory is locked and
	// core dumps and ptrace are off), "best-effort" (warn and go on) or
	// "off" (for tests that run the signer inside another process).
	Hardening string `yaml:"hardening"`
}

// NodeConfig names this signer.
type NodeConfig struct {
	// ID is this signer's participant id in the cluster.
	ID uint64 `yaml:"id"`
}

// NetworkConfig selects the network: a built-in name, or a consensus
// config.yaml with its genesis validators root. It is the network section
// of cluster files too.
type NetworkConfig = clusterfile.Network

// HSMConfig names the sealing key.
type HSMConfig struct {
	// SealingKey is the pkcs11: URI of the AES key that seals shares, with
	// module-path and pin-source.
	SealingKey string `yaml:"sealing_key"`
	// CallTimeout bounds every HSM call.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// TLSConfig is this node's mutual-TLS identity.
type TLSConfig struct {
	// Key is the pkcs11: URI of the node's ECDSA key.
	Key string `yaml:"key"`
	// Certificate is the node's certificate chain (PEM).
	Certificate string `yaml:"certificate"`
	// CA is the cluster CA certificate (PEM): the only trust root for
	// clients and peers.
	CA string `yaml:"ca"`
}

// ListenConfig lists the listeners. Empty disables one.
type ListenConfig struct {
	// Participant serves the distributed signing profile (mTLS).
	Participant string `yaml:"participant"`
	// Coordinator serves the standard Remote Signing API (mTLS).
	Coordinator string `yaml:"coordinator"`
	// CoordinatorInsecureLoopback serves the Remote Signing API without TLS
	// for a validator client on this host; it must be a loopback address.
	CoordinatorInsecureLoopback string `yaml:"coordinator_insecure_loopback"`
	// InsecureLoopbackClient is the client name authorisation rules see for
	// requests on that listener.
	InsecureLoopbackClient string `yaml:"insecure_loopback_client"`
	// Operations serves /metrics, /upcheck and /healthcheck: plain HTTP on
	// loopback, mutual TLS elsewhere.
	Operations string `yaml:"operations"`
}

// ClusterConfig describes the cluster this signer belongs to.
type ClusterConfig struct {
	// ID names the cluster; sealed shares are bound to its SHA-256.
	ID string `yaml:"id"`
	// Participants are every signer of the cluster, this one included.
	Participants []ParticipantConfig `yaml:"participants"`
	// Timeout bounds each call to a participant.
	Timeout time.Duration `yaml:"timeout"`
	// TimeoutPerItem extends Timeout for each key of a batch call.
	TimeoutPerItem time.Duration `yaml:"timeout_per_item"`
	// HedgeDelay: 0 (the default) asks every participant at once, so every
	// participant records every message it signs; a positive delay asks
	// the first threshold participants and the rest only if they have not
	// all answered by then, saving CPU across the cluster at the price of
	// participants whose slashing records lag (still safe: t > n/2).
	HedgeDelay time.Duration `yaml:"hedge_delay"`
}

// ParticipantConfig is one signer of the cluster.
type ParticipantConfig struct {
	ID       uint64 `yaml:"id"`
	Endpoint string `yaml:"endpoint"`
	TLSName  string `yaml:"tls_name"`
}

// AccountsConfig says where sealed shares are.
type AccountsConfig struct {
	// SharesDir holds one sealed share file (*.share) per account.
	SharesDir string `yaml:"shares_dir"`
}

// SlashingConfig tunes slashing protection.
type SlashingConfig struct {
	// Database is the bbolt file; default <data_dir>/slashing-protection.db.
	Database string `yaml:"database"`
	// HistoryEpochs is how much signed history is kept with roots before
	// being folded into the low watermarks.
	HistoryEpochs uint64 `yaml:"history_epochs"`
}

// LogConfig sets logging.
type LogConfig = cli.LogConfig

// KeymanagerConfig enables the keymanager API (/eth/v1/keystores) on the
// coordinator listener.
type KeymanagerConfig struct {
	// TokenFile holds the bearer token (at least 256 bits, hex).
	TokenFile string `yaml:"token_file"`
	// Threshold is the t of keys imported through it; default: a strict
	// majority of the cluster.
	Threshold int `yaml:"threshold"`
}

// AdminConfig names the clients allowed to manage accounts on the
// participant listener: import shares, activate and remove accounts, and
// start key-generation ceremonies.
type AdminConfig struct {
	// Clients are TLS client names (rampartctl's identity).
	Clients []string `yaml:"clients"`
}

// Rule grants one client name some accounts and request types.
type Rule struct {
	Client   string   `yaml:"client"`
	Accounts Selector `yaml:"accounts"`
	Types    Selector `yaml:"types"`
}

// Selector is "all" or a list.
type Selector = yamlfile.Selector

// Defaults returns the configuration defaults, applied by Load to fields
// the file leaves empty.
func Defaults() Config {
	return Config{
		DataDir: "/var/lib/rampart-signer",
		HSM:     HSMConfig{CallTimeout: 10 * time.Second},
		Listen: ListenConfig{
			Participant:            ":9100",
			Coordinator:            ":9000",
			Operations:             "127.0.0.1:9200",
			InsecureLoopbackClient: "local-validator-client",
		},
		Cluster:  ClusterConfig{Timeout: 2 * time.Second, TimeoutPerItem: time.Millisecond},
		Slashing: SlashingConfig{HistoryEpochs: 16},
		Audit:    auditDefaults(),
		Storage:  storageDefaults(),
		Process:  ProcessConfig{Hardening: "required"},
		Log:      LogConfig{Level: "info", Format: "text"},
	}
}

// MaxConfigSize bounds the configuration file.
const MaxConfigSize = 1 << 20

// Load reads, defaults and validates a configuration file.
func Load(path string) (*Config, error) {
	return yamlfile.Load(path, MaxConfigSize, "config", Parse)
}

// Parse decodes, defaults and validates configuration bytes.
func Parse(data []byte) (*Config, error) {
	cfg := Defaults()
	if err := yamlfile.Decode(data, &cfg); err != nil {
		return nil, err
	}
	cfg.fillDerived()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) fillDerived() {
	if c.Accounts.SharesDir == "" && c.DataDir != "" {
		c.Accounts.SharesDir = filepath.Join(c.DataDir, "shares")
	}
	if c.Slashing.Database == "" && c.DataDir != "" {
		c.Slashing.Database = filepath.Join(c.DataDir, "slashing-protection.db")
	}
	c.fillAuditDerived()
}

func fieldErr(path, format string, a ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
}

// Validate checks every field and returns the first problem, named by its
// YAML path.
func (c *Config) Validate() error {
	if c.Node.ID == 0 {
		return fieldErr("node.id", "must be this signer's non-zero participant id")
	}
	if err := c.Network.Validate(); err != nil {
		return err
	}
	for path, p := range map[string]string{"data_dir": c.DataDir, "accounts.shares_dir": c.Accounts.SharesDir, "slashing.database": c.Slashing.Database, "tls.certificate": c.TLS.Certificate, "tls.ca": c.TLS.CA} {
		if p == "" {
			return fieldErr(path, "required")
		}
		if !filepath.IsAbs(p) {
			return fieldErr(path, "%q must be an absolute path", p)
		}
	}
	if c.Network.Config != "" && !filepath.IsAbs(c.Network.Config) {
		return fieldErr("network.config", "%q must be an absolute path", c.Network.Config)
	}
	if _, err := hsm.ParseURI(c.HSM.SealingKey); err != nil {
		return fieldErr("hsm.sealing_key", "%v", err)
	}
	if c.HSM.CallTimeout <= 0 {
		return fieldErr("hsm.call_timeout", "must be positive")
	}
	if _, err := hsm.ParseURI(c.TLS.Key); err != nil {
		return fieldErr("tls.key", "%v", err)
	}
	if err := c.validateListeners(); err != nil {
		return err
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if err := c.validateRules(); err != nil {
		return err
	}
	if c.Slashing.HistoryEpochs == 0 {
		return fieldErr("slashing.history_epochs", "must be at least 1")
	}
	if err := c.validateAudit(); err != nil {
		return err
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	switch c.Process.Hardening {
	case "required", "best-effort", "off":
	default:
		return fieldErr("process.hardening", "%q is not required, best-effort or off", c.Process.Hardening)
	}
	if k := c.Keymanager; k != nil {
		if !filepath.IsAbs(k.TokenFile) {
			return fieldErr("keymanager.token_file", "%q must be an absolute path", k.TokenFile)
		}
		if k.Threshold != 0 {
			if err := tss.CheckThreshold(k.Threshold, len(c.Cluster.Participants)); err != nil {
				return fieldErr("keymanager.threshold", "%v", err)
			}
		}
	}
	for i, name := range c.Admin.Clients {
		if name == "" {
			return fieldErr(fmt.Sprintf("admin.clients[%d]", i), "empty client name")
		}
	}
	return nil
}

func (c *Config) validateListeners() error {
	l := c.Listen
	addrs := map[string]string{}
	for path, a := range map[string]string{
		"listen.participant":                   l.Participant,
		"listen.coordinator":                   l.Coordinator,
		"listen.coordinator_insecure_loopback": l.CoordinatorInsecureLoopback,
		"listen.operations":                    l.Operations,
	} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fieldErr(path, "%q is not host:port: %v", a, err)
		}
		if other, dup := addrs[a]; dup {
			return fieldErr(path, "%q is also %s", a, other)
		}
		addrs[a] = path
	}
	if l.Participant == "" {
		return fieldErr("listen.participant", "required: the cluster's coordinators reach this signer there")
	}
	if a := l.CoordinatorInsecureLoopback; a != "" {
		host, _, _ := net.SplitHostPort(a)
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsLoopback() {
			return fieldErr("listen.coordinator_insecure_loopback", "%q: a listener without TLS must be on a loopback address (127.0.0.1 or ::1)", a)
		}
		if l.InsecureLoopbackClient == "" {
			return fieldErr("listen.insecure_loopback_client", "required with coordinator_insecure_loopback")
		}
	}
	return nil
}

func (c *Config) validateCluster() error {
	cl := c.Cluster
	if strings.TrimSpace(cl.ID) == "" {
		return fieldErr("cluster.id", "required: sealed shares are bound to it")
	}
	if len(cl.Participants) == 0 {
		return fieldErr("cluster.participants", "required: list every signer, this one included")
	}
	ids := make([]tss.ID, 0, len(cl.Participants))
	endpoints := map[string]int{}
	names := map[string]int{}
	self := false
	for i, p := range cl.Participants {
		path := fmt.Sprintf("cluster.participants[%d]", i)
		if p.ID == 0 {
			return fieldErr(path+".id", "must be non-zero")
		}
		if p.ID == c.Node.ID {
			self = true
		}
		ids = append(ids, tss.ID(p.ID))
		u, err := url.Parse(p.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fieldErr(path+".endpoint", "%q is not an https:// origin (scheme, host and port only)", p.Endpoint)
		}
		if j, dup := endpoints[p.Endpoint]; dup {
			return fieldErr(path+".endpoint", "same as cluster.participants[%d]", j)
		}
		endpoints[p.Endpoint] = i
		if _, err := hsm.ParseIdentityName(p.TLSName); err != nil {
			return fieldErr(path+".tls_name", "%v", err)
		}
		if j, dup := names[p.TLSName]; dup {
			return fieldErr(path+".tls_name", "same as cluster.participants[%d]", j)
		}
		names[p.TLSName] = i
	}
	if err := tss.CheckIDs(ids); err != nil {
		return fieldErr("cluster.participants", "%v", err)
	}
	if !self {
		return fieldErr("cluster.participants", "node.id %d is not among them", c.Node.ID)
	}
	if cl.Timeout <= 0 {
		return fieldErr("cluster.timeout", "must be positive")
	}
	if cl.TimeoutPerItem < 0 {
		return fieldErr("cluster.timeout_per_item", "must not be negative")
	}
	if cl.HedgeDelay < 0 {
		return fieldErr("cluster.hedge_delay", "must not be negative")
	}
	return nil
}

func (c *Config) validateRules() error {
	known := signing.Types()
	clients := map[string]int{}
	for i, r := range c.Authorization {
		path := fmt.Sprintf("authorization[%d]", i)
		if r.Client == "" {
			return fieldErr(path+".client", "required: the client's TLS name")
		}
		if j, dup := clients[r.Client]; dup {
			return fieldErr(path+".client", "%q already has a rule at authorization[%d]; merge them", r.Client, j)
		}
		clients[r.Client] = i
		if !r.Accounts.All && len(r.Accounts.List) == 0 {
			return fieldErr(path+".accounts", "\"all\" or a non-empty list of public keys")
		}
		for k, a := range r.Accounts.List {
			if _, err := api.ParsePublicKey(a); err != nil {
				return fieldErr(fmt.Sprintf("%s.accounts[%d]", path, k), "%q: %v", a, err)
			}
		}
		if !r.Types.All && len(r.Types.List) == 0 {
			return fieldErr(path+".types", "\"all\" or a non-empty list of request types")
		}
		for k, t := range r.Types.List {
			if !slices.Contains(known, signing.Type(t)) {
				return fieldErr(fmt.Sprintf("%s.types[%d]", path, k), "unknown request type %q", t)
			}
		}
	}
	return nil
}

// ClusterID is the 32-byte id sealed shares are bound to.
func (c *Config) ClusterID() hsm.ClusterID {
	return ClusterIDOf(c.Cluster.ID)
}

// ClusterIDOf hashes a cluster name into the id shares are sealed with.
func ClusterIDOf(name string) hsm.ClusterID {
	return hsm.ClusterID(sha256.Sum256([]byte("rampart cluster id v1\x00" + name)))
}

// LoadNetwork resolves the configured network.
func (c *Config) LoadNetwork(ctx context.Context) (*network.Network, error) {
	n, err := network.Selection{Name: c.Network.Name, ConfigPath: c.Network.Config, GenesisValidatorsRoot: c.Network.GenesisValidatorsRoot}.Load(ctx, network.Names{
		Name: "network.name", ConfigPath: "network.config", GenesisValidatorsRoot: "network.genesis_validators_root",
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return n, nil
}

// Self returns this node's participant entry.
func (c *Config) Self() ParticipantConfig {
	for _, p := range c.Cluster.Participants {
		if p.ID == c.Node.ID {
			return p
		}
	}
	return ParticipantConfig{}
}
