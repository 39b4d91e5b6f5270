package networktest_test

import (
	"encoding/hex"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/network/networktest"
)

// The test network parses, carries its name and schedules Altair at 1 to
// Fulu at 6, one fork per epoch.
func TestOneForkPerEpochParses(t *testing.T) {
	var gvr phase0.Root
	if _, err := hex.Decode(gvr[:], []byte(networktest.GVRHex[2:])); err != nil {
		t.Fatal(err)
	}
	n, err := network.ParseConfig([]byte(networktest.OneForkPerEpoch("rampart-test")), gvr)
	if err != nil {
		t.Fatal(err)
	}
	if n.Name() != "rampart-test" {
		t.Errorf("name %q, want rampart-test", n.Name())
	}
	for epoch := phase0.Epoch(1); epoch <= 6; epoch++ {
		if f := n.ForkAtEpoch(epoch); f.Epoch != epoch {
			t.Errorf("epoch %d is in the fork of epoch %d, want a fork starting there", epoch, f.Epoch)
		}
	}
}
