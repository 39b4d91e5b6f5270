package vc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/yamlfile"
)

// Config is rampart-vc's configuration file; vc.example.yaml beside this
// file documents every field. [Load] and [Parse] read it strictly (unknown
// fields, a second document or a wrong type are refused) over
// [DefaultConfig], and [Config.Validate] names the first wrong field by its
// YAML path.
type Config struct {
	// Cluster says how to reach the signers.
	Cluster ClusterConfig `yaml:"cluster"`
	// BeaconNodes are the beacon nodes, most preferred first.
	BeaconNodes []BeaconNodeConfig `yaml:"beacon_nodes"`
	// Beacon tunes the beacon node client.
	Beacon BeaconConfig `yaml:"beacon"`
	// Accounts selects the cluster accounts this client performs duties
	// for: all of them, or a list of composite public keys.
	Accounts AccountSelector `yaml:"accounts"`
	// FeeRecipient is the execution address that receives priority fees
	// and MEV of the blocks the validators propose.
	FeeRecipient string `yaml:"fee_recipient"`
	// Graffiti is written into proposed blocks (at most 32 bytes of UTF-8).
	Graffiti string `yaml:"graffiti"`
	// Builder enables external block builders (MEV-boost through the
	// beacon node).
	Builder BuilderConfig `yaml:"builder"`
	// Doppelganger configures the start-up check that no one else signs
	// for the validators.
	Doppelganger DoppelgangerConfig `yaml:"doppelganger"`
	// Redundancy is for several rampart-vc instances serving one cluster.
	Redundancy RedundancyConfig `yaml:"redundancy"`
	// Listen lists this process's listeners.
	Listen ListenConfig `yaml:"listen"`
	// Keymanager serves per-validator proposer settings.
	Keymanager KeymanagerConfig `yaml:"keymanager"`
	// Log sets logging.
	Log LogConfig `yaml:"log"`
}

// KeymanagerConfig is the keymanager API's proposer settings: a fee
// recipient, gas limit and graffiti per validator over the configuration's
// (GET, POST, DELETE /eth/v1/validator/{pubkey}/feerecipient, /gas_limit,
// /graffiti).
type KeymanagerConfig struct {
	// Listen is the API's address: plain HTTP, loopback only, every
	// request with the bearer token of TokenFile. Empty disables the API.
	Listen string `yaml:"listen"`
	// TokenFile holds the API's bearer token (an owner-only file);
	// required with Listen.
	TokenFile string `yaml:"token_file"`
	// SettingsFile keeps the per-validator settings across restarts,
	// written atomically on every change; read at start if it exists.
	SettingsFile string `yaml:"settings_file"`
}

// ClusterConfig names the cluster file and this client's identity; the
// same section as rampart-gateway's.
type ClusterConfig = clusterfile.ClientConfig

// BeaconNodeConfig is one beacon node.
type BeaconNodeConfig struct {
	// Name identifies the node in logs and metrics (the URL may hold
	// credentials and never appears there).
	Name string `yaml:"name"`
	// URL is the node's REST API base URL.
	URL string `yaml:"url"`
}

// BeaconConfig tunes the beacon node client.
type BeaconConfig struct {
	// Timeout bounds each request to one node.
	Timeout time.Duration `yaml:"timeout"`
}

// BuilderConfig enables external block builders.
type BuilderConfig struct {
	// Enabled registers the validators with the builders (signed
	// VALIDATOR_REGISTRATION) and lets the beacon node choose a builder's
	// block when it pays more.
	Enabled bool `yaml:"enabled"`
	// GasLimit is the gas limit the validators ask builders for.
	GasLimit uint64 `yaml:"gas_limit"`
	// BoostFactor weighs a builder's payload against the local one, in
	// percent (produceBlockV3's builder_boost_factor): 100 compares them
	// as they are, 0 always takes the local payload.
	BoostFactor uint64 `yaml:"boost_factor"`
}

// DoppelgangerConfig configures doppelganger detection.
type DoppelgangerConfig struct {
	// Enabled makes the client sign nothing until the validators were seen
	// inactive for Epochs whole epochs after it started. Disable only
	// knowingly: to add an instance beside one already running for the
	// same cluster.
	Enabled bool `yaml:"enabled"`
	// Epochs is how many epochs must pass without any sign of the
	// validators.
	Epochs uint64 `yaml:"epochs"`
}

