// Package tss is Rampart's threshold BLS: Shamir sharing of validator keys
// over the BLS12-381 scalar field, partial signing, and recovery of
// signatures (in G2) and public keys (in G1) by Lagrange interpolation at
// zero, exactly as DESIGN.md section 3 and the Remote Signing API's
// distributed profile define them. Participant ids are the non-zero
// x-coordinates; the composite (validator) key sits at x = 0.
//
// The package is pure: no I/O, no clock, and randomness only from the
// io.Reader a caller passes in. Sub-packages hold the distributed key
// generation state machine (tss/dkg) and EIP-2335 keystore import
// (tss/keystore).
//
// The coordinator calls [Recover] (or [RecoverBatch] for a slot's worth of
// signatures) with the partials it collected; a signer holds [Share]s and
// calls [Share.Sign]; legacy key import calls [Split].
//
// # Security
//
//   - Safety needs t > n/2, so that two conflicting messages can never both
//     collect t partial signatures from honest signers. [CheckThreshold]
//     refuses anything else, and every constructor of an account or a
//     sharing calls it.
//   - Recovery never returns an unverified signature: the recovered
//     signature is checked against the composite key before it is returned.
//     Partials are verified individually only when that check fails
//     (optimistic recovery); the ones that fail are reported, never used.
//   - Partial signatures are combined only for one signing root and one
//     account: a partial for another message or another account fails its
//     verification and is excluded, and a set of individually valid
//     partials that still does not produce a valid signature is refused with
//     [ErrInconsistentKeys] (component keys that do not belong to the
//     composite key).
//   - [Share] holds a secret key share: it redacts itself in fmt, slog and
//     text encodings and can be zeroed. [Split] zeroes its polynomial
//     coefficients before it returns; the caller zeroes the split key.
//   - Secret-dependent group operations (public keys of shares, signing) go
//     through the BLS library's signing paths, never through the
//     variable-time multi-scalar multiplication used for public data.
package tss
