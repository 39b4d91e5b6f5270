package beacon_test

import (
	"context"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// BenchmarkAttestationDataThreeNodes: one attestation data decision over
// three fake nodes on loopback HTTP (fan-out, validation, selection).
func BenchmarkAttestationDataThreeNodes(b *testing.B) {
	net := testNetwork(b)
	nodes := fakeNodesB(b, net, 3)
	c := startClientB(b, net, nodes)
	slot := phase0.Slot(time.Since(net.GenesisTime())/net.SlotDuration()) - 1
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.AttestationData(context.Background(), slot, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttesterDutiesThreeNodes: one epoch's attester duties of 8
// validators from the first of three nodes.
func BenchmarkAttesterDutiesThreeNodes(b *testing.B) {
	net := testNetwork(b)
	nodes := fakeNodesB(b, net, 3)
	c := startClientB(b, net, nodes)
	keys := keyMap(testKeys(8))
	epoch := currentEpoch(net)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.AttesterDuties(context.Background(), epoch, keys); err != nil {
			b.Fatal(err)
		}
	}
}
