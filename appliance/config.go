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
	// ProbeInterval is how often the running signer checks that its HSM
	// sessions are alive (hsm.Token.Probe, under call_timeout); a lost
	// session takes readiness away and is logged in again, with backoff,
	// once the token is back.
	ProbeInterval time.Duration `yaml:"probe_interval"`
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
	// Limits bound connections, requests and their timing on every
	// listener (limits.go).
	Limits LimitsConfig `yaml:"limits"`
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
	// ProbeInterval is how often this signer asks every other signer's
	// /healthcheck (under cluster.timeout) to report the cluster's quorum
	// (the quorum check and rampart_cluster_* metrics).
	ProbeInterval time.Duration `yaml:"probe_interval"`
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
	// DestroyAfter is the grace period of a removed account: removal stops
	// its signing at once, but its sealed share is destroyed only this long
	// after, and can be restored until then.
	DestroyAfter time.Duration `yaml:"destroy_after"`
	// AllowWeakerRedistribution lets this signer take part in a
	// redistribution to a weaker configuration: a lower threshold, a lower
	// safety tolerance (2t-n-1), or no liveness tolerance where there was
	// one. Off: one administrator's credential cannot weaken the accounts;
	// the operator of every signer must opt in.
	AllowWeakerRedistribution bool `yaml:"allow_weaker_redistribution"`
	// Version1Members are the participants holding the accounts whose
	// sealed shares name no members (version 1, sealed before shares
	// named their configuration); default: every cluster participant. Set
	// it to the participants of the time before adding new ones to
	// cluster.participants.
	Version1Members []uint64 `yaml:"version1_members"`
}

// Bounds of accounts.destroy_after: long enough to notice a removal made
// by mistake or by a stolen credential, short enough that removed shares
// do not pile up.
const (
	MinDestroyAfter = time.Hour
	MaxDestroyAfter = 30 * 24 * time.Hour
)

// SlashingConfig tunes slashing protection.
type SlashingConfig struct {
	// Database is the bbolt file; default <data_dir>/slashing-protection.db.
	Database string `yaml:"database"`
	// HistoryEpochs is how much signed history is kept with roots before
	// being folded into the low watermarks.
	HistoryEpochs uint64 `yaml:"history_epochs"`
	// FutureEpochs is how many epochs beyond the network's current epoch
	// (by this signer's clock) a block, an attestation's target or an
	// aggregate may be, and an imported EIP-3076 record: an allowance for
	// clock skew, 1 to 1024.
	FutureEpochs uint64 `yaml:"future_epochs"`
}

// LogConfig sets logging.
type LogConfig = cli.LogConfig

// KeymanagerConfig enables the keymanager API (/eth/v1/keystores) on the
// coordinator listener, for administrators with the administrative token
// (admin.token).
type KeymanagerConfig struct {
	// TokenFile is no longer read: the keymanager API takes the
	// administrative token (admin.token). A configuration that still sets
	// it is refused with a message saying so.
	TokenFile string `yaml:"token_file,omitempty"`
	// Threshold is the t of keys imported through it; default: a strict
	// majority of the cluster.
	Threshold int `yaml:"threshold"`
}

