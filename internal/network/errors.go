package network

import "errors"

// Errors returned by [Network.CheckForkInfo]. All three mean the request
// does not belong to this network at this epoch and must be refused (HTTP
// 400); they are distinct so that logs and metrics can say why.
var (
	// ErrGenesisValidatorsRoot: fork_info.genesis_validators_root is not the
	// network's, so the request is for another chain.
	ErrGenesisValidatorsRoot = errors.New("genesis validators root is not this network's")
	// ErrUnknownFork: fork_info.fork is not one of the forks the network
	// schedules (unknown current_version, wrong previous_version or epoch).
	ErrUnknownFork = errors.New("fork is not scheduled on this network")
	// ErrWrongFork: the fork version that fork_info selects for the
	// message's epoch is not the one the network schedules at that epoch.
	ErrWrongFork = errors.New("fork does not apply at the message epoch")
)

// ErrInvalidConfig wraps every error from [ParseConfig]; the message names
// the offending key.
var ErrInvalidConfig = errors.New("invalid network config")

// ErrUnknownNetwork is returned by [Builtin] for a name that is not a
// built-in network.
var ErrUnknownNetwork = errors.New("unknown network")
