package network_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// phase0Fork returns the consensus Fork container of a scheduled fork.
func phase0Fork(t testing.TB, n *network.Network, name spec.DataVersion) phase0.Fork {
	t.Helper()
	f, ok := n.Fork(name)
	if !ok {
		t.Fatalf("%s does not schedule %s", n.Name(), name)
	}
	return phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch}
}

func TestCheckForkInfo(t *testing.T) {
	mainnet, sepolia, hoodi := network.Mainnet(), network.Sepolia(), network.Hoodi()
	mainnetGVR := mainnet.GenesisValidatorsRoot()
	electra := phase0Fork(t, mainnet, spec.DataVersionElectra)
	fulu := phase0Fork(t, mainnet, spec.DataVersionFulu)
	const fuluEpoch, inFulu = 411392, 420000

	withEpoch := func(f phase0.Fork, e phase0.Epoch) phase0.Fork { f.Epoch = e; return f }
	withPrev := func(f phase0.Fork, v phase0.Version) phase0.Fork { f.PreviousVersion = v; return f }

	for _, tc := range []struct {
		name    string
		n       *network.Network
		fork    phase0.Fork
		gvr     phase0.Root
		epoch   phase0.Epoch
		wantErr error
		wantMsg string
	}{
		{name: "accepts the fork in effect at the epoch", n: mainnet, fork: fulu, gvr: mainnetGVR, epoch: inFulu},
		{name: "accepts the fork at its first epoch", n: mainnet, fork: fulu, gvr: mainnetGVR, epoch: fuluEpoch},
		{name: "accepts the new fork for a message of the epoch before it", n: mainnet, fork: fulu, gvr: mainnetGVR, epoch: fuluEpoch - 1},
		{name: "accepts the old fork for a message of its last epoch", n: mainnet, fork: electra, gvr: mainnetGVR, epoch: fuluEpoch - 1},
		{name: "accepts phase0 at genesis", n: mainnet, fork: phase0Fork(t, mainnet, spec.DataVersionPhase0), gvr: mainnetGVR, epoch: 5},
		{name: "accepts lodestar's fork epoch set to the message epoch", n: mainnet, fork: withEpoch(fulu, inFulu), gvr: mainnetGVR, epoch: inFulu},
		{name: "accepts a genesis fork recorded with its own previous version", n: hoodi, fork: withPrev(phase0Fork(t, hoodi, spec.DataVersionDeneb), phase0.Version{0x50, 0x00, 0x09, 0x10}), gvr: hoodi.GenesisValidatorsRoot(), epoch: 100},
		{name: "accepts sepolia's gloas fork", n: sepolia, fork: phase0Fork(t, sepolia, spec.DataVersionGloas), gvr: sepolia.GenesisValidatorsRoot(), epoch: 360000},

		{name: "refuses the wrong genesis validators root", n: mainnet, fork: fulu, gvr: sepolia.GenesisValidatorsRoot(), epoch: inFulu,
			wantErr: network.ErrGenesisValidatorsRoot, wantMsg: "fork_info.genesis_validators_root is 0xd8ea171f"},
		{name: "refuses a fork from another network", n: mainnet, fork: phase0Fork(t, sepolia, spec.DataVersionFulu), gvr: mainnetGVR, epoch: inFulu,
			wantErr: network.ErrUnknownFork, wantMsg: "fork_info.fork.current_version 0x90000075 is not a fork version of network mainnet"},
		{name: "refuses another network's fork with this network's root", n: sepolia, fork: fulu, gvr: sepolia.GenesisValidatorsRoot(), epoch: 300000,
			wantErr: network.ErrUnknownFork},
		{name: "refuses a wrong previous version", n: mainnet, fork: withPrev(fulu, phase0.Version{0x04}), gvr: mainnetGVR, epoch: inFulu,
			wantErr: network.ErrUnknownFork, wantMsg: "fork_info.fork.previous_version is 0x04000000, but network mainnet schedules 0x05000000 before FULU"},
		{name: "refuses a fork epoch that is neither the fork's nor the message's", n: mainnet, fork: withEpoch(fulu, 400000), gvr: mainnetGVR, epoch: inFulu,
			wantErr: network.ErrUnknownFork, wantMsg: "fork_info.fork.epoch is 400000, but network mainnet activates FULU (0x06000000) at epoch 411392"},
		{name: "refuses the message epoch as fork epoch when the fork is not in effect then", n: mainnet, fork: withEpoch(fulu, 300000), gvr: mainnetGVR, epoch: 300000,
			wantErr: network.ErrUnknownFork},
		{name: "refuses a past fork for a message after the next fork", n: mainnet, fork: electra, gvr: mainnetGVR, epoch: inFulu,
			wantErr: network.ErrWrongFork, wantMsg: "fork_info selects version 0x05000000 for epoch 420000, but network mainnet is in FULU (0x06000000) at that epoch"},
		{name: "refuses a future fork for a message two forks earlier", n: mainnet, fork: fulu, gvr: mainnetGVR, epoch: 300000,
			wantErr: network.ErrWrongFork, wantMsg: "selects version 0x05000000 for epoch 300000, but network mainnet is in DENEB (0x04000000)"},
		{name: "refuses fulu on a network that does not schedule it", n: hoodi, fork: phase0.Fork{PreviousVersion: phase0.Version{0x60, 0, 0x09, 0x10}, CurrentVersion: phase0.Version{0x80, 0, 0x09, 0x10}, Epoch: 60000}, gvr: hoodi.GenesisValidatorsRoot(), epoch: 60000,
			wantErr: network.ErrUnknownFork},
		{name: "refuses a superseded genesis fork on a network that forked at genesis", n: hoodi, fork: phase0Fork(t, hoodi, spec.DataVersionAltair), gvr: hoodi.GenesisValidatorsRoot(), epoch: 10,
			wantErr: network.ErrWrongFork},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.n.CheckForkInfo(tc.fork, tc.gvr, tc.epoch)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}
