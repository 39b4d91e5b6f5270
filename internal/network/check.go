package network

import (
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// CheckForkInfo reports whether a signing request's fork_info belongs to
// this network for a message of the given epoch. The error names the
// fork_info field at fault and what the network expected. It checks:
//
//  1. genesis_validators_root is the network's ([ErrGenesisValidatorsRoot]);
//  2. fork is one of the network's scheduled forks: current_version is a
//     fork version of the network, previous_version the version scheduled
//     before it, and epoch its activation epoch ([ErrUnknownFork]);
//  3. the version fork selects for the message (previous_version if the
//     message epoch is before fork.epoch, else current_version) is the one
//     the network schedules at the message epoch ([ErrWrongFork]).
//
// Two deviations that change no signing root are accepted because real
// validator clients send them: Lodestar puts the message epoch, not the
// fork's activation epoch, in fork.epoch (accepted when the fork is the one
// in effect at that epoch); and for a fork active from genesis the previous
// version may be that of any fork also active from genesis, as a genesis
// state records it.
func (n *Network) CheckForkInfo(fork phase0.Fork, gvr phase0.Root, epoch phase0.Epoch) error {
	if gvr != n.gvr {
		return fmt.Errorf("%w: fork_info.genesis_validators_root is %#x, network %s has %#x",
			ErrGenesisValidatorsRoot, gvr, n.name, n.gvr)
	}
	k := -1
	for i, f := range n.forks {
		if f.Version == fork.CurrentVersion {
			k = i
		}
	}
	if k < 0 {
		return fmt.Errorf("%w: fork_info.fork.current_version %#x is not a fork version of network %s",
			ErrUnknownFork, fork.CurrentVersion, n.name)
	}
	f := n.forks[k]
	if fork.PreviousVersion != f.PreviousVersion && !(f.Epoch == 0 && n.activeAtGenesis(fork.PreviousVersion)) {
		return fmt.Errorf("%w: fork_info.fork.previous_version is %#x, but network %s schedules %#x before %s (%#x)",
			ErrUnknownFork, fork.PreviousVersion, n.name, f.PreviousVersion, forkLabel(f), f.Version)
	}
	if fork.Epoch != f.Epoch && !(fork.Epoch == epoch && n.forkIndexAt(epoch) == k) {
		return fmt.Errorf("%w: fork_info.fork.epoch is %d, but network %s activates %s (%#x) at epoch %d",
			ErrUnknownFork, fork.Epoch, n.name, forkLabel(f), f.Version, f.Epoch)
	}
	selected := fork.CurrentVersion
	if epoch < fork.Epoch {
		selected = fork.PreviousVersion
	}
	if want := n.ForkAtEpoch(epoch); selected != want.Version {
		return fmt.Errorf("%w: fork_info selects version %#x for epoch %d, but network %s is in %s (%#x) at that epoch",
			ErrWrongFork, selected, epoch, n.name, forkLabel(want), want.Version)
	}
	return nil
}

// activeAtGenesis reports whether v is the version of a fork scheduled at
// epoch 0.
func (n *Network) activeAtGenesis(v phase0.Version) bool {
	for _, f := range n.forks {
		if f.Epoch == 0 && f.Version == v {
			return true
		}
	}
	return false
}
