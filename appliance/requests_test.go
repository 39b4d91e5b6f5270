package appliance_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/network/networktest"
	"github.com/rampart-signer/rampart/internal/signing"
)

// testNetworkConfig schedules one fork per epoch, so a request of every
// fork can be made valid by choosing its epoch.
var testNetworkConfig = networktest.OneForkPerEpoch("rampart-appliance-test")

const testGVR = networktest.GVRHex

// forkEpochs is the epoch at which each version of testNetworkConfig starts.
var forkEpochs = []struct {
	version string
	epoch   uint64
}{{"PHASE0", 0}, {"ALTAIR", 1}, {"BELLATRIX", 2}, {"CAPELLA", 3}, {"DENEB", 4}, {"ELECTRA", 5}, {"FULU", 6}}

func hexRoot(b byte) string { return "0x" + strings.Repeat(fmt.Sprintf("%02x", b), 32) }

const testSig = "0x8f5c34de9e22ceaa7e8d165fc0553b32f02188539e89e2cc91e2eb9077645986550d872ee3403204ae5d554eae3cac12124e18d2324bccc814775316aaef352abc0450812b3ca9fde96ecafa911b3b8bfddca8db4027f08e29c22a9c370ad933"

func u(v uint64) string { return fmt.Sprintf("%d", v) }

// forkInfo is the fork_info a correct client sends for epoch on n.
var forkInfo = networktest.ForkInfo

