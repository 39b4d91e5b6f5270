//go:build tools

// Package prysm pins the Prysm commands the devnet runs (beacon-chain,
// validator, prysmctl) in a module of their own, so that the main module
// never depends on Prysm. `make e2e-tools` builds them from this module.
package prysm

import (
	_ "github.com/OffchainLabs/prysm/v6/cmd/beacon-chain"
	_ "github.com/OffchainLabs/prysm/v6/cmd/prysmctl"
	_ "github.com/OffchainLabs/prysm/v6/cmd/validator"
)
