package devnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Config describes a devnet to prepare and run. Build it from
// [DefaultConfig] and change what you need; [Config.Validate] names the first
// wrong field.
type Config struct {
	// Dir holds everything the devnet writes: genesis files, data
	// directories, logs, keystores and the recorded process ids. Prepare
	// refuses a directory that already holds a devnet (see [Prepare]).
	Dir string
	// BinDir holds the geth, beacon-chain, validator and prysmctl binaries
	// (`make e2e-tools` builds them).
	BinDir string
	// Validators is the number of interop validators in the genesis state
	// (the devnet has 64).
	Validators int
	// SlotsPerEpoch is SLOTS_PER_EPOCH: 8 (the default, for finality about
	// 100 s after genesis; Prysm's mainnet build runs with it and Rampart
	// reads it as a custom network), or the mainnet preset's 32.
	SlotsPerEpoch uint64
	// SecondsPerSlot is SECONDS_PER_SLOT. Below 3, Prysm treats every block
	// as late on a machine that also runs the validators.
	SecondsPerSlot uint64
	// GenesisDelay is how far after Prepare the chain starts; it must cover
	// starting geth and beacon-chain.
	GenesisDelay time.Duration
	// ChainID is the execution chain id and DEPOSIT_CHAIN_ID.
	ChainID uint64
	// Host is the loopback address every process listens on.
	Host string
	// Ports are the TCP (and UDP) ports the processes listen on.
	Ports Ports
	// KeystorePassword protects the interop keystores Prepare writes. The
	// keys are public (interop), so the password only exercises the import
	// path; it is written beside the keystores.
	KeystorePassword string
	// ScryptN is the scrypt cost of those keystores. The default (2^4) is
	// deliberately cheap, so importing 64 keystores takes milliseconds;
	// never use such keystores for real keys.
	ScryptN int
	// PrysmValidator makes Start run Prysm's validator client with the
	// interop keys, so the chain advances and finalises without Rampart.
	PrysmValidator bool
	// ExternalSigner, when set with PrysmValidator, makes Prysm's validator
	// client hold no key and sign everything through this Remote Signing
	// API (a Rampart cluster's coordinator listener), for the interop
	// validators it lists at /api/v1/eth2/publicKeys.
	ExternalSigner string
	// Slasher runs beacon-chain with its slasher, which reports slashable
	// messages it sees (the end-to-end tests check that none occur).
	Slasher bool
}

// Ports are the listening ports of the devnet's processes.
type Ports struct {
	// ExecutionHTTP is geth's JSON-RPC.
	ExecutionHTTP int
	// ExecutionAuth is geth's engine API (JWT-authenticated).
	ExecutionAuth int
	// ExecutionP2P is geth's devp2p listener (no peers ever connect).
	ExecutionP2P int
	// BeaconHTTP is the beacon node REST API.
	BeaconHTTP int
	// BeaconRPC is the beacon node gRPC API (Prysm's validator uses it).
	BeaconRPC int
	// BeaconP2P is libp2p's TCP port and discv5's UDP port (discovery is
	// off); BeaconQUIC is libp2p's QUIC (UDP) port.
	BeaconP2P, BeaconQUIC int
	// BeaconMetrics is beacon-chain's Prometheus listener.
	BeaconMetrics int
	// ValidatorMetrics, ValidatorRPC and ValidatorHTTP are the Prysm
	// validator client's listeners.
	ValidatorMetrics, ValidatorRPC, ValidatorHTTP int
}

// DefaultBasePort is where [DefaultPorts] starts when given 0: high enough to
// stay clear of the clients' own defaults (8545, 3500, 4000, 13000, ...), so
// a devnet can run beside a real node.
const DefaultBasePort = 35400

// DefaultPorts returns consecutive ports from base (DefaultBasePort if 0).
func DefaultPorts(base int) Ports {
	if base == 0 {
		base = DefaultBasePort
	}
	return Ports{
		ExecutionHTTP:    base,
		ExecutionAuth:    base + 1,
		ExecutionP2P:     base + 2,
		BeaconHTTP:       base + 3,
		BeaconRPC:        base + 4,
		BeaconP2P:        base + 5,
		BeaconMetrics:    base + 6,
		ValidatorMetrics: base + 7,
		ValidatorRPC:     base + 8,
		ValidatorHTTP:    base + 9,
		BeaconQUIC:       base + 10,
	}
}

