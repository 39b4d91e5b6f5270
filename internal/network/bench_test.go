package network_test

import (
	"os"
	"testing"

	"github.com/attestantio/go-eth2-client/spec"

	"github.com/rampart-signer/rampart/internal/network"
)

func BenchmarkCheckForkInfo(b *testing.B) {
	n := network.Mainnet()
	f, _ := n.Fork(spec.DataVersionFulu)
	fork := phase0Fork(b, n, f.Name)
	gvr := n.GenesisValidatorsRoot()
	for b.Loop() {
		if err := n.CheckForkInfo(fork, gvr, 420000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMainnetConfig(b *testing.B) {
	data, err := os.ReadFile("testdata/mainnet.yaml")
	if err != nil {
		b.Fatal(err)
	}
	gvr := network.Mainnet().GenesisValidatorsRoot()
	for b.Loop() {
		if _, err := network.ParseConfig(data, gvr); err != nil {
			b.Fatal(err)
		}
	}
}
