// Package bls is Rampart's only door to BLS12-381: Ethereum-mode keys,
// signatures, aggregation and the scalar and group arithmetic that threshold
// signing needs. Everything else in the module goes through it, so the rules
// below hold everywhere.
//
// # Security
//
//   - Every point decoded from bytes is checked to lie on the curve and in the
//     prime-order subgroup; the point at infinity is refused with
//     [ErrInfinity] for public keys and signatures, as the consensus
//     specification's KeyValidate and the distributed signing profile require.
//   - Secret material ([SecretKey], [Scalar]) redacts itself in fmt, slog and
//     JSON, never appears in an error, and can be zeroed with Zero.
//   - Messages are always 32-byte signing roots and are copied into plain
//     arrays before they cross into C, so cgo pointer checks never see Go
//     pointers.
package bls