// RedundancyConfig is for several instances serving one cluster at once.
type RedundancyConfig struct {
	// Instance is this instance's position among them, 0 for the first.
	// Instance k waits k × ProposalDelay before proposing and proposes
	// only if no block for the slot has appeared, so that two instances
	// do not race with different blocks and split the signers' votes.
	Instance uint64 `yaml:"instance"`
	// ProposalDelay is that delay step.
	ProposalDelay time.Duration `yaml:"proposal_delay"`
	// AttestationDelay is the step by which instance k waits k ×
	// AttestationDelay after reading the slot's attestation data before
	// it asks the signers: the first instance's requests then reach every
	// signer first, and a later instance whose data
	// differs signs the first one's instead, named by the signers'
	// refusals, rather than splitting the signers between two data
	// (docs/reliability.md). 0, the default, is a twelfth of a slot (1 s
	// on mainnet); the wait is capped at a quarter of a slot.
	AttestationDelay time.Duration `yaml:"attestation_delay"`
}

// ListenConfig lists the listeners.
type ListenConfig struct {
	// Operations serves /metrics and /healthz, plain HTTP on a loopback
	// address. Empty disables it.
	Operations string `yaml:"operations"`
}

// LogConfig sets logging.
type LogConfig = cli.LogConfig

// AccountSelector is "all" or a list of composite public keys.
type AccountSelector = yamlfile.Selector

// DefaultConfig returns the defaults Load applies to fields the file
// leaves out.
func DefaultConfig() Config {
	return Config{
		Cluster:      clusterfile.DefaultClientConfig(),
		Beacon:       BeaconConfig{Timeout: 2 * time.Second},
		Accounts:     AccountSelector{All: true},
		Builder:      BuilderConfig{GasLimit: 60_000_000, BoostFactor: 100},
		Doppelganger: DoppelgangerConfig{Enabled: true, Epochs: 2},
		Redundancy:   RedundancyConfig{ProposalDelay: time.Second},
		Listen:       ListenConfig{Operations: "127.0.0.1:9300"},
		Keymanager:   KeymanagerConfig{SettingsFile: "/var/lib/rampart-vc/proposer-settings.json"},
		Log:          LogConfig{Level: "info", Format: "text"},
	}
}

// MaxConfigSize bounds the configuration file.
const MaxConfigSize = 1 << 20

// Load reads, defaults and validates a configuration file. Relative paths
// in it are taken from the file's directory.
func Load(path string) (*Config, error) {
	cfg, err := yamlfile.Load(path, MaxConfigSize, "config", Parse)
	if err != nil {
		return nil, err
	}
	cfg.Cluster.Abs(filepath.Dir(path))
	cfg.abs(filepath.Dir(path))
	return cfg, nil
}

// Parse decodes, defaults and validates configuration bytes.
func Parse(data []byte) (*Config, error) {
	return yamlfile.Parse(data, MaxConfigSize, DefaultConfig())
}

