package network_test

import (
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// A custom config's genesis is estimated at MIN_GENESIS_TIME +
// GENESIS_DELAY, but the earliest it can be is MIN_GENESIS_TIME (mainnet's
// was 23 seconds after it), and bounds that must never refuse honest
// messages count from the earliest.
func TestGenesisTimeOfACustomConfig(t *testing.T) {
	n, err := network.ParseConfig([]byte(devnetConfig), devnetGVR)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.GenesisTime().Unix(); got != 1700000060 {
		t.Errorf("GenesisTime %d, want MIN_GENESIS_TIME + GENESIS_DELAY 1700000060", got)
	}
	if got := n.EarliestGenesisTime().Unix(); got != 1700000000 {
		t.Errorf("EarliestGenesisTime %d, want MIN_GENESIS_TIME 1700000000", got)
	}
	if n.GenesisTimeExact() {
		t.Error("a derived genesis time is reported exact")
	}
	epoch := 6 * time.Second * 8 // minimal preset: 8 slots of 6 s
	for _, tc := range []struct {
		at   time.Time
		want phase0.Epoch
	}{
		{time.Unix(1600000000, 0), 0},
		{time.Unix(1700000000, 0), 0},
		{time.Unix(1700000000, 0).Add(epoch - time.Nanosecond), 0},
		{time.Unix(1700000000, 0).Add(epoch), 1},
		{time.Unix(1700000000, 0).Add(1000*epoch + time.Second), 1000},
	} {
		got, ok := n.LatestEpochAt(tc.at)
		if !ok || got != tc.want {
			t.Errorf("LatestEpochAt(%v) = %d, %v; want %d", tc.at, got, ok, tc.want)
		}
	}

	exact, err := n.WithGenesisTime(time.Unix(1750000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !exact.GenesisTimeExact() || exact.GenesisTime().Unix() != 1750000000 || exact.EarliestGenesisTime().Unix() != 1750000000 {
		t.Fatalf("with genesis time: %v %v %v", exact.GenesisTimeExact(), exact.GenesisTime(), exact.EarliestGenesisTime())
	}
	if n.GenesisTime().Unix() != 1700000060 {
		t.Fatal("WithGenesisTime changed the original")
	}
	if got, _ := exact.LatestEpochAt(time.Unix(1750000000, 0).Add(3 * epoch)); got != 3 {
		t.Errorf("epoch 3 epochs after the given genesis: %d", got)
	}
	if _, err := n.WithGenesisTime(time.Unix(1699999999, 0)); err == nil || !strings.Contains(err.Error(), "before the config's MIN_GENESIS_TIME 1700000000") {
		t.Errorf("genesis before MIN_GENESIS_TIME: %v", err)
	}

	// MarshalConfig keeps both.
	for _, m := range []*network.Network{n, exact} {
		data, err := m.MarshalConfig()
		if err != nil {
			t.Fatal(err)
		}
		again, err := network.ParseConfig(data, devnetGVR)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Equal(m) {
			t.Errorf("round trip of\n%s\ngave genesis %v earliest %v", data, again.GenesisTime(), again.EarliestGenesisTime())
		}
	}
}

func TestGenesisTimeUnknownWithoutMinGenesisTime(t *testing.T) {
	cfg := "PRESET_BASE: mainnet\nCONFIG_NAME: nogenesis\nGENESIS_FORK_VERSION: 0x10000038\nSECONDS_PER_SLOT: 12\n"
	n, err := network.ParseConfig([]byte(cfg), phase0.Root{1})
	if err != nil {
		t.Fatal(err)
	}
	if !n.GenesisTime().IsZero() || !n.EarliestGenesisTime().IsZero() {
		t.Fatalf("genesis %v, earliest %v", n.GenesisTime(), n.EarliestGenesisTime())
	}
	if _, ok := n.LatestEpochAt(time.Now()); ok {
		t.Fatal("an epoch without a genesis time")
	}
	given, err := n.WithGenesisTime(time.Unix(1750000000, 0))
	if err != nil || given.EarliestGenesisTime().Unix() != 1750000000 {
		t.Fatalf("given genesis: %v %v", err, given)
	}
}

func TestBuiltinGenesisTimesAreExact(t *testing.T) {
	for _, name := range network.BuiltinNames() {
		n, _ := network.Builtin(name)
		if !n.GenesisTimeExact() || !n.EarliestGenesisTime().Equal(n.GenesisTime()) {
			t.Errorf("%s: exact %v, earliest %v, genesis %v", name, n.GenesisTimeExact(), n.EarliestGenesisTime(), n.GenesisTime())
		}
		if same, err := n.WithGenesisTime(n.GenesisTime()); err != nil || same.GenesisTime() != n.GenesisTime() {
			t.Errorf("%s: its own genesis time: %v", name, err)
		}
		if _, err := n.WithGenesisTime(n.GenesisTime().Add(time.Second)); err == nil || !strings.Contains(err.Error(), "built-in network "+name) {
			t.Errorf("%s: another genesis time: %v", name, err)
		}
		if got, ok := network.BuiltinByGenesisValidatorsRoot(n.GenesisValidatorsRoot()); !ok || got.Name() != name {
			t.Errorf("%s: by its root: %v %v", name, got, ok)
		}
	}
	if _, ok := network.BuiltinByGenesisValidatorsRoot(phase0.Root{1}); ok {
		t.Error("a made-up root names a built-in network")
	}
	// Mainnet's genesis came 23 seconds after MIN_GENESIS_TIME, long
	// before MIN_GENESIS_TIME + GENESIS_DELAY: the epoch at mainnet's
	// genesis + 100 epochs is 100 from the exact time.
	m := network.Mainnet()
	if got, _ := m.LatestEpochAt(m.GenesisTime().Add(100 * 32 * 12 * time.Second)); got != 100 {
		t.Errorf("mainnet epoch: %d", got)
	}
}
