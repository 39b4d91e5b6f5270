package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/internal/yamlfile"
)

// Config is rampart-gateway's configuration file; gateway.example.yaml
// beside this file documents every field. [Load] and [Parse] read it
// strictly (unknown fields, a second document or a wrong type are refused)
// over [DefaultConfig], and [Config.Validate] names the first wrong field by
// its YAML path.
type Config struct {
	// Cluster says how to reach the signers and with which identity.
	Cluster ClusterConfig `yaml:"cluster"`
	// Listen lists the listeners.
	Listen ListenConfig `yaml:"listen"`
	// Accounts are the composite public keys the local validator client
	// may use: "all" the signers let the gateway use, or a list.
	Accounts Selector `yaml:"accounts"`
	// Types are the request types the local validator client may ask
	// for: "all" or a list. The default is every validator duty, without
	// VOLUNTARY_EXIT, DEPOSIT and GENERIC.
	Types Selector `yaml:"types"`
	// Health tunes the signers' health probes.
	Health HealthConfig `yaml:"health"`
	// Log sets logging.
	Log LogConfig `yaml:"log"`
}

// ClusterConfig names the cluster file and the gateway's identity; the
// same section as rampart-vc's.
type ClusterConfig = clusterfile.ClientConfig

// ListenConfig lists the listeners. Both serve plain HTTP, so both are
// local only.
type ListenConfig struct {
	// API serves the Remote Signing API to the validator client: a
	// loopback address ("127.0.0.1:9400", "[::1]:9400"), or a unix socket
	// ("unix:/run/rampart-gateway/api.sock").
	API string `yaml:"api"`
	// SocketMode is the unix socket's permission bits (octal): 0660 lets
	// the gateway's group connect, 0600 only its user.
	SocketMode Mode `yaml:"socket_mode"`
	// Operations serves /metrics, /upcheck and /healthcheck on a loopback
	// address; empty disables it.
	Operations string `yaml:"operations"`
}

// HealthConfig tunes the health probes.
type HealthConfig struct {
	// Interval is the time between two probes of every signer's
	// /healthcheck.
	Interval time.Duration `yaml:"interval"`
}

// LogConfig sets logging.
type LogConfig = cli.LogConfig

// Selector is "all" or a list.
type Selector = yamlfile.Selector

// Mode is a file mode written in octal ("0660").
type Mode uint32

// UnmarshalYAML reads the mode as octal whatever YAML would make of it.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want an octal mode such as 0660", n.Line)
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "0o"), 8, 32)
	if err != nil {
		return fmt.Errorf("line %d: %q is not an octal mode such as 0660", n.Line, n.Value)
	}
	*m = Mode(v)
	return nil
}

// MarshalYAML writes the mode in octal.
func (m Mode) MarshalYAML() (any, error) { return fmt.Sprintf("%04o", uint32(m)), nil }

// DutyTypes are the request types granted by default: what a validator
// client signs in its duties. VOLUNTARY_EXIT (irreversible), DEPOSIT (no
// client duty) and GENERIC are granted only when listed.
func DutyTypes() []string {
	return []string{
		string(signing.TypeAggregationSlot), string(signing.TypeAggregateAndProof), string(signing.TypeAggregateAndProofV2),
		string(signing.TypeAttestation), string(signing.TypeBlock), string(signing.TypeBlockV2), string(signing.TypeRandaoReveal),
		string(signing.TypeSyncCommitteeMessage), string(signing.TypeSyncCommitteeSelectionProof),
		string(signing.TypeSyncCommitteeContributionAndProof), string(signing.TypeValidatorRegistration),
	}
}

// UnixPrefix marks listen.api as a unix socket path.
const UnixPrefix = "unix:"

// DefaultConfig returns the defaults Load applies to fields the file
// leaves out.
func DefaultConfig() Config {
	return Config{
		Cluster:  clusterfile.DefaultClientConfig(),
		Listen:   ListenConfig{API: "127.0.0.1:9400", SocketMode: 0o660, Operations: "127.0.0.1:9401"},
		Accounts: Selector{All: true},
		Types:    Selector{List: DutyTypes()},
		Health:   HealthConfig{Interval: 5 * time.Second},
		Log:      LogConfig{Level: "info", Format: "text"},
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
	return cfg, nil
}

// Parse decodes, defaults and validates configuration bytes.
func Parse(data []byte) (*Config, error) {
	return yamlfile.Parse(data, MaxConfigSize, DefaultConfig())
}

// Marshal returns the configuration as YAML.
func (c *Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

func fieldErr(path, format string, a ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
}

// Limits of the settings.
const (
	minInterval    = time.Second
	maxInterval    = time.Minute
	maxSocketPath  = 107 // sun_path holds 108 bytes with the terminating NUL
	socketModeMask = 0o666
)

// Validate checks every field and returns the first problem, named by its
// YAML path.
func (c *Config) Validate() error {
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if err := c.validateListen(); err != nil {
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
	if !c.Types.All && len(c.Types.List) == 0 {
		return fieldErr("types", "\"all\" or a non-empty list of request types")
	}
	known := map[string]bool{}
	for _, t := range signing.Types() {
		known[string(t)] = true
	}
	seenType := map[string]int{}
	for i, t := range c.Types.List {
		path := fmt.Sprintf("types[%d]", i)
		if !known[t] {
			return fieldErr(path, "%q is not a request type of the Remote Signing API (%s)", t, typeNames())
		}
		if j, dup := seenType[t]; dup {
			return fieldErr(path, "same type as types[%d]", j)
		}
		seenType[t] = i
	}
	if d := c.Health.Interval; d < minInterval || d > maxInterval {
		return fieldErr("health.interval", "%s is not between %s and %s", d, minInterval, maxInterval)
	}
	return c.Log.Validate()
}

func typeNames() string {
	var s []string
	for _, t := range signing.Types() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func (c *Config) validateListen() error {
	if a := c.Listen.API; strings.HasPrefix(a, UnixPrefix) {
		p := strings.TrimPrefix(a, UnixPrefix)
		switch {
		case !filepath.IsAbs(p) || filepath.Clean(p) != p:
			return fieldErr("listen.api", "%q: the socket path must be absolute and clean", p)
		case len(p) > maxSocketPath:
			return fieldErr("listen.api", "%q: a unix socket path is at most %d bytes", p, maxSocketPath)
		}
		m := c.Listen.SocketMode
		if m&^socketModeMask != 0 || m&0o600 != 0o600 {
			return fieldErr("listen.socket_mode", "%04o: want read and write for the owner and no execute bits (0600, 0660 or 0666)", uint32(m))
		}
	} else if err := loopback("listen.api", a); err != nil {
		return err
	}
	if a := c.Listen.Operations; a != "" {
		if err := loopback("listen.operations", a); err != nil {
			return err
		}
		if a == c.Listen.API {
			return fieldErr("listen.operations", "%q is listen.api's address too", a)
		}
	}
	return nil
}

// loopback checks that a plain-HTTP listener binds a loopback address.
func loopback(path, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldErr(path, "%q is not host:port or unix:/path: %v", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fieldErr(path, "%q: plain HTTP must be on a loopback address (127.0.0.1 or ::1), or a unix socket", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fieldErr(path, "%q: port must be 1 to 65535", addr)
	}
	return nil
}
