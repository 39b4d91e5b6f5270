package devnet

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// ForkVersion returns the devnet's fork version of fork number n (phase0
// 0 ... fulu 6): "RAM" and n, so that no signature made on the devnet is
// valid on a public network.
func ForkVersion(n byte) phase0.Version { return phase0.Version{0x52, 0x41, 0x4d, n} }

// farFutureEpoch is FAR_FUTURE_EPOCH: a fork that is not scheduled.
const farFutureEpoch = "18446744073709551615"

// consensusConfig returns the consensus config.yaml that beacon-chain,
// Prysm's validator, prysmctl and Rampart (--network-config) read. Every
// fork through Electra is active at epoch 0; Fulu is not scheduled.
//
// Prysm parses the file strictly (yaml.UnmarshalStrict into its
// BeaconChainConfig), so only keys it knows appear: SECONDS_PER_SLOT rather
// than SLOT_DURATION_MS, for instance. internal/network reads the same
// file; MIN_GENESIS_TIME + GENESIS_DELAY is the exact genesis time there.
func consensusConfig(c Config, genesis time.Time) []byte {
	var b strings.Builder
	line := func(key string, value any) { fmt.Fprintf(&b, "%s: %v\n", key, value) }
	b.WriteString("# Rampart devnet (e2e/devnet): mainnet preset, every fork through Electra at\n# genesis, on 127.0.0.1 only. Generated; do not edit.\n")
	line("PRESET_BASE", "mainnet")
	line("CONFIG_NAME", "rampart-devnet")
	line("MIN_GENESIS_ACTIVE_VALIDATOR_COUNT", c.Validators)
	line("MIN_GENESIS_TIME", genesis.Unix())
	line("GENESIS_DELAY", 0)
	line("GENESIS_FORK_VERSION", forkVersion(0))
	for i, name := range []string{"ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA"} {
		line(name+"_FORK_VERSION", forkVersion(byte(i+1)))
		line(name+"_FORK_EPOCH", 0)
	}
	line("FULU_FORK_VERSION", forkVersion(6))
	line("FULU_FORK_EPOCH", farFutureEpoch)
	line("SECONDS_PER_SLOT", c.SecondsPerSlot)
	line("SLOTS_PER_EPOCH", c.SlotsPerEpoch)
	// A short follow distance lets the node vote eth1 data from the young
	// execution chain instead of waiting 2048 blocks.
	line("ETH1_FOLLOW_DISTANCE", 12)
	// Validators may exit at once, so voluntary exits can be tested on a
	// fresh devnet (mainnet waits 256 epochs).
	line("SHARD_COMMITTEE_PERIOD", 0)
	line("TERMINAL_TOTAL_DIFFICULTY", 0)
	line("DEPOSIT_CHAIN_ID", c.ChainID)
	line("DEPOSIT_NETWORK_ID", c.ChainID)
	line("DEPOSIT_CONTRACT_ADDRESS", DepositContractAddress)
	return []byte(b.String())
}

func forkVersion(n byte) string {
	v := ForkVersion(n)
	return fmt.Sprintf("%#x", v[:])
}

// genesisAccount is one account of the execution genesis allocation.
type genesisAccount struct {
	Balance string            `json:"balance"`
	Nonce   string            `json:"nonce,omitempty"`
	Code    string            `json:"code,omitempty"`
	Storage map[string]string `json:"storage,omitempty"`
}

// executionGenesis returns geth's genesis.json for the devnet: every fork
// through Prague active from block 0 / time 0, proof of stake from the
// start (terminal total difficulty 0), and the allocations Prague needs:
// the four system contracts and the deposit contract. prysmctl rewrites the
// timestamps to the genesis time and writes the file geth is initialised
// with.
func executionGenesis(c Config, genesis time.Time) ([]byte, error) {
	code, storage, err := depositContract()
	if err != nil {
		return nil, err
	}
	alloc := map[string]genesisAccount{}
	for _, sc := range systemContracts {
		alloc[strings.ToLower(sc.address)] = genesisAccount{Balance: "0x0", Nonce: "0x1", Code: sc.code}
	}
	slots := map[string]string{}
	for k, v := range storage {
		slots["0x"+hex.EncodeToString(k[:])] = "0x" + hex.EncodeToString(v[:])
	}
	alloc[DepositContractAddress] = genesisAccount{Balance: "0x0", Nonce: "0x1", Code: "0x" + hex.EncodeToString(code), Storage: slots}

	ts := uint64(genesis.Unix())
	zero := 0
	doc := map[string]any{
		"config": map[string]any{
			"chainId":                 c.ChainID,
			"homesteadBlock":          zero,
			"eip150Block":             zero,
			"eip155Block":             zero,
			"eip158Block":             zero,
			"byzantiumBlock":          zero,
			"constantinopleBlock":     zero,
			"petersburgBlock":         zero,
			"istanbulBlock":           zero,
			"muirGlacierBlock":        zero,
			"berlinBlock":             zero,
			"londonBlock":             zero,
			"arrowGlacierBlock":       zero,
			"grayGlacierBlock":        zero,
			"mergeNetsplitBlock":      zero,
			"shanghaiTime":            ts,
			"cancunTime":              ts,
			"pragueTime":              ts,
			"terminalTotalDifficulty": zero,
			"depositContractAddress":  DepositContractAddress,
			// The Cancun and Prague blob parameters of EIP-7691 (and
			// mainnet); geth refuses a Cancun or Prague config without them.
			"blobSchedule": map[string]any{
				"cancun": map[string]uint64{"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477},
				"prague": map[string]uint64{"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716},
			},
		},
		"nonce":         "0x0",
		"timestamp":     fmt.Sprintf("%#x", ts),
		"extraData":     "0x",
		"gasLimit":      "0x2255100", // 36M, today's mainnet limit
		"difficulty":    "0x0",
		"mixHash":       "0x" + strings.Repeat("0", 64),
		"coinbase":      "0x" + strings.Repeat("0", 40),
		"parentHash":    "0x" + strings.Repeat("0", 64),
		"number":        "0x0",
		"gasUsed":       "0x0",
		"baseFeePerGas": "0x3b9aca00", // 1 gwei; prysmctl requires it after Altair
		"alloc":         alloc,
	}
	return json.MarshalIndent(doc, "", "  ")
}

// gethConfig returns the TOML configuration of geth's p2p layer: the listen
// address can only be set here (the --port flag binds every interface),
// and discovery and peers are off, so the devnet never talks to anyone.
func gethConfig(c Config) []byte {
	return []byte(fmt.Sprintf(`# Rampart devnet: geth's p2p layer listens on loopback only and never peers.
[Node.P2P]
MaxPeers = 0
NoDiscovery = true
DiscoveryV4 = false
DiscoveryV5 = false
BootstrapNodes = []
BootstrapNodesV5 = []
StaticNodes = []
TrustedNodes = []
ListenAddr = %q
`, c.addr(c.Ports.ExecutionP2P)))
}
