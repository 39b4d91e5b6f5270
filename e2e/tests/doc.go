// Package tests holds the end-to-end tests on a real devnet: geth and
// Prysm's beacon node from e2e/devnet, a Rampart cluster of signer
// processes started with `rampartctl devnet up` holding the interop
// validators, and validator clients (Prysm's own through the Remote Signing
// API of a rampart-gateway beside it, and rampart-vc). They run when
// RAMPART_E2E_BIN names the devnet binaries (`make e2e` builds them and
// sets it) and skip otherwise.
package tests
