// Package networktest holds the test network the daemon's tests and the
// red team's attacks run on. It is for tests only.
package networktest

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// oneForkPerEpoch is OneForkPerEpoch's configuration, CONFIG_NAME aside.
const oneForkPerEpoch = `PRESET_BASE: mainnet
CONFIG_NAME: {{name}}
MIN_GENESIS_TIME: 1600000000
GENESIS_DELAY: 0
GENESIS_FORK_VERSION: 0x10000038
ALTAIR_FORK_VERSION: 0x20000038
ALTAIR_FORK_EPOCH: 1
BELLATRIX_FORK_VERSION: 0x30000038
BELLATRIX_FORK_EPOCH: 2
CAPELLA_FORK_VERSION: 0x40000038
CAPELLA_FORK_EPOCH: 3
DENEB_FORK_VERSION: 0x50000038
DENEB_FORK_EPOCH: 4
ELECTRA_FORK_VERSION: 0x60000038
ELECTRA_FORK_EPOCH: 5
FULU_FORK_VERSION: 0x70000038
FULU_FORK_EPOCH: 6
SECONDS_PER_SLOT: 12
`

// OneForkPerEpoch is the configuration (config.yaml) of a mainnet-preset
// network, named name, that schedules one fork per epoch, Altair at 1 to
// Fulu at 6, so that a request of every fork can be made valid by choosing
// its epoch. Its genesis time (1600000000) lies years in the past, so the
// wall-clock epoch is far above every epoch a test uses.
func OneForkPerEpoch(name string) string {
	return strings.Replace(oneForkPerEpoch, "{{name}}", name, 1)
}

// GVRHex is the genesis validators root the tests give the network.
const GVRHex = "0x5a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a55a5aa5a5"

// ForkInfo is the fork_info a correct client sends with a request for
// epoch on n.
func ForkInfo(n *network.Network, epoch uint64) map[string]any {
	f := n.ForkAtEpoch(phase0.Epoch(epoch))
	return map[string]any{
		"fork": map[string]any{
			"previous_version": "0x" + hex.EncodeToString(f.PreviousVersion[:]),
			"current_version":  "0x" + hex.EncodeToString(f.Version[:]),
			"epoch":            strconv.FormatUint(uint64(f.Epoch), 10),
		},
		"genesis_validators_root": n.GenesisValidatorsRoot().String(),
	}
}
