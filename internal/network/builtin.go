package network

import (
	"fmt"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// The built-in networks. Every constant below was checked against the
// network's published configuration:
//
//   - mainnet: ethereum/consensus-specs configs/mainnet.yaml (v1.7.0-beta.2)
//     and eth-clients/mainnet metadata/config.yaml. The genesis time is the
//     genesis state's (1606824023, 2020-12-01 12:00:23 UTC), which differs
//     from MIN_GENESIS_TIME + GENESIS_DELAY on mainnet.
//   - sepolia: eth-clients/sepolia metadata/config.yaml, which schedules
//     Gloas at epoch 353024; genesis time MIN_GENESIS_TIME 1655647200 +
//     GENESIS_DELAY 86400.
//   - hoodi: eth-clients/hoodi metadata/config.yaml as launched on
//     2025-03-17 (Electra at 2048) with Fulu at 50688; Gloas is not
//     scheduled. Genesis time MIN_GENESIS_TIME 1742212800 + GENESIS_DELAY
//     600.
//
// The genesis validators roots are the ones /eth/v1/beacon/genesis reports,
// as the client teams' built-in network tables (Lighthouse, Teku, Lodestar,
// Grandine) list them.
//
// A copy of the mainnet and Sepolia configs sits in testdata/, and a test
// parses them and requires the built-ins to equal the result.

// Mainnet returns Ethereum mainnet.
func Mainnet() *Network {
	return &Network{
		name:            "mainnet",
		builtin:         true,
		preset:          MainnetPreset(),
		gvr:             mustRoot("0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"),
		genesisTime:     time.Unix(1606824023, 0).UTC(),
		slotDuration:    12 * time.Second,
		hasDeposit:      true,
		depositChainID:  1,
		depositContract: mustAddress("0x00000000219ab540356cBB839Cbe05303d7705Fa"),
		forks: schedule([]Fork{
			{Name: spec.DataVersionPhase0, Version: v(0x00, 0x00, 0x00, 0x00), Epoch: 0},
			{Name: spec.DataVersionAltair, Version: v(0x01, 0x00, 0x00, 0x00), Epoch: 74240},
			{Name: spec.DataVersionBellatrix, Version: v(0x02, 0x00, 0x00, 0x00), Epoch: 144896},
			{Name: spec.DataVersionCapella, Version: v(0x03, 0x00, 0x00, 0x00), Epoch: 194048},
			{Name: spec.DataVersionDeneb, Version: v(0x04, 0x00, 0x00, 0x00), Epoch: 269568},
			{Name: spec.DataVersionElectra, Version: v(0x05, 0x00, 0x00, 0x00), Epoch: 364032},
			{Name: spec.DataVersionFulu, Version: v(0x06, 0x00, 0x00, 0x00), Epoch: 411392},
		}),
	}
}

// Sepolia returns the Sepolia testnet.
func Sepolia() *Network {
	return &Network{
		name:            "sepolia",
		builtin:         true,
		preset:          MainnetPreset(),
		gvr:             mustRoot("0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078"),
		genesisTime:     time.Unix(1655733600, 0).UTC(),
		slotDuration:    12 * time.Second,
		hasDeposit:      true,
		depositChainID:  11155111,
		depositContract: mustAddress("0x7f02C3E3c98b133055B8B348B2Ac625669Ed295D"),
		forks: schedule([]Fork{
			{Name: spec.DataVersionPhase0, Version: v(0x90, 0x00, 0x00, 0x69), Epoch: 0},
			{Name: spec.DataVersionAltair, Version: v(0x90, 0x00, 0x00, 0x70), Epoch: 50},
			{Name: spec.DataVersionBellatrix, Version: v(0x90, 0x00, 0x00, 0x71), Epoch: 100},
			{Name: spec.DataVersionCapella, Version: v(0x90, 0x00, 0x00, 0x72), Epoch: 56832},
			{Name: spec.DataVersionDeneb, Version: v(0x90, 0x00, 0x00, 0x73), Epoch: 132608},
			{Name: spec.DataVersionElectra, Version: v(0x90, 0x00, 0x00, 0x74), Epoch: 222464},
			{Name: spec.DataVersionFulu, Version: v(0x90, 0x00, 0x00, 0x75), Epoch: 272640},
			{Name: spec.DataVersionGloas, Version: v(0x90, 0x00, 0x00, 0x76), Epoch: 353024},
		}),
	}
}

// Hoodi returns the Hoodi testnet.
func Hoodi() *Network {
	return &Network{
		name:            "hoodi",
		builtin:         true,
		preset:          MainnetPreset(),
		gvr:             mustRoot("0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"),
		genesisTime:     time.Unix(1742213400, 0).UTC(),
		slotDuration:    12 * time.Second,
		hasDeposit:      true,
		depositChainID:  560048,
		depositContract: mustAddress("0x00000000219ab540356cBB839Cbe05303d7705Fa"),
		forks: schedule([]Fork{
			{Name: spec.DataVersionPhase0, Version: v(0x10, 0x00, 0x09, 0x10), Epoch: 0},
			{Name: spec.DataVersionAltair, Version: v(0x20, 0x00, 0x09, 0x10), Epoch: 0},
			{Name: spec.DataVersionBellatrix, Version: v(0x30, 0x00, 0x09, 0x10), Epoch: 0},
			{Name: spec.DataVersionCapella, Version: v(0x40, 0x00, 0x09, 0x10), Epoch: 0},
			{Name: spec.DataVersionDeneb, Version: v(0x50, 0x00, 0x09, 0x10), Epoch: 0},
			{Name: spec.DataVersionElectra, Version: v(0x60, 0x00, 0x09, 0x10), Epoch: 2048},
			{Name: spec.DataVersionFulu, Version: v(0x70, 0x00, 0x09, 0x10), Epoch: 50688},
		}),
	}
}

// Builtin returns the built-in network with the given name.
func Builtin(name string) (*Network, error) {
	switch name {
	case "mainnet":
		return Mainnet(), nil
	case "sepolia":
		return Sepolia(), nil
	case "hoodi":
		return Hoodi(), nil
	}
	return nil, fmt.Errorf("%w %q (built-in networks: %s)", ErrUnknownNetwork, name, strings.Join(BuiltinNames(), ", "))
}

// BuiltinByGenesisValidatorsRoot returns the built-in network with the
// given genesis validators root, if there is one: how a tool that holds
// only an EIP-3076 file or a slashing database finds its network.
func BuiltinByGenesisValidatorsRoot(gvr phase0.Root) (*Network, bool) {
	for _, name := range BuiltinNames() {
		if n, _ := Builtin(name); n.gvr == gvr {
			return n, true
		}
	}
	return nil, false
}

// BuiltinNames returns the names of the built-in networks, sorted.
func BuiltinNames() []string { return []string{"hoodi", "mainnet", "sepolia"} }

// schedule fills in each fork's previous version from the fork before it.
func schedule(forks []Fork) []Fork {
	for i := range forks {
		if i == 0 {
			forks[i].PreviousVersion = forks[i].Version
		} else {
			forks[i].PreviousVersion = forks[i-1].Version
		}
	}
	return forks
}

func v(a, b, c, d byte) phase0.Version { return phase0.Version{a, b, c, d} }

func mustRoot(s string) phase0.Root {
	var r phase0.Root
	if err := decodeHexInto(r[:], s); err != nil {
		panic("network: bad built-in root " + s)
	}
	return r
}

func mustAddress(s string) bellatrix.ExecutionAddress {
	var a bellatrix.ExecutionAddress
	if err := decodeHexInto(a[:], s); err != nil {
		panic("network: bad built-in address " + s)
	}
	return a
}
