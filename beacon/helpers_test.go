package beacon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
	"github.com/rampart-signer/rampart/internal/network"
)

// testGVR is the genesis validators root of the test network.
var testGVR = phase0.Root{0x7e, 0x57}

// testNetwork is an Electra devnet on the mainnet preset whose genesis was
// an hour ago (slot 1200 now, epoch 37).
func testNetwork(t testing.TB) *network.Network {
	t.Helper()
	return networkWithGenesis(t, time.Now().Add(-time.Hour), testGVR)
}

func networkWithGenesis(t testing.TB, genesis time.Time, gvr phase0.Root) *network.Network {
	t.Helper()
	cfg := fmt.Sprintf(`PRESET_BASE: mainnet
CONFIG_NAME: beacon-test
MIN_GENESIS_TIME: %d
GENESIS_DELAY: 0
GENESIS_FORK_VERSION: 0x10000000
ALTAIR_FORK_VERSION: 0x10000001
ALTAIR_FORK_EPOCH: 0
BELLATRIX_FORK_VERSION: 0x10000002
BELLATRIX_FORK_EPOCH: 0
CAPELLA_FORK_VERSION: 0x10000003
CAPELLA_FORK_EPOCH: 0
DENEB_FORK_VERSION: 0x10000004
DENEB_FORK_EPOCH: 0
ELECTRA_FORK_VERSION: 0x10000005
ELECTRA_FORK_EPOCH: 0
SECONDS_PER_SLOT: 3
`, genesis.Unix())
	n, err := network.ParseConfig([]byte(cfg), gvr)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testKeys are distinct made-up public keys for validators 0..n-1 (the
// client checks duties against them, never their curve membership).
func testKeys(n int) []phase0.BLSPubKey {
	out := make([]phase0.BLSPubKey, n)
	for i := range out {
		out[i][0], out[i][1], out[i][47] = 0xa0, byte(i), byte(i>>8)
	}
	return out
}

func keyMap(keys []phase0.BLSPubKey) map[phase0.ValidatorIndex]phase0.BLSPubKey {
	m := map[phase0.ValidatorIndex]phase0.BLSPubKey{}
	for i, k := range keys {
		m[phase0.ValidatorIndex(i)] = k
	}
	return m
}

// fakeNodes starts n fake nodes on net with 8 validators, head at the
// current slot.
func fakeNodes(t *testing.T, net *network.Network, n int) []*beacontest.Node {
	return fakeNodesB(t, net, n)
}

// fakeNodesB is fakeNodes for benchmarks too.
func fakeNodesB(t testing.TB, net *network.Network, n int) []*beacontest.Node {
	t.Helper()
	var out []*beacontest.Node
	slot := phase0.Slot(time.Since(net.GenesisTime()) / net.SlotDuration())
	for i := 0; i < n; i++ {
		node := beacontest.New(net)
		node.SetValidators(testKeys(8))
		node.SetHead(slot, phase0.Root{0x01})
		t.Cleanup(node.Close)
		out = append(out, node)
	}
	return out
}

// started is a running client and its metrics.
type started struct {
	*beacon.Client
	reg *prometheus.Registry
}

// startClient runs a client over the nodes (named n0, n1, ...) until the
// test ends and waits for its first health round.
func startClient(t *testing.T, net *network.Network, nodes []*beacontest.Node, tweak func(*beacon.Config)) started {
	return startClientTB(t, net, nodes, tweak)
}

// startClientB is startClient for benchmarks.
func startClientB(b *testing.B, net *network.Network, nodes []*beacontest.Node) started {
	return startClientTB(b, net, nodes, nil)
}

func startClientTB(t testing.TB, net *network.Network, nodes []*beacontest.Node, tweak func(*beacon.Config)) started {
	t.Helper()
	cfg := beacon.DefaultConfig()
	cfg.Network = net
	cfg.Timeout = time.Second
	cfg.HealthInterval = time.Hour // rounds only when a test asks
	for i, n := range nodes {
		cfg.Nodes = append(cfg.Nodes, beacon.NodeConfig{Name: fmt.Sprintf("n%d", i), URL: n.URL})
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := beacon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("client never became ready")
	}
	return started{c, reg}
}

// counter returns the value of a counter with the given labels, 0 if
// absent.
func (s started) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func currentEpoch(net *network.Network) phase0.Epoch {
	return net.EpochAtSlot(phase0.Slot(time.Since(net.GenesisTime()) / net.SlotDuration()))
}
