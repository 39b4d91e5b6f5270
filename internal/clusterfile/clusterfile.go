package clusterfile

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/yamlfile"
	"github.com/rampart-signer/rampart/tss"
)

// File is a cluster.yaml.
type File struct {
	// Network is the chain the cluster signs for.
	Network Network `yaml:"network"`
	// ClusterID names the cluster (sealed shares are bound to it).
	ClusterID string `yaml:"cluster_id"`
	// Threshold is the t of new accounts; zero when the file only serves
	// clients that create none.
	Threshold int `yaml:"threshold"`
	// CA is the cluster CA certificate (PEM file): the only trust root.
	CA string `yaml:"ca"`
	// Participants lists every signer.
	Participants []Participant `yaml:"participants"`
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

// Network selects the network: a built-in name, or a consensus config.yaml
// with its genesis validators root. rampart-signer's configuration uses the
// same section.
type Network struct {
	Name                  string `yaml:"name"`
	Config                string `yaml:"config"`
	GenesisValidatorsRoot string `yaml:"genesis_validators_root"`
	// GenesisTime is the genesis time of a custom network in Unix seconds,
	// for one whose genesis is not the config's MIN_GENESIS_TIME +
	// GENESIS_DELAY (a devnet started at another time, or a config without
	// them): the genesis_time /eth/v1/beacon/genesis reports. Zero: derive
	// it from the config.
	GenesisTime uint64 `yaml:"genesis_time,omitempty"`
}

// Participant is one signer as seen from outside.
type Participant struct {
	ID uint64 `yaml:"id"`
	// Endpoint is the participant listener (https://host:port).
	Endpoint string `yaml:"endpoint"`
	// TLSName is the name the signer's certificate must carry.
	TLSName string `yaml:"tls_name"`
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
	// Token is where the administrative bearer token is read (admin entry
	// only), as a signer's pin-source: file:/path (an owner-only file
	// holding the token in hex) or credential:NAME (a systemd credential).
	Token string `yaml:"token,omitempty"`
}

// MaxAccounts bounds the accounts a cluster file lists.
const MaxAccounts = 1_000_000

// accountLine is the size of one account in the file: "  - 0x" and 96
// hex digits and a newline, with room for quotes.
const accountLine = 108

// MaxSize bounds a cluster file: 1 MiB for everything but the accounts,
// plus one line per account up to MaxAccounts (about 100 MiB), so that the
// bound grows with the cluster instead of cutting it off at some 10,000
// validators.
const MaxSize = 1<<20 + MaxAccounts*accountLine

// ErrInvalid wraps every error of [Parse] and [File.Validate]; the message
// names the offending field.
var ErrInvalid = errors.New("invalid cluster file")

// Load reads, parses and validates a cluster file.
func Load(path string) (*File, error) {
	return yamlfile.Load(path, MaxSize, "cluster file", Parse)
}

// Parse decodes and validates cluster file bytes strictly: unknown fields,
// a second YAML document and a file over MaxSize are refused.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	var cf File
	if err := yamlfile.Decode(data, &cf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := cf.Validate(); err != nil {
		return nil, err
	}
	return &cf, nil
}

// Marshal returns the file's YAML with a header comment.
func (cf *File) Marshal() ([]byte, error) {
	data, err := yaml.Marshal(cf)
	if err != nil {
		return nil, err
	}
	header := "# Rampart cluster description: endpoints, CA and client identities (no secrets).\n"
	return append([]byte(header), data...), nil
}

// Write saves the file atomically (mode 0644: it holds no secret).
func (cf *File) Write(path string) error {
	data, err := cf.Marshal()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fieldErr(path, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, path, fmt.Sprintf(format, a...))
}

// Validate checks the file and names the first wrong field.
func (cf *File) Validate() error {
	if err := cf.Network.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(cf.Participants) == 0 {
		return fieldErr("participants", "required")
	}
	ids := make([]tss.ID, len(cf.Participants))
	endpoints := map[string]int{}
	for i, p := range cf.Participants {
		path := fmt.Sprintf("participants[%d]", i)
		ids[i] = tss.ID(p.ID)
		if p.ID == 0 {
			return fieldErr(path+".id", "must be non-zero")
		}
		if !isOrigin(p.Endpoint, "https") {
			return fieldErr(path+".endpoint", "%q is not an https:// origin (scheme, host and port only)", p.Endpoint)
		}
		if j, dup := endpoints[p.Endpoint]; dup {
			return fieldErr(path+".endpoint", "same as participants[%d]", j)
		}
		endpoints[p.Endpoint] = i
		if p.TLSName == "" {
			return fieldErr(path+".tls_name", "required")
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
	for _, id := range []struct {
		path string
		id   *Identity
	}{{"admin", cf.Admin}, {"client", cf.Client}} {
		if id.id == nil {
			continue
		}
		switch {
		case id.id.Name == "":
			return fieldErr(id.path+".name", "required")
		case id.id.Certificate == "":
			return fieldErr(id.path+".certificate", "required")
		case id.id.Key == "":
			return fieldErr(id.path+".key", "required")
		case id.id.Token != "" && id.path != "admin":
			return fieldErr(id.path+".token", "only the admin identity carries the administrative token")
		case id.id.Token != "" && !strings.HasPrefix(id.id.Token, "file:") && !strings.HasPrefix(id.id.Token, "credential:"):
			return fieldErr(id.path+".token", "want file:/path (an owner-only file holding the token) or credential:NAME (a systemd credential)")
		}
	}
	if len(cf.Accounts) > MaxAccounts {
		return fieldErr("accounts", "%d accounts, at most %d", len(cf.Accounts), MaxAccounts)
	}
	for i, a := range cf.Accounts {
		if _, err := api.ParsePublicKey(a); err != nil {
			return fieldErr(fmt.Sprintf("accounts[%d]", i), "%v", err)
		}
	}
	return nil
}

// Validate checks the network section and names the wrong field
// ("network", "network.name", "network.genesis_validators_root"). It does
// not read the config file: [Network.Load] does.
func (n Network) Validate() error {
	switch {
	case n.Name == "" && n.Config == "":
		return fmt.Errorf("network: give name (%s) or config with genesis_validators_root", strings.Join(network.BuiltinNames(), ", "))
	case n.Name != "" && (n.Config != "" || n.GenesisValidatorsRoot != ""):
		return errors.New("network: give either name, or config with genesis_validators_root, not both")
	case n.Name != "" && n.GenesisTime != 0:
		return errors.New("network.genesis_time: only for a custom network (network.config); built-in networks know their genesis time")
	case n.Name != "":
		if _, err := network.Builtin(n.Name); err != nil {
			return fmt.Errorf("network.name: %v", err)
		}
	case n.GenesisValidatorsRoot == "":
		return errors.New("network.genesis_validators_root: required with network.config")
	default:
		if _, err := api.ParseRoot(n.GenesisValidatorsRoot); err != nil {
			return fmt.Errorf("network.genesis_validators_root: %v", err)
		}
	}
	return nil
}

// isOrigin reports whether s is scheme://host[:port] and nothing else.
func isOrigin(s, scheme string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == scheme && u.Host != "" && (u.Path == "" || u.Path == "/") &&
		u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// LoadNetwork resolves the network; errors name the network.* field.
func (n Network) Load(ctx context.Context) (*network.Network, error) {
	return network.Selection{Name: n.Name, ConfigPath: n.Config, GenesisValidatorsRoot: n.GenesisValidatorsRoot, GenesisTime: n.GenesisTime}.Load(ctx, network.Names{
		Name: "network.name", ConfigPath: "network.config", GenesisValidatorsRoot: "network.genesis_validators_root", GenesisTime: "network.genesis_time",
	})
}

// LoadNetwork resolves the file's network.
func (cf *File) LoadNetwork(ctx context.Context) (*network.Network, error) {
	return cf.Network.Load(ctx)
}

// Abs makes the file's relative paths absolute against dir (the
// directory of the file, usually), leaving pkcs11: URIs alone.
func (cf *File) Abs(dir string) {
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
			if p, ok := strings.CutPrefix(id.Token, "file:"); ok && p != "" && !filepath.IsAbs(p) {
				id.Token = "file:" + filepath.Join(dir, p)
			}
		}
	}
}
