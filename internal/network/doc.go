// Package network describes the Ethereum networks Rampart signs for: the
// built-in mainnet, Sepolia and Hoodi, and custom networks (devnets) loaded
// from a consensus-specs config.yaml together with their genesis validators
// root. A [Network] knows its fork schedule, so it can tell which fork
// version applies at an epoch and whether a signing request's fork_info
// belongs to it ([Network.CheckForkInfo]).
//
// Every command that needs a network takes it through [Flags]: either
// --network NAME or --network-config FILE --genesis-validators-root HEX.
//
// # Security
//
// A signature is bound to a network only through the fork version and the
// genesis validators root mixed into its domain. A signer that trusted the
// fork_info of a request could be led to sign for another chain, or for a
// fork that does not apply at the message's epoch; [Network.CheckForkInfo]
// refuses both, and the built-in schedules are copied from the networks'
// published configurations (sources cited in builtin.go).
//
// Config files are parsed strictly: every value this package uses is
// validated and named in the error when wrong (unknown preset, malformed
// version, fork epochs out of order, a scheduled fork this code does not
// know, ...). A config that names a built-in network must agree with the
// built-in schedule, so a stale or tampered copy of a public network's
// config is refused rather than silently trusted. Keys this package does
// not use are kept, unvalidated, because real configs carry many.
package network
