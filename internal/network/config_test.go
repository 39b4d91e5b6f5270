package network_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// devnetGVR is an arbitrary genesis validators root for custom networks.
var devnetGVR = phase0.Root{0xde, 0x7e}

// devnetConfig is a small but complete devnet config in the usual format.
const devnetConfig = `# A devnet
PRESET_BASE: 'minimal'
CONFIG_NAME: 'devnet-7'
MIN_GENESIS_TIME: 1700000000
GENESIS_DELAY: 60
GENESIS_FORK_VERSION: 0x10000038
ALTAIR_FORK_VERSION: 0x20000038
ALTAIR_FORK_EPOCH: 0
BELLATRIX_FORK_VERSION: 0x30000038
BELLATRIX_FORK_EPOCH: 0
CAPELLA_FORK_VERSION: 0x40000038
CAPELLA_FORK_EPOCH: 0
DENEB_FORK_VERSION: 0x50000038
DENEB_FORK_EPOCH: 10
ELECTRA_FORK_VERSION: 0x60000038
ELECTRA_FORK_EPOCH: 20
FULU_FORK_VERSION: 0x70000038
FULU_FORK_EPOCH: 18446744073709551615
SECONDS_PER_SLOT: 6
DEPOSIT_CHAIN_ID: 3151908
DEPOSIT_CONTRACT_ADDRESS: 0x4242424242424242424242424242424242424242
MAX_BLOBS_PER_BLOCK: 6
`

// specJSON is the same devnet as /eth/v1/config/spec serves it: every value
// a string, preset values included, inside a data envelope.
const specJSON = `{"data": {"PRESET_BASE": "minimal", "CONFIG_NAME": "devnet-7",
 "MIN_GENESIS_TIME": "1700000000", "GENESIS_DELAY": "60", "GENESIS_FORK_VERSION": "0x10000038",
 "ALTAIR_FORK_VERSION": "0x20000038", "ALTAIR_FORK_EPOCH": "0",
 "BELLATRIX_FORK_VERSION": "0x30000038", "BELLATRIX_FORK_EPOCH": "0",
 "CAPELLA_FORK_VERSION": "0x40000038", "CAPELLA_FORK_EPOCH": "0",
 "DENEB_FORK_VERSION": "0x50000038", "DENEB_FORK_EPOCH": "10",
 "ELECTRA_FORK_VERSION": "0x60000038", "ELECTRA_FORK_EPOCH": "20",
 "FULU_FORK_VERSION": "0x70000038", "FULU_FORK_EPOCH": "18446744073709551615",
 "SECONDS_PER_SLOT": "6", "SLOTS_PER_EPOCH": "8", "SYNC_COMMITTEE_SIZE": "32",
 "DEPOSIT_CHAIN_ID": "3151908", "DEPOSIT_CONTRACT_ADDRESS": "0x4242424242424242424242424242424242424242",
 "DOMAIN_BEACON_PROPOSER": "0x00000000", "MAX_BLOBS_PER_BLOCK": "6"}}`

func TestParseConfigReadsDevnet(t *testing.T) {
	for name, data := range map[string]string{"config.yaml": devnetConfig, "/eth/v1/config/spec": specJSON} {
		t.Run(name, func(t *testing.T) {
			n, err := network.ParseConfig([]byte(data), devnetGVR)
			if err != nil {
				t.Fatal(err)
			}
			if n.Name() != "devnet-7" || n.Builtin() || n.Preset() != network.MinimalPreset() {
				t.Errorf("name %q builtin %v preset %+v", n.Name(), n.Builtin(), n.Preset())
			}
			if n.SlotDuration() != 6*time.Second || !n.GenesisTime().Equal(time.Unix(1700000060, 0)) {
				t.Errorf("slot %s genesis %s", n.SlotDuration(), n.GenesisTime())
			}
			if n.GenesisValidatorsRoot() != devnetGVR {
				t.Errorf("gvr %#x", n.GenesisValidatorsRoot())
			}
			forks := n.Forks()
			if len(forks) != 6 || forks[5].Name != spec.DataVersionElectra || forks[5].Epoch != 20 {
				t.Fatalf("forks %+v", forks)
			}
			if n.ForkAtEpoch(9).Name != spec.DataVersionCapella || n.EpochAtSlot(16) != 2 {
				t.Errorf("fork at 9: %s, epoch at slot 16: %d", n.ForkAtEpoch(9).Name, n.EpochAtSlot(16))
			}
			if v, ok := n.ConfigValue("MAX_BLOBS_PER_BLOCK"); !ok || v != "6" {
				t.Errorf("unknown key not kept: %q %v", v, ok)
			}
		})
	}
}