func attestationData(slot, source, target uint64, root byte) map[string]any {
	return map[string]any{
		"slot": u(slot), "index": "0", "beacon_block_root": hexRoot(root),
		"source": map[string]any{"epoch": u(source), "root": hexRoot(1)},
		"target": map[string]any{"epoch": u(target), "root": hexRoot(root)},
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// attestationRequest is an ATTESTATION request.
func attestationRequest(n *network.Network, source, target uint64, root byte) []byte {
	return mustJSON(map[string]any{
		"type": "ATTESTATION", "fork_info": forkInfo(n, target),
		"attestation": attestationData(target*32, source, target, root),
	})
}

// blockRequest is a BLOCK_V2 request (header) for slot.
func blockRequest(n *network.Network, slot uint64, root byte) []byte {
	epoch := slot / 32
	version := forkEpochs[min(int(epoch), len(forkEpochs)-1)].version
	return mustJSON(map[string]any{
		"type": "BLOCK_V2", "fork_info": forkInfo(n, epoch),
		"beacon_block": map[string]any{"version": version, "block_header": map[string]any{
			"slot": u(slot), "proposer_index": "7", "parent_root": hexRoot(root), "state_root": hexRoot(2), "body_root": hexRoot(3),
		}},
	})
}

// everyRequest returns one request of every type and, for versioned types,
// of every version, named for the test.
func everyRequest(n *network.Network, pubkey string) map[string][]byte {
	out := map[string][]byte{}
	fulu := uint64(6)
	out["AGGREGATION_SLOT"] = mustJSON(map[string]any{"type": "AGGREGATION_SLOT", "fork_info": forkInfo(n, fulu), "aggregation_slot": map[string]any{"slot": u(fulu*32 + 1)}})
	out["RANDAO_REVEAL"] = mustJSON(map[string]any{"type": "RANDAO_REVEAL", "fork_info": forkInfo(n, fulu), "randao_reveal": map[string]any{"epoch": u(fulu)}})
	out["VOLUNTARY_EXIT (capella)"] = mustJSON(map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo(n, 3), "voluntary_exit": map[string]any{"epoch": "3", "validator_index": "9"}})
	out["VOLUNTARY_EXIT (fulu, EIP-7044)"] = mustJSON(map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo(n, fulu), "voluntary_exit": map[string]any{"epoch": u(fulu), "validator_index": "9"}})
	out["SYNC_COMMITTEE_MESSAGE"] = mustJSON(map[string]any{"type": "SYNC_COMMITTEE_MESSAGE", "fork_info": forkInfo(n, fulu), "sync_committee_message": map[string]any{"beacon_block_root": hexRoot(4), "slot": u(fulu * 32)}})
	out["SYNC_COMMITTEE_SELECTION_PROOF"] = mustJSON(map[string]any{"type": "SYNC_COMMITTEE_SELECTION_PROOF", "fork_info": forkInfo(n, fulu), "sync_aggregator_selection_data": map[string]any{"slot": u(fulu * 32), "subcommittee_index": "1"}})
	out["SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF"] = mustJSON(map[string]any{"type": "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", "fork_info": forkInfo(n, fulu), "contribution_and_proof": map[string]any{
		"aggregator_index": "11", "selection_proof": testSig,
		"contribution": map[string]any{"slot": u(fulu * 32), "beacon_block_root": hexRoot(5), "subcommittee_index": "1", "aggregation_bits": "0x" + strings.Repeat("00", 15) + "01", "signature": testSig},
	}})
	out["VALIDATOR_REGISTRATION"] = mustJSON(map[string]any{"type": "VALIDATOR_REGISTRATION", "validator_registration": map[string]any{
		"fee_recipient": "0x" + strings.Repeat("ab", 20), "gas_limit": "30000000", "timestamp": "1700000000", "pubkey": pubkey}})
	out["DEPOSIT"] = mustJSON(map[string]any{"type": "DEPOSIT", "deposit": map[string]any{
		"pubkey": pubkey, "withdrawal_credentials": "0x01" + strings.Repeat("00", 11) + strings.Repeat("ab", 20), "amount": "32000000000", "genesis_fork_version": "0x10000038"}})
	f := n.ForkAtEpoch(phase0.Epoch(fulu))
	domain := signing.ComputeDomain(phase0.DomainType{'t', 'e', 's', 't'}, f.Version, n.GenesisValidatorsRoot())
	out["GENERIC (a domain without a typed request)"] = mustJSON(map[string]any{"type": "GENERIC", "signing_data": map[string]any{"object_root": hexRoot(6), "domain": "0x" + hex.EncodeToString(domain[:])}})
	for _, fe := range forkEpochs {
		slot := fe.epoch*32 + 2
		out["BLOCK_V2 ("+fe.version+")"] = blockRequest(n, slot, 0x20+byte(fe.epoch))
		agg := map[string]any{"aggregation_bits": "0x03", "data": attestationData(slot, fe.epoch, fe.epoch, 7), "signature": testSig}
		if fe.epoch >= 5 {
			agg["committee_bits"] = "0x0100000000000000"
		}
		out["AGGREGATE_AND_PROOF_V2 ("+fe.version+")"] = mustJSON(map[string]any{"type": "AGGREGATE_AND_PROOF_V2", "fork_info": forkInfo(n, fe.epoch),
			"aggregate_and_proof": map[string]any{"version": fe.version, "data": map[string]any{"aggregator_index": "1", "aggregate": agg, "selection_proof": testSig}}})
	}
	out["AGGREGATE_AND_PROOF (deprecated, phase0)"] = mustJSON(map[string]any{"type": "AGGREGATE_AND_PROOF", "fork_info": forkInfo(n, 0),
		"aggregate_and_proof": map[string]any{"aggregator_index": "1", "aggregate": map[string]any{"aggregation_bits": "0x03", "data": attestationData(3, 0, 0, 8), "signature": testSig}, "selection_proof": testSig}})
	out["BLOCK (deprecated, phase0 full block)"] = mustJSON(map[string]any{"type": "BLOCK", "fork_info": forkInfo(n, 0), "block": map[string]any{
		"slot": "5", "proposer_index": "7", "parent_root": hexRoot(9), "state_root": hexRoot(10),
		"body": map[string]any{
			"randao_reveal": testSig, "eth1_data": map[string]any{"deposit_root": hexRoot(11), "deposit_count": "0", "block_hash": hexRoot(12)},
			"graffiti": hexRoot(0), "proposer_slashings": []any{}, "attester_slashings": []any{}, "attestations": []any{}, "deposits": []any{}, "voluntary_exits": []any{},
		}}})
	out["ATTESTATION"] = attestationRequest(n, fulu-1, fulu, 0x30)
	return out
}

func mustNetwork(t testing.TB) *network.Network {
	var gvr phase0.Root
	copy(gvr[:], mustHex(testGVR))
	n, err := network.ParseConfig([]byte(testNetworkConfig), gvr)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
