package beacon_test

import (
	"context"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
	"github.com/rampart-signer/rampart/internal/network"
)

// Example shows the life of a client: configure, Run, wait for Ready, then
// ask for duties and attestation data. Two fake nodes stand in for real
// ones and see different heads (so different targets): a genuine split,
// which goes to the preferred node, and the other is reported.
func Example() {
	genesis := time.Now().Add(-time.Hour).Truncate(time.Second)
	net, err := network.ParseConfig([]byte(fmt.Sprintf(`PRESET_BASE: mainnet
CONFIG_NAME: example
MIN_GENESIS_TIME: %d
GENESIS_DELAY: 0
GENESIS_FORK_VERSION: 0x10000000
SECONDS_PER_SLOT: 12
`, genesis.Unix())), phase0.Root{0x01})
	if err != nil {
		panic(err)
	}
	keys := []phase0.BLSPubKey{{0xa1}, {0xa2}}
	a, b := beacontest.New(net), beacontest.New(net)
	defer a.Close()
	defer b.Close()
	for _, n := range []*beacontest.Node{a, b} {
		n.SetValidators(keys)
	}
	a.SetHead(299, phase0.Root{0x0a})
	b.SetHead(300, phase0.Root{0x0b})

	cfg := beacon.DefaultConfig()
	cfg.Network = net
	cfg.Nodes = []beacon.NodeConfig{{Name: "primary", URL: a.URL}, {Name: "backup", URL: b.URL}}
	client, err := beacon.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- client.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-client.Ready()

	duties, err := client.AttesterDuties(ctx, 9, map[phase0.ValidatorIndex]phase0.BLSPubKey{0: keys[0], 1: keys[1]})
	if err != nil {
		panic(err)
	}
	fmt.Println("attester duties:", len(duties.Duties))

	data, err := client.AttestationData(ctx, 299, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("attestation data from %s, %d of %d agreeing, disagreeing %v\n", data.Node, data.Agreeing, data.Answered, data.Disagreeing)
	// Output:
	// attester duties: 2
	// attestation data from primary, 1 of 2 agreeing, disagreeing [backup]
}
