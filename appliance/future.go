package appliance

import (
	"fmt"
	"time"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// Far-future messages. One attestation with target 2^64-2, once signed and
// recorded, surrounds every honest attestation after it, and a block at slot
// 2^64-1 or an imported far-future record ends, once pruned, in a watermark
// above every honest message. So each step that decides bounds blocks,
// attestations and aggregates by the network's wall clock: the coordinator
// (to fail fast), each participant (each signer decides for itself) with
// signing.Request.CheckFuture, and the slashing database itself
// (protect.Config.Limit) for every approval and import, whoever calls it.

// maxFutureEpochs caps slashing.future_epochs: the allowance exists for
// clock skew, and each epoch of it is an epoch a poisoned record could
// stop the validator for.
const maxFutureEpochs = 1024

// checkGenesisKnown refuses to run on a network whose genesis time is
// unknown: the signer could not tell the current epoch, so it could bound
// nothing by the clock.
func checkGenesisKnown(cfg *Config, n *network.Network) error {
	if !n.EarliestGenesisTime().IsZero() {
		return nil
	}
	return fmt.Errorf("network.config %s gives neither MIN_GENESIS_TIME nor GENESIS_DELAY, so this signer cannot tell the current epoch and could not refuse far-future blocks and attestations: add both keys to the config, or set network.genesis_time to the genesis_time the network's beacon nodes report (/eth/v1/beacon/genesis)", cfg.Network.Config)
}

// describeGenesis says what the current epoch is counted from, for the
// start-up log.
func describeGenesis(n *network.Network) string {
	g := n.EarliestGenesisTime().UTC().Format(time.RFC3339)
	if n.GenesisTimeExact() {
		return g + " (exact)"
	}
	return g + " (the config's MIN_GENESIS_TIME, the earliest genesis it allows: if this network started later than MIN_GENESIS_TIME + GENESIS_DELAY, set network.genesis_time for a tighter bound)"
}

// futureLimit is slashing protection's limit at the signer's clock: the
// same horizon the request checks use.
func (a *Appliance) futureLimit() protect.Limit {
	h, err := signing.HorizonAt(a.net, a.now(), a.cfg.Slashing.FutureEpochs)
	if err != nil {
		// Unreachable after checkGenesisKnown; refuse all but epoch 0.
		return protect.Limit{Epoch: 0, Why: err.Error()}
	}
	return protect.Limit{Epoch: uint64(h.Last()), Why: h.String()}
}
