//go:build redteam

package redteam_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/network/networktest"
	"github.com/rampart-signer/rampart/internal/signing"
)

// networkConfig schedules one fork per epoch up to Fulu (epoch 6), so every
// epoch the attacks use is a Fulu epoch. Its genesis time (1600000000)
// lies years in the past, so the wall-clock epoch (about 440,000 in 2026)
// is far above every epoch the attacks use, and a bound by the clock
// refuses none of them.
var networkConfig = networktest.OneForkPerEpoch("rampart-redteam")

const gvrHex = networktest.GVRHex

func parseNetwork() (*network.Network, error) {
	var gvr phase0.Root
	b, err := hex.DecodeString(gvrHex[2:])
	if err != nil {
		return nil, err
	}
	copy(gvr[:], b)
	return network.ParseConfig([]byte(networkConfig), gvr)
}

// wallClockEpoch is the network's current epoch by the clock.
func wallClockEpoch(n *network.Network) uint64 {
	secs := uint64(time.Since(n.GenesisTime()) / time.Second)
	return secs / uint64(n.SlotDuration()/time.Second) / n.Preset().SlotsPerEpoch
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func hexOf(b []byte) string { return "0x" + hex.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// randomRoot draws a root from the suite's seeded source, so a run can be
// repeated with REDTEAM_SEED.
func randomRoot(r *rand.Rand) [32]byte {
	var out [32]byte
	for i := 0; i < 32; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			out[i+j] = byte(v >> (8 * j))
		}
	}
	return out
}

// forkInfo is the fork_info a correct client sends for epoch on n.
var forkInfo = networktest.ForkInfo

// attestationBody is an ATTESTATION request voting source -> target for
// the block root.
func attestationBody(n *network.Network, source, target uint64, root [32]byte) []byte {
	// The slot is the target's first slot, except where that overflows:
	// the attack with target 2^64-2 must reach the signer's epoch checks.
	slot := target * n.Preset().SlotsPerEpoch
	if target > (1<<64-1)/n.Preset().SlotsPerEpoch {
		slot = 1<<64 - 1
	}
	return mustJSON(map[string]any{
		"type": "ATTESTATION", "fork_info": forkInfo(n, target),
		"attestation": map[string]any{
			"slot": u64(slot), "index": "0", "beacon_block_root": hexOf(root[:]),
			"source": map[string]any{"epoch": u64(source), "root": hexOf(make([]byte, 32))},
			"target": map[string]any{"epoch": u64(target), "root": hexOf(root[:])},
		},
	})
}

// blockBody is a BLOCK_V2 request (Fulu header) for slot; root becomes the
// parent root, so two roots make two different blocks of one slot.
func blockBody(n *network.Network, slot uint64, root [32]byte) []byte {
	return mustJSON(map[string]any{
		"type": "BLOCK_V2", "fork_info": forkInfo(n, slot/n.Preset().SlotsPerEpoch),
		"beacon_block": map[string]any{"version": "FULU", "block_header": map[string]any{
			"slot": u64(slot), "proposer_index": "7", "parent_root": hexOf(root[:]),
			"state_root": hexOf(make([]byte, 32)), "body_root": hexOf(root[:]),
		}},
	})
}

// aggregationSlotBody is an AGGREGATION_SLOT request: a selection proof,
// harmless to sign, used to probe who may get signatures.
func aggregationSlotBody(n *network.Network, slot uint64) []byte {
	return mustJSON(map[string]any{
		"type": "AGGREGATION_SLOT", "fork_info": forkInfo(n, slot/n.Preset().SlotsPerEpoch),
		"aggregation_slot": map[string]any{"slot": u64(slot)},
	})
}

// genericBody is a GENERIC request signing object over a domain of type
// domainType (its first four bytes), with the fork version the typed
// request of that domain would use.
func genericBody(n *network.Network, domainType [4]byte, object [32]byte) []byte {
	version := n.ForkAtEpoch(6).Version
	gvr := n.GenesisValidatorsRoot()
	switch domainType {
	case [4]byte{0x03, 0, 0, 0}, [4]byte{0, 0, 0, 0x01}:
		// DEPOSIT and the application builder domain: genesis fork
		// version, zero genesis validators root.
		version, gvr = n.GenesisForkVersion(), phase0.Root{}
	case [4]byte{0x04, 0, 0, 0}:
		// Voluntary exits are signed over Capella for ever (EIP-7044).
		version = n.ForkAtEpoch(3).Version
	}
	d := signing.ComputeDomain(phase0.DomainType(domainType), version, gvr)
	return mustJSON(map[string]any{"type": "GENERIC", "signing_data": map[string]any{
		"object_root": hexOf(object[:]), "domain": hexOf(d[:]),
	}})
}

// batchBody wraps a request for several keys (POST /api/v1/eth2/sign and
// /api/v1/eth2/distributed/sign).
func batchBody(keys []api.PublicKey, request []byte) []byte {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.String()
	}
	return mustJSON(map[string]any{"identifiers": ids, "signing_request": json.RawMessage(request)})
}

// message is a signing request with the signing root an honest signer
// computes for it.
type message struct {
	what string
	body []byte
	root [32]byte
}

// newMessage computes body's signing root with the same code the signers
// run; a request the suite builds wrong is a bug of the suite.
func newMessage(n *network.Network, what string, body []byte) message {
	req, err := signing.ParseRequest(body)
	if err != nil {
		panic(fmt.Sprintf("redteam: %s: %v", what, err))
	}
	sg, err := req.Verify(n)
	if err != nil {
		panic(fmt.Sprintf("redteam: %s: %v", what, err))
	}
	return message{what: what, body: body, root: sg.SigningRoot}
}

func attestation(n *network.Network, source, target uint64, root [32]byte) message {
	return newMessage(n, fmt.Sprintf("attestation %d->%d", source, target), attestationBody(n, source, target, root))
}

func block(n *network.Network, slot uint64, root [32]byte) message {
	return newMessage(n, fmt.Sprintf("block %d", slot), blockBody(n, slot, root))
}