// list returns the ports with their field names, in a fixed order.
func (p Ports) list() []struct {
	name string
	port int
} {
	return []struct {
		name string
		port int
	}{
		{"ExecutionHTTP", p.ExecutionHTTP}, {"ExecutionAuth", p.ExecutionAuth}, {"ExecutionP2P", p.ExecutionP2P},
		{"BeaconHTTP", p.BeaconHTTP}, {"BeaconRPC", p.BeaconRPC}, {"BeaconP2P", p.BeaconP2P},
		{"BeaconMetrics", p.BeaconMetrics}, {"ValidatorMetrics", p.ValidatorMetrics},
		{"ValidatorRPC", p.ValidatorRPC}, {"ValidatorHTTP", p.ValidatorHTTP}, {"BeaconQUIC", p.BeaconQUIC},
	}
}

// DefaultConfig returns the devnet: 64 validators, 3-second slots,
// 32 slots per epoch, on 127.0.0.1 from DefaultBasePort. Dir and BinDir
// must still be set.
func DefaultConfig() Config {
	return Config{
		Validators:       64,
		SlotsPerEpoch:    8,
		SecondsPerSlot:   3,
		GenesisDelay:     30 * time.Second,
		ChainID:          73010,
		Host:             "127.0.0.1",
		Ports:            DefaultPorts(0),
		KeystorePassword: "rampart-devnet",
		ScryptN:          1 << 4,
	}
}

// Validate reports the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("devnet: Dir: empty")
	case c.BinDir == "":
		return errors.New("devnet: BinDir: empty")
	case c.Validators < 1 || c.Validators > 1<<14:
		return fmt.Errorf("devnet: Validators: %d, want 1 to %d", c.Validators, 1<<14)
	case c.SlotsPerEpoch != 8 && c.SlotsPerEpoch != 32:
		return fmt.Errorf("devnet: SlotsPerEpoch: %d, want 8 or 32", c.SlotsPerEpoch)
	case c.SecondsPerSlot < 1 || c.SecondsPerSlot > 60:
		return fmt.Errorf("devnet: SecondsPerSlot: %d, want 1 to 60", c.SecondsPerSlot)
	case c.GenesisDelay < 5*time.Second || c.GenesisDelay > time.Hour:
		return fmt.Errorf("devnet: GenesisDelay: %s, want 5s to 1h", c.GenesisDelay)
	case c.ChainID == 0 || c.ChainID > 1<<53:
		return fmt.Errorf("devnet: ChainID: %d, want 1 to 2^53", c.ChainID)
	case c.KeystorePassword == "":
		return errors.New("devnet: KeystorePassword: empty")
	case c.ScryptN < 2 || c.ScryptN&(c.ScryptN-1) != 0:
		return fmt.Errorf("devnet: ScryptN: %d is not a power of two above 1", c.ScryptN)
	}
	if ip := net.ParseIP(c.Host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("devnet: Host: %q is not a loopback address; the devnet never listens elsewhere", c.Host)
	}
	seen := map[int]string{}
	for _, p := range c.Ports.list() {
		if p.port < 1024 || p.port > 65535 {
			return fmt.Errorf("devnet: Ports.%s: %d, want 1024 to 65535", p.name, p.port)
		}
		if other, dup := seen[p.port]; dup {
			return fmt.Errorf("devnet: Ports.%s: %d is also Ports.%s", p.name, p.port, other)
		}
		seen[p.port] = p.name
	}
	if !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("devnet: Dir: %q is not absolute (the processes run from other directories)", c.Dir)
	}
	if !filepath.IsAbs(c.BinDir) {
		return fmt.Errorf("devnet: BinDir: %q is not absolute", c.BinDir)
	}
	return nil
}

// addr joins the host and a port.
func (c Config) addr(port int) string { return net.JoinHostPort(c.Host, strconv.Itoa(port)) }

// FreeBasePort finds eleven consecutive ports free for TCP and UDP on
// 127.0.0.1, so that a devnet clashes with nothing else running.
func FreeBasePort() (int, error) {
	// Below the kernel's ephemeral range (32768 and up by default), which
	// no :0 listener or outgoing connection is given: processes started
	// after the choice (a cluster's signers, clients) cannot take them
	// before the devnet binds them.
	const low, high = 20000, 32768 - 11
	for try := 0; try < 200; try++ {
		base := low + rand.IntN(high-low)
		ok := true
		for p := base; p < base+11 && ok; p++ {
			addr := "127.0.0.1:" + strconv.Itoa(p)
			tl, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			tl.Close()
			ul, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
				break
			}
			ul.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("devnet: no eleven consecutive free ports")
}
