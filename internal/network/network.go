package network

import (
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// FarFutureEpoch is FAR_FUTURE_EPOCH, the epoch configs give a fork that is
// not scheduled.
const FarFutureEpoch = phase0.Epoch(1<<64 - 1)

// Fork is one entry of a network's fork schedule, in the shape of the
// consensus Fork container plus the fork's name.
type Fork struct {
	// Name identifies the fork (phase0, altair, ...).
	Name spec.DataVersion
	// PreviousVersion is the version of the fork before this one; for
	// phase0 it equals Version.
	PreviousVersion phase0.Version
	// Version is the fork version.
	Version phase0.Version
	// Epoch is the activation epoch.
	Epoch phase0.Epoch
}

// Network is an Ethereum network and its fork schedule. It is immutable:
// methods return copies, so one value can be shared between goroutines.
type Network struct {
	name    string
	builtin bool
	preset  Preset
	gvr     phase0.Root
	// genesisTime is zero when unknown (a custom config without
	// MIN_GENESIS_TIME).
	genesisTime time.Time
	// minGenesisTime is a custom config's MIN_GENESIS_TIME, the earliest
	// genesis the config allows (zero when unknown).
	minGenesisTime time.Time
	// genesisExact is set when genesisTime was given explicitly
	// (WithGenesisTime) rather than derived from the config.
	genesisExact bool
	slotDuration time.Duration
	// hasDeposit is false when a custom config names no deposit contract.
	hasDeposit      bool
	depositChainID  uint64
	depositContract bellatrix.ExecutionAddress
	// forks holds the scheduled forks in specification order with
	// non-decreasing epochs; forks[0] is phase0 at epoch 0.
	forks []Fork
	// extra holds the config keys this package does not interpret.
	extra map[string]extraValue
}

// Name returns the network's name: the built-in name, or CONFIG_NAME of a
// custom config ("custom" when it has none).
func (n *Network) Name() string { return n.name }

// Builtin reports whether n is one of the built-in networks (or a config
// that reproduces one exactly).
func (n *Network) Builtin() bool { return n.builtin }

// Preset returns the preset constants of the network.
func (n *Network) Preset() Preset { return n.preset }

// GenesisValidatorsRoot returns the root mixed into every domain except
// DEPOSIT and the builder's.
func (n *Network) GenesisValidatorsRoot() phase0.Root { return n.gvr }

// GenesisForkVersion returns the phase0 fork version (GENESIS_FORK_VERSION),
// which DEPOSIT and VALIDATOR_REGISTRATION domains use.
func (n *Network) GenesisForkVersion() phase0.Version { return n.forks[0].Version }

// GenesisTime returns the time of slot 0. For a custom network it is
// MIN_GENESIS_TIME + GENESIS_DELAY, exact for networks launched at their
// minimum genesis time (devnets, Sepolia, Hoodi), unless the genesis time
// was given explicitly ([Network.WithGenesisTime]); it is the zero time
// when the config gives neither key.
func (n *Network) GenesisTime() time.Time { return n.genesisTime }

// GenesisTimeExact reports whether GenesisTime is known exactly: a built-in
// network's, or one given with [Network.WithGenesisTime].
func (n *Network) GenesisTimeExact() bool { return n.builtin || n.genesisExact }

// EarliestGenesisTime returns the earliest time slot 0 can have begun.
// It is GenesisTime when that is exact. For a custom config it is
// MIN_GENESIS_TIME: the consensus specification refuses a genesis state
// before it, while MIN_GENESIS_TIME + GENESIS_DELAY is only an estimate (a
// genesis triggered by deposits comes GENESIS_DELAY after the triggering
// eth1 block, which may precede MIN_GENESIS_TIME: mainnet's came 23 seconds
// after MIN_GENESIS_TIME, not 7 days). Bounds that must never refuse an
// honest message count epochs from it: an earlier genesis only makes them
// looser. It is the zero time when unknown.
func (n *Network) EarliestGenesisTime() time.Time {
	if n.GenesisTimeExact() {
		return n.genesisTime
	}
	return n.minGenesisTime
}

// LatestEpochAt returns the latest epoch that can be in progress at t: the
// epochs elapsed since EarliestGenesisTime (0 before it). ok is false when
// the genesis time is unknown.
func (n *Network) LatestEpochAt(t time.Time) (epoch phase0.Epoch, ok bool) {
	g := n.EarliestGenesisTime()
	if g.IsZero() {
		return 0, false
	}
	if !t.After(g) {
		return 0, true
	}
	// Durations saturate 292 years after genesis, far beyond any clock
	// this runs under. An epoch lasts at most 65536 slots of a day.
	return phase0.Epoch(uint64(t.Sub(g)) / (uint64(n.slotDuration) * n.preset.SlotsPerEpoch)), true
}

// WithGenesisTime returns a copy of n whose genesis time is t, exactly, for
// custom networks whose genesis is not MIN_GENESIS_TIME + GENESIS_DELAY
// (devnets started at another time, or launched by deposits). A built-in
// network knows its genesis time, so t must equal it; a custom config's
// MIN_GENESIS_TIME, if given, must not be after t (no genesis state can be
// earlier).
func (n *Network) WithGenesisTime(t time.Time) (*Network, error) {
	t = t.UTC()
	switch {
	case n.builtin && !t.Equal(n.genesisTime):
		return nil, fmt.Errorf("%d is not the genesis time of the built-in network %s (%d); leave it out", t.Unix(), n.name, n.genesisTime.Unix())
	case n.builtin:
		return n, nil
	case !n.minGenesisTime.IsZero() && t.Before(n.minGenesisTime):
		return nil, fmt.Errorf("%d is before the config's MIN_GENESIS_TIME %d, which no genesis can precede", t.Unix(), n.minGenesisTime.Unix())
	}
	c := *n
	c.genesisTime, c.minGenesisTime, c.genesisExact = t, t, true
	return &c, nil
}

// SlotDuration returns the length of a slot.
func (n *Network) SlotDuration() time.Duration { return n.slotDuration }

// DepositContract returns the deposit contract's chain id and address; ok is
// false when a custom config names none.
func (n *Network) DepositContract() (chainID uint64, address bellatrix.ExecutionAddress, ok bool) {
	return n.depositChainID, n.depositContract, n.hasDeposit
}

// Forks returns the scheduled forks in order.
func (n *Network) Forks() []Fork { return append([]Fork(nil), n.forks...) }

// Fork returns the fork with the given name, if the network schedules it.
func (n *Network) Fork(name spec.DataVersion) (Fork, bool) {
	for _, f := range n.forks {
		if f.Name == name {
			return f, true
		}
	}
	return Fork{}, false
}

// ForkAtEpoch returns the fork in effect at epoch: the last scheduled fork
// whose activation epoch is not after it. Forks activated at the same epoch
// follow each other in specification order, so the latest of them wins.
func (n *Network) ForkAtEpoch(epoch phase0.Epoch) Fork {
	return n.forks[n.forkIndexAt(epoch)]
}

func (n *Network) forkIndexAt(epoch phase0.Epoch) int {
	i := 0
	for k, f := range n.forks {
		if f.Epoch <= epoch {
			i = k
		}
	}
	return i
}

// EpochAtSlot returns compute_epoch_at_slot(slot) for the network's preset.
func (n *Network) EpochAtSlot(slot phase0.Slot) phase0.Epoch {
	return phase0.Epoch(uint64(slot) / n.preset.SlotsPerEpoch)
}

// ConfigValue returns the raw value of a config key this package does not
// interpret (scalars as written, lists and maps in YAML flow style). Built-in
// networks have none.
func (n *Network) ConfigValue(key string) (string, bool) {
	v, ok := n.extra[key]
	return v.text, ok
}

// Equal reports whether n and o describe the same network: name, preset,
// genesis validators root, genesis time, slot duration, deposit contract
// and fork schedule. Uninterpreted config keys are not compared.
func (n *Network) Equal(o *Network) bool {
	return n.name == o.name && n.builtin == o.builtin && n.genesisTime.Equal(o.genesisTime) &&
		n.EarliestGenesisTime().Equal(o.EarliestGenesisTime()) && n.sameChain(o) == ""
}
