// Package bls is Rampart's only door to BLS12-381: Ethereum-mode keys,
// signatures, aggregation and the scalar and group arithmetic that threshold
// signing needs. Everything else in the module goes through it, so the rules
// below hold everywhere.
//
// # Security
//
//   - Every point decoded from bytes is checked to be canonical, on the curve
//     and in the prime-order subgroup. Public keys at infinity are refused
//     with [ErrInfinity] (the consensus specification's KeyValidate).
//   - Signatures answer exactly as the consensus specification: the point at
//     infinity is a valid signature encoding, aggregates with it, and
//     verifies under no valid key; the official BLS vectors run with no
//     exception (vectors_test.go). Where no honest party sends infinity (a
//     partial signature, a deposit, a DKG message) refusing it is the
//     caller's policy, applied with [Signature.IsInfinity] and stated there.
//   - Secret material ([SecretKey], [Scalar]) redacts itself in fmt, slog and
//     JSON, never appears in an error, and can be zeroed with Zero.
//   - Messages are always 32-byte signing roots and are copied into plain
//     arrays before they cross into C, so cgo pointer checks never see Go
//     pointers.
package bls