func TestParseConfigWithoutOptionalKeys(t *testing.T) {
	n, err := network.ParseConfig([]byte("PRESET_BASE: mainnet\nGENESIS_FORK_VERSION: 0x00000099\nSLOT_DURATION_MS: 500\n"), devnetGVR)
	if err != nil {
		t.Fatal(err)
	}
	if n.Name() != "custom" || !n.GenesisTime().IsZero() || n.SlotDuration() != 500*time.Millisecond || len(n.Forks()) != 1 {
		t.Errorf("%q %s %s %d", n.Name(), n.GenesisTime(), n.SlotDuration(), len(n.Forks()))
	}
	if _, _, ok := n.DepositContract(); ok {
		t.Error("deposit contract invented")
	}
}

func TestParseConfigRefusesBadConfigs(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(devnetConfig, old) {
			t.Fatalf("base config lacks %q", old)
		}
		return strings.Replace(devnetConfig, old, new, 1)
	}
	for _, tc := range []struct {
		name, config, wantErr string
	}{
		{"refuses an unknown preset", edit("PRESET_BASE: 'minimal'", "PRESET_BASE: gnosis"), `PRESET_BASE: unknown preset "gnosis"`},
		{"refuses a missing preset", edit("PRESET_BASE: 'minimal'\n", ""), "PRESET_BASE: missing"},
		{"refuses a short version", edit("ALTAIR_FORK_VERSION: 0x20000038", "ALTAIR_FORK_VERSION: 0x200038"), "ALTAIR_FORK_VERSION: \"0x200038\" has 6 hex digits, want 8"},
		{"refuses a version that is not hex", edit("0x10000038", "0x1000003g"), "GENESIS_FORK_VERSION: \"0x1000003g\" is not hex"},
		{"refuses a version without prefix", edit("0x10000038", "10000038"), "GENESIS_FORK_VERSION: \"10000038\" lacks the 0x prefix"},
		{"refuses a missing genesis version", edit("GENESIS_FORK_VERSION: 0x10000038\n", ""), "GENESIS_FORK_VERSION: missing"},
		{"refuses fork epochs out of order", edit("ELECTRA_FORK_EPOCH: 20", "ELECTRA_FORK_EPOCH: 5"), "ELECTRA_FORK_EPOCH: 5 is before the DENEB fork at epoch 10"},
		{"refuses a fork scheduled after an unscheduled one", edit("DENEB_FORK_EPOCH: 10", "DENEB_FORK_EPOCH: 18446744073709551615"), "ELECTRA_FORK_EPOCH: ELECTRA is scheduled at epoch 20 but DENEB is not"},
		{"refuses a version without epoch", edit("ELECTRA_FORK_EPOCH: 20\n", ""), "ELECTRA_FORK_EPOCH: missing (ELECTRA_FORK_VERSION is set)"},
		{"refuses an epoch without version", edit("ELECTRA_FORK_VERSION: 0x60000038\n", ""), "ELECTRA_FORK_VERSION: missing (ELECTRA_FORK_EPOCH is set)"},
		{"refuses a reused fork version", edit("0x60000038", "0x40000038"), "ELECTRA_FORK_VERSION: 0x40000038 is also the CAPELLA fork version"},
		{"refuses a scheduled fork it does not know", devnetConfig + "HEZE_FORK_VERSION: 0x90000038\nHEZE_FORK_EPOCH: 99\n", "HEZE_FORK_EPOCH: fork HEZE is scheduled at epoch 99"},
		{"refuses a malformed unknown fork epoch", devnetConfig + "HEZE_FORK_EPOCH: soon\n", `HEZE_FORK_EPOCH: "soon" is not a decimal number`},
		{"refuses a key defined twice", devnetConfig + "DENEB_FORK_EPOCH: 11\n", "DENEB_FORK_EPOCH: defined twice"},
		{"refuses a lower-case key", devnetConfig + "deneb_fork_epoch: 11\n", `key "deneb_fork_epoch" is not a config key`},
		{"refuses a YAML merge key", devnetConfig + "<<: {A: 1}\n", `key "<<" is not a config key`},
		{"refuses zero slots per epoch", devnetConfig + "SLOTS_PER_EPOCH: 0\n", "SLOTS_PER_EPOCH: 0 is not between 1 and 65536"},
		{"refuses a sync committee size of another preset", devnetConfig + "SYNC_COMMITTEE_SIZE: 512\n", "SYNC_COMMITTEE_SIZE: 512, but the minimal preset has 32"},
		{"refuses disagreeing slot durations", devnetConfig + "SLOT_DURATION_MS: 12000\n", "SLOT_DURATION_MS: 12000 disagrees with SECONDS_PER_SLOT: 6"},
		{"refuses a zero slot", edit("SECONDS_PER_SLOT: 6", "SECONDS_PER_SLOT: 0"), "SECONDS_PER_SLOT: 0 is not a usable slot duration"},
		{"refuses a missing slot duration", edit("SECONDS_PER_SLOT: 6\n", ""), "SLOT_DURATION_MS: missing (and no SECONDS_PER_SLOT)"},
		{"refuses a number with leading zeros", edit("DENEB_FORK_EPOCH: 10", "DENEB_FORK_EPOCH: 010"), `DENEB_FORK_EPOCH: "010" is not a decimal number`},
		{"refuses a negative number", edit("DENEB_FORK_EPOCH: 10", "DENEB_FORK_EPOCH: -10"), `DENEB_FORK_EPOCH: "-10" is not a decimal number`},
		{"refuses a number beyond 64 bits", edit("DENEB_FORK_EPOCH: 10", "DENEB_FORK_EPOCH: 18446744073709551616"), `DENEB_FORK_EPOCH: "18446744073709551616" does not fit 64 bits`},
		{"refuses a list where a value belongs", edit("DENEB_FORK_EPOCH: 10", "DENEB_FORK_EPOCH: [10]"), "DENEB_FORK_EPOCH: want a single value"},
		{"refuses an empty value", edit("DENEB_FORK_EPOCH: 10", "DENEB_FORK_EPOCH:"), "DENEB_FORK_EPOCH: want a single value"},
		{"refuses half a deposit contract", edit("DEPOSIT_CHAIN_ID: 3151908\n", ""), "DEPOSIT_CHAIN_ID: missing (DEPOSIT_CONTRACT_ADDRESS is set)"},
		{"refuses a short deposit address", edit("0x4242424242424242424242424242424242424242", "0x4242"), "DEPOSIT_CONTRACT_ADDRESS: \"0x4242\" has 4 hex digits, want 40"},
		{"refuses half a genesis time", edit("GENESIS_DELAY: 60\n", ""), "GENESIS_DELAY: missing (MIN_GENESIS_TIME is set)"},
		{"refuses a genesis time out of range", edit("GENESIS_DELAY: 60", "GENESIS_DELAY: 18446744073709551615"), "MIN_GENESIS_TIME + GENESIS_DELAY"},
		{"refuses a bad network name", edit("CONFIG_NAME: 'devnet-7'", "CONFIG_NAME: 'Devnet 7'"), `CONFIG_NAME: "Devnet 7" is not a network name`},
		{"refuses a stale copy of a built-in network", edit("CONFIG_NAME: 'devnet-7'", "CONFIG_NAME: mainnet"), `CONFIG_NAME: "mainnet" names a built-in network, but the config differs from it: preset minimal, want mainnet`},
		{"refuses YAML aliases", devnetConfig + "A: &a [1, 2]\nB: [*a, *a]\n", "YAML anchors and aliases are not supported"},
		{"refuses a config that is not a mapping", "- PRESET_BASE\n", "config is not a mapping"},
		{"refuses an empty config", "", "config is empty"},
		{"refuses text that is not YAML", "PRESET_BASE: [mainnet\n", "not YAML"},
		{"refuses an oversized config", devnetConfig + strings.Repeat("#", network.MaxConfigSize), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := network.ParseConfig([]byte(tc.config), devnetGVR)
			if !errors.Is(err, network.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestParseConfigShortEpochs: devnets run the mainnet preset with 8 slots
// per epoch to finalise sooner; a custom network may, a built-in name may
// not.
func TestParseConfigShortEpochs(t *testing.T) {
	cfg := "PRESET_BASE: mainnet\nCONFIG_NAME: short\nGENESIS_FORK_VERSION: 0x10000038\nSECONDS_PER_SLOT: 3\nSLOTS_PER_EPOCH: 8\n"
	n, err := network.ParseConfig([]byte(cfg), phase0.Root{1})
	if err != nil {
		t.Fatal(err)
	}
	if n.Preset().SlotsPerEpoch != 8 || n.Preset().SyncCommitteeSize != 512 || n.EpochAtSlot(16) != 2 {
		t.Fatalf("preset %+v", n.Preset())
	}
	out, err := n.MarshalConfig()
	if err != nil {
		t.Fatal(err)
	}
	again, err := network.ParseConfig(out, phase0.Root{1})
	if err != nil || again.Preset() != n.Preset() {
		t.Fatalf("round trip: %v %+v\n%s", err, again, out)
	}
	if _, err := network.ParseConfig([]byte(strings.Replace(cfg, "CONFIG_NAME: short", "CONFIG_NAME: mainnet", 1)), phase0.Root{1}); err == nil {
		t.Fatal("a mainnet-named config with 8 slots per epoch was accepted")
	}
}

func TestParseConfigRefusesZeroGenesisValidatorsRoot(t *testing.T) {
	if _, err := network.ParseConfig([]byte(devnetConfig), phase0.Root{}); !errors.Is(err, network.ErrInvalidConfig) {
		t.Fatalf("zero root accepted: %v", err)
	}
}

// A config naming a built-in network must agree with it on every value that
// affects signing: here a mainnet config from before Fulu was scheduled.
func TestParseConfigRefusesStaleMainnetConfig(t *testing.T) {
	mainnet := network.Mainnet()
	data, err := mainnet.MarshalConfig()
	if err != nil {
		t.Fatal(err)
	}
	stale := strings.Replace(string(data), "FULU_FORK_EPOCH: \"411392\"", "FULU_FORK_EPOCH: \"18446744073709551615\"", 1)
	if stale == string(data) {
		t.Fatalf("no FULU_FORK_EPOCH in\n%s", data)
	}
	_, err = network.ParseConfig([]byte(stale), mainnet.GenesisValidatorsRoot())
	if !errors.Is(err, network.ErrInvalidConfig) || !strings.Contains(err.Error(), "FULU is not scheduled, want version 0x06000000 at epoch 411392") {
		t.Fatalf("stale mainnet config: %v", err)
	}
	_, err = network.ParseConfig(data, phase0.Root{1})
	if !errors.Is(err, network.ErrInvalidConfig) || !strings.Contains(err.Error(), "genesis validators root") {
		t.Fatalf("mainnet config with a foreign root: %v", err)
	}
}
