package devnet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// Errors a caller decides on.
var (
	// ErrExists: the directory already holds a devnet whose processes are
	// running (stop it first), or files that are not a devnet's.
	ErrExists = errors.New("devnet: directory is in use")
	// ErrNotDevnet: the directory holds no prepared devnet.
	ErrNotDevnet = errors.New("devnet: no devnet in directory")
)

// Devnet is a prepared devnet: its configuration, where its files are, and
// the facts of its genesis. Prepare makes one; Open reads it back.
type Devnet struct {
	// Config is the configuration it was prepared with.
	Config Config
	// GenesisTime is the time of slot 0.
	GenesisTime time.Time
	// GenesisValidatorsRoot is the root of the genesis validator set, which
	// Rampart needs with the network config (--genesis-validators-root).
	GenesisValidatorsRoot phase0.Root
}

// manifestName is the file that marks a directory as a devnet and records
// how it was prepared.
const manifestName = "devnet.json"

// manifest is the JSON form of a Devnet.
type manifest struct {
	Config                Config    `json:"config"`
	GenesisTime           time.Time `json:"genesis_time"`
	GenesisValidatorsRoot string    `json:"genesis_validators_root"`
	BeaconAPI             string    `json:"beacon_api"`
	ExecutionRPC          string    `json:"execution_rpc"`
	NetworkConfig         string    `json:"network_config"`
	Keystores             string    `json:"keystores"`
	KeystorePasswordFile  string    `json:"keystore_password_file"`
}

// Open reads the devnet prepared in dir.
func Open(dir string) (*Devnet, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotDevnet, dir, manifestName)
	}
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", manifestName, err)
	}
	d := &Devnet{Config: m.Config, GenesisTime: m.GenesisTime}
	if err := decodeRoot(&d.GenesisValidatorsRoot, m.GenesisValidatorsRoot); err != nil {
		return nil, fmt.Errorf("devnet: %s: genesis_validators_root: %w", manifestName, err)
	}
	if d.Config.Dir != dir {
		return nil, fmt.Errorf("devnet: %s: prepared in %s, not %s (devnets cannot move: their files name absolute paths)", manifestName, d.Config.Dir, dir)
	}
	return d, d.Config.Validate()
}

func (d *Devnet) writeManifest() error {
	m := manifest{
		Config:                d.Config,
		GenesisTime:           d.GenesisTime.UTC(),
		GenesisValidatorsRoot: fmt.Sprintf("%#x", d.GenesisValidatorsRoot[:]),
		BeaconAPI:             d.BeaconAPI(),
		ExecutionRPC:          d.ExecutionRPC(),
		NetworkConfig:         d.NetworkConfigFile(),
		Keystores:             d.KeystoreDir(),
		KeystorePasswordFile:  d.KeystorePasswordFile(),
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(d.path(manifestName), append(data, '\n'), 0o600)
}

func (d *Devnet) path(elem ...string) string {
	return filepath.Join(append([]string{d.Config.Dir}, elem...)...)
}

// BeaconAPI is the beacon node's REST API URL.
func (d *Devnet) BeaconAPI() string { return "http://" + d.Config.addr(d.Config.Ports.BeaconHTTP) }

// ExecutionRPC is geth's JSON-RPC URL.
func (d *Devnet) ExecutionRPC() string {
	return "http://" + d.Config.addr(d.Config.Ports.ExecutionHTTP)
}

// NetworkConfigFile is the consensus config.yaml of the devnet, for
// --network-config (with GenesisValidatorsRoot for
// --genesis-validators-root).
func (d *Devnet) NetworkConfigFile() string { return d.path("consensus", "config.yaml") }

// KeystoreDir holds the EIP-2335 keystores of the interop validators
// (KeystoreName(i) for validator i).
func (d *Devnet) KeystoreDir() string { return d.path("keystores") }

// KeystorePasswordFile holds the keystores' password (one line).
func (d *Devnet) KeystorePasswordFile() string { return d.path("keystores", passwordFile) }

// LogFile is the log of one of the devnet's programs (geth, beacon-chain,
// validator, prysmctl).
func (d *Devnet) LogFile(program string) string { return d.path("logs", program+".log") }

// Network parses the devnet's config the way every Rampart command does
// (--network-config FILE --genesis-validators-root HEX).
func (d *Devnet) Network() (*network.Network, error) {
	data, err := os.ReadFile(d.NetworkConfigFile())
	if err != nil {
		return nil, err
	}
	return network.ParseConfig(data, d.GenesisValidatorsRoot)
}

// SlotDuration is the length of a slot.
func (d *Devnet) SlotDuration() time.Duration {
	return time.Duration(d.Config.SecondsPerSlot) * time.Second
}

// EpochDuration is the length of an epoch.
func (d *Devnet) EpochDuration() time.Duration {
	return time.Duration(d.Config.SlotsPerEpoch) * d.SlotDuration()
}

func decodeRoot(dst *phase0.Root, s string) error {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != len(dst) || !strings.HasPrefix(s, "0x") {
		return fmt.Errorf("%q is not a 0x-prefixed 32-byte hex root", s)
	}
	copy(dst[:], b)
	return nil
}

// GenesisStateFile is the Electra genesis state (SSZ), for
// beacon-chain's --genesis-state; a second beacon node of the devnet
// starts from it too.
func (d *Devnet) GenesisStateFile() string { return d.genesisStateFile() }

// ExecutionGenesisFile is geth's genesis, for `geth init` of a second
// execution node.
func (d *Devnet) ExecutionGenesisFile() string { return d.executionGenesisFile() }

// GethConfigFile is geth's TOML configuration (no peers, no discovery).
func (d *Devnet) GethConfigFile() string { return d.gethConfigFile() }

// JWTFile is the engine API secret shared by geth and beacon-chain.
func (d *Devnet) JWTFile() string { return d.jwtFile() }