// Marshal returns the configuration as YAML.
func (c *Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

func (c *Config) abs(dir string) {
	for _, p := range []*string{&c.Keymanager.TokenFile, &c.Keymanager.SettingsFile} {
		if *p != "" && !filepath.IsAbs(*p) && !strings.HasPrefix(*p, "pkcs11:") {
			*p = filepath.Join(dir, *p)
		}
	}
}

func fieldErr(path, format string, a ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
}

var nodeName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,32}$`)

// Limits of the numeric settings.
const (
	maxDoppelgangerEpochs = 16
	maxInstances          = 16
	maxProposalDelay      = 4 * time.Second
	maxTimeout            = time.Minute
	minGasLimit           = 5000
)

// Validate checks every field and returns the first problem, named by its
// YAML path.
func (c *Config) Validate() error {
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if err := c.validateBeaconNodes(); err != nil {
		return err
	}
	if err := checkDuration("beacon.timeout", c.Beacon.Timeout, false); err != nil {
		return err
	}
	if !c.Accounts.All && len(c.Accounts.List) == 0 {
		return fieldErr("accounts", "\"all\" or a non-empty list of public keys")
	}
	seen := map[api.PublicKey]int{}
	for i, a := range c.Accounts.List {
		k, err := api.ParsePublicKey(a)
		if err != nil {
			return fieldErr(fmt.Sprintf("accounts[%d]", i), "%q: %v", a, err)
		}
		if j, dup := seen[k]; dup {
			return fieldErr(fmt.Sprintf("accounts[%d]", i), "same key as accounts[%d]", j)
		}
		seen[k] = i
	}
	if _, err := c.feeRecipient(); err != nil {
		return err
	}
	if _, err := c.graffiti(); err != nil {
		return err
	}
	if c.Builder.Enabled && c.Builder.GasLimit < minGasLimit {
		return fieldErr("builder.gas_limit", "%d is below the protocol minimum %d", c.Builder.GasLimit, minGasLimit)
	}
	if c.Builder.BoostFactor > 1_000_000 {
		return fieldErr("builder.boost_factor", "%d percent is not a sensible weight (0 to 1000000)", c.Builder.BoostFactor)
	}
	if c.Doppelganger.Enabled && (c.Doppelganger.Epochs == 0 || c.Doppelganger.Epochs > maxDoppelgangerEpochs) {
		return fieldErr("doppelganger.epochs", "%d is not between 1 and %d", c.Doppelganger.Epochs, maxDoppelgangerEpochs)
	}
	if c.Redundancy.Instance >= maxInstances {
		return fieldErr("redundancy.instance", "%d is not between 0 and %d", c.Redundancy.Instance, maxInstances-1)
	}
	if d := c.Redundancy.ProposalDelay; d < 0 || d > maxProposalDelay {
		return fieldErr("redundancy.proposal_delay", "%s is not between 0s and %s", d, maxProposalDelay)
	}
	if d := c.Redundancy.AttestationDelay; d < 0 || d > maxProposalDelay {
		return fieldErr("redundancy.attestation_delay", "%s is not between 0s and %s", d, maxProposalDelay)
	}
	if a := c.Listen.Operations; a != "" {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fieldErr("listen.operations", "%q is not host:port: %v", a, err)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsLoopback() {
			return fieldErr("listen.operations", "%q: plain HTTP must be on a loopback address (127.0.0.1 or ::1)", a)
		}
	}
	if a := c.Keymanager.Listen; a != "" {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fieldErr("keymanager.listen", "%q is not host:port: %v", a, err)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsLoopback() {
			return fieldErr("keymanager.listen", "%q: plain HTTP must be on a loopback address (127.0.0.1 or ::1)", a)
		}
		if c.Keymanager.TokenFile == "" {
			return fieldErr("keymanager.token_file", "required with keymanager.listen: the API's bearer token")
		}
		if c.Keymanager.SettingsFile == "" {
			return fieldErr("keymanager.settings_file", "required with keymanager.listen: where the settings are kept")
		}
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	return nil
}

func (c *Config) validateBeaconNodes() error {
	if len(c.BeaconNodes) == 0 {
		return fieldErr("beacon_nodes", "required: at least one beacon node")
	}
	names := map[string]int{}
	for i, n := range c.BeaconNodes {
		path := fmt.Sprintf("beacon_nodes[%d]", i)
		if !nodeName.MatchString(n.Name) {
			return fieldErr(path+".name", "%q is not 1 to 32 of [a-zA-Z0-9._-]", n.Name)
		}
		if j, dup := names[n.Name]; dup {
			return fieldErr(path+".name", "same as beacon_nodes[%d]", j)
		}
		names[n.Name] = i
		// The URL is not quoted in errors: it may hold credentials.
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fieldErr(path+".url", "not an http(s) base URL with a host and no query")
		}
	}
	return nil
}

func checkDuration(path string, d time.Duration, zeroOK bool) error {
	if d < 0 || (d == 0 && !zeroOK) || d > maxTimeout {
		lo := "more than 0s"
		if zeroOK {
			lo = "0s or more"
		}
		return fieldErr(path, "%s is not %s and at most %s", d, lo, maxTimeout)
	}
	return nil
}

// feeRecipient decodes fee_recipient.
func (c *Config) feeRecipient() (bellatrix.ExecutionAddress, error) {
	var a bellatrix.ExecutionAddress
	s := c.FeeRecipient
	if s == "" {
		return a, fieldErr("fee_recipient", "required: the execution address that receives the fees of proposed blocks")
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if !strings.HasPrefix(s, "0x") || err != nil || len(b) != len(a) {
		return a, fieldErr("fee_recipient", "%q is not a 0x-prefixed 20-byte hex address", s)
	}
	copy(a[:], b)
	if err := checkFeeRecipient(a); err != nil {
		return a, fieldErr("fee_recipient", "%v", err)
	}
	return a, nil
}

// checkFeeRecipient refuses the zero address, which burns the fees, and
// placeholders: an address of nineteen zero bytes and one small one, such
// as the 0x…0001 an example configuration shows, is nobody's account.
func checkFeeRecipient(a bellatrix.ExecutionAddress) error {
	if a == (bellatrix.ExecutionAddress{}) {
		return errors.New("the zero address would burn the fees")
	}
	placeholder := true
	for _, b := range a[:len(a)-1] {
		placeholder = placeholder && b == 0
	}
	if placeholder {
		return fmt.Errorf("%s is a placeholder, nobody's account: give the execution address that is to receive the fees", a)
	}
	return nil
}

// graffiti encodes graffiti.
func (c *Config) graffiti() ([32]byte, error) {
	var g [32]byte
	if len(c.Graffiti) > len(g) || !utf8.ValidString(c.Graffiti) {
		return g, fieldErr("graffiti", "at most 32 bytes of UTF-8 (this is %d bytes)", len(c.Graffiti))
	}
	copy(g[:], c.Graffiti)
	return g, nil
}
