//go:build tools

// Package geth pins the go-ethereum command the devnet runs (geth) in a
// module of its own, so that the main module never depends on it and every
// dependency is fixed by this module's go.sum. `make e2e-tools` builds it.
package geth

import (
	_ "github.com/ethereum/go-ethereum/cmd/geth"
)
