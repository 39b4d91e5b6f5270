// Package devnet prepares and runs a single-node Ethereum devnet on
// 127.0.0.1 for Rampart's end-to-end tests and demos: geth (execution) and
// Prysm's beacon-chain (consensus), optionally Prysm's validator client, on
// a chain whose forks through Electra/Prague are active at genesis and whose
// validators are the deterministic interop keys.
//
// [Prepare] writes everything (config, genesis, keystores) into a
// directory; [Devnet.Start] runs the processes in the background and
// records their ids; [Devnet.Stop] stops exactly those processes. `make
// devnet-up` and `make devnet-down` drive it through e2e/cmd/devnet; the
// binaries come from `make e2e-tools` (e2e/tools/, built from the Go module
// proxy and cached).
//
// What Rampart needs from a devnet is in its [Devnet]: the beacon API URL,
// the network config and genesis validators root (for --network-config and
// --genesis-validators-root), and EIP-2335 keystores of the interop
// validators for import into a cluster.
//
// # Security
//
// Nothing here is for real funds or real keys. The interop keys are public;
// their keystores use a cheap scrypt cost ([Config.ScryptN], 2^4 by
// default) and a password written beside them, so that tests import 64 of
// them in milliseconds. Every listener is on a loopback address (Validate
// refuses others); geth and beacon-chain run without discovery, bootnodes
// or peers; fork versions start with "RAM" ([ForkVersion]) so that no
// devnet signature verifies on a public network. Stop signals a process
// only after checking, through a pidfd, that it is the one Start recorded
// (pid and start time), never by name.
package devnet