// AdminConfig names the administrators: the clients allowed to manage
// accounts on the participant listener (import shares, activate, remove
// and restore accounts, run key-generation ceremonies) and the keymanager
// API. Every administrative request carries both an administrator's mTLS
// identity (or a cluster peer's, relaying an administrator's request) and
// the administrative bearer token. Being an administrator grants no
// signing type.
type AdminConfig struct {
	// Clients are TLS client names (rampartctl's identity). Cluster peers
	// (cluster.participants[*].tls_name) are refused here unless
	// AllowPeerAdministrators is set.
	Clients []string `yaml:"clients"`
	// Token is where the administrative bearer token is read, as a PIN's
	// pin-source: file:/absolute/path (owner-only) or credential:NAME (a
	// systemd credential). The file holds the token (hex, at least 256
	// bits) or, better, only its verifier sha256:<hex> (rampartctl admin
	// token). Required when Clients is not empty.
	Token string `yaml:"token"`
	// AllowPeerAdministrators lets a name be both a cluster peer and an
	// administrator. It weakens the threat model: one compromised signer
	// holding the token can then manage accounts at every other signer.
	AllowPeerAdministrators bool `yaml:"allow_peer_administrators"`
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
		HSM:     HSMConfig{CallTimeout: 10 * time.Second, ProbeInterval: 10 * time.Second},
		Listen: ListenConfig{
			Participant:            ":9100",
			Coordinator:            ":9000",
			Operations:             "127.0.0.1:9200",
			InsecureLoopbackClient: "local-validator-client",
			Limits:                 DefaultLimits(),
		},
		Cluster:  ClusterConfig{Timeout: 2 * time.Second, TimeoutPerItem: time.Millisecond, ProbeInterval: 10 * time.Second},
		Accounts: AccountsConfig{DestroyAfter: 24 * time.Hour},
		Slashing: SlashingConfig{HistoryEpochs: 16, FutureEpochs: 1},
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
	if c.HSM.ProbeInterval <= 0 {
		return fieldErr("hsm.probe_interval", "must be positive")
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
	if d := c.Accounts.DestroyAfter; d < MinDestroyAfter || d > MaxDestroyAfter {
		return fieldErr("accounts.destroy_after", "%s is not between %s and %s: removed shares are kept this long so that a removal can be undone", d, MinDestroyAfter, time.Duration(MaxDestroyAfter))
	}
	// accounts.version1_members is checked against the shares that name
	// no members, when there are any (a signer holding none, or added
	// later, may carry a list that does not name it).
	seen := map[uint64]bool{}
	for i, id := range c.Accounts.Version1Members {
		if seen[id] || id == 0 {
			return fieldErr(fmt.Sprintf("accounts.version1_members[%d]", i), "%d is zero or listed twice", id)
		}
		seen[id] = true
	}
	if c.Slashing.HistoryEpochs == 0 {
		return fieldErr("slashing.history_epochs", "must be at least 1")
	}
	if f := c.Slashing.FutureEpochs; f == 0 || f > maxFutureEpochs {
		return fieldErr("slashing.future_epochs", "%d is not between 1 and %d: it is the allowance, in epochs, for a clock running ahead of this signer's (0 would refuse honest duties at every epoch boundary; more lets a far-future message stop a validator for longer)", f, maxFutureEpochs)
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
	if err := c.validateAdmin(); err != nil {
		return err
	}
	if k := c.Keymanager; k != nil {
		if k.TokenFile != "" {
			return fieldErr("keymanager.token_file", "no longer read: the keymanager API takes the administrative token; move the token's source to admin.token (file:%s, owner-only) and remove keymanager.token_file", k.TokenFile)
		}
		if len(c.Admin.Clients) == 0 {
			return fieldErr("keymanager", "needs admin.clients and admin.token: only administrators with the administrative token may use it")
		}
		if k.Threshold != 0 {
			if err := tss.CheckThreshold(k.Threshold, len(c.Cluster.Participants)); err != nil {
				return fieldErr("keymanager.threshold", "%v", err)
			}
		}
	}
	return nil
}

// validateAdmin keeps the administrators apart from the peer signers and
// requires the administrative token with them.
func (c *Config) validateAdmin() error {
	peers := c.peerNames()
	seen := map[string]int{}
	for i, name := range c.Admin.Clients {
		path := fmt.Sprintf("admin.clients[%d]", i)
		if name == "" {
			return fieldErr(path, "empty client name")
		}
		if j, dup := seen[name]; dup {
			return fieldErr(path, "%q is also admin.clients[%d]", name, j)
		}
		seen[name] = i
		if p, ok := peers[name]; ok && !c.Admin.AllowPeerAdministrators {
			return fieldErr(path, "%q is cluster.participants[%d].tls_name: a signer is not an administrator, or one compromised signer could manage accounts at every other; give the operator an identity of its own (rampartctl tls csr, then tls sign on the CA host), or set admin.allow_peer_administrators: true to accept that risk", name, p)
		}
	}
	if len(c.Admin.Clients) == 0 {
		if c.Admin.Token != "" {
			return fieldErr("admin.token", "set without admin.clients: no administrator could use it")
		}
		return nil
	}
	if c.Admin.Token == "" {
		return fieldErr("admin.token", "required with admin.clients: every administrative request carries the administrative token (rampartctl admin token --out FILE prints the verifier to put in an owner-only file named here as file:/path, or in a systemd credential named as credential:NAME)")
	}
	if _, err := hsm.ParseSecretSource(c.Admin.Token); err != nil {
		return fieldErr("admin.token", "%v", err)
	}
	return nil
}

// peerNames maps every cluster participant's tls_name to its index.
func (c *Config) peerNames() map[string]int {
	out := make(map[string]int, len(c.Cluster.Participants))
	for i, p := range c.Cluster.Participants {
		out[p.TLSName] = i
	}
	return out
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
	if err := l.Limits.validate(); err != nil {
		return err
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

// participantIDs lists cluster.participants' ids, ascending.
func (c *Config) participantIDs() []uint64 {
	out := make([]uint64, len(c.Cluster.Participants))
	for i, p := range c.Cluster.Participants {
		out[i] = p.ID
	}
	slices.Sort(out)
	return out
}

// version1Members are the members of an account whose share names none:
// accounts.version1_members, or every participant, ascending.
func (c *Config) version1Members() []uint64 {
	if len(c.Accounts.Version1Members) == 0 {
		return c.participantIDs()
	}
	out := slices.Clone(c.Accounts.Version1Members)
	slices.Sort(out)
	return out
}

func (c *Config) validateCluster() error {
	cl := c.Cluster
	if strings.TrimSpace(cl.ID) == "" {
		return fieldErr("cluster.id", "required: sealed shares are bound to it")
	}
	if len(cl.Participants) == 0 {
		return fieldErr("cluster.participants", "required: list every signer, this one included")
	}
	if len(cl.Participants) > hsm.MaxMembers {
		return fieldErr("cluster.participants", "%d listed, at most %d (a sealed share names at most %d members)", len(cl.Participants), hsm.MaxMembers, hsm.MaxMembers)
	}
	ids := make([]tss.ID, 0, len(cl.Participants))
	endpoints := map[string]int{}
	names := map[string]int{}
	self := false
	for i, p := range cl.Participants {
		path := fmt.Sprintf("cluster.participants[%d]", i)
		if p.ID == 0 || p.ID > 65535 {
			return fieldErr(path+".id", "%d is not between 1 and 65535 (a sealed share stores it in two bytes)", p.ID)
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
	if cl.ProbeInterval <= 0 {
		return fieldErr("cluster.probe_interval", "must be positive")
	}
	return nil
}

// validateRules checks the authorisation rules. A rule for a cluster peer
// may grant validator-duty types only: a signer coordinates duties for
// validator clients, and a peer granted DEPOSIT, VOLUNTARY_EXIT or GENERIC
// would let one compromised signer obtain exits or deposits (with its own
// withdrawal credentials) from every other.
func (c *Config) validateRules() error {
	known := signing.Types()
	peers := c.peerNames()
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
		_, peer := peers[r.Client]
		if peer && r.Types.All {
			return fieldErr(path+".types", "%q is a cluster peer: list its validator-duty types (%s) instead of \"all\"; %s", r.Client, dutyList(), peerGrantWhy)
		}
		for k, t := range r.Types.List {
			if !slices.Contains(known, signing.Type(t)) {
				return fieldErr(fmt.Sprintf("%s.types[%d]", path, k), "unknown request type %q", t)
			}
			if peer && !signing.Type(t).Duty() {
				return fieldErr(fmt.Sprintf("%s.types[%d]", path, k), "%s refused for cluster peer %q: %s", t, r.Client, peerGrantWhy)
			}
		}
	}
	return nil
}

// peerGrantWhy says why peers get duty types only, and what to do instead.
const peerGrantWhy = "a peer granted DEPOSIT, VOLUNTARY_EXIT or GENERIC lets one compromised signer obtain exits or deposits (with its own withdrawal credentials) from every other; sign exits with rampartctl exit, or through a coordinator beside the client that uses the client's own identity at every signer (rampart-vc), and let key-generation ceremonies sign their deposits (no grant needed)"

func dutyList() string {
	var names []string
	for _, t := range signing.DutyTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// ClusterID is the 32-byte id sealed shares are bound to.
func (c *Config) ClusterID() hsm.ClusterID {
	return clusterIDOf(c.Cluster.ID)
}

// clusterIDOf hashes a cluster name into the id shares are sealed with.
func clusterIDOf(name string) hsm.ClusterID {
	return hsm.ClusterID(sha256.Sum256([]byte("rampart cluster id v1\x00" + name)))
}

// LoadNetwork resolves the configured network.
func (c *Config) LoadNetwork(ctx context.Context) (*network.Network, error) {
	n, err := c.Network.Load(ctx)
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
