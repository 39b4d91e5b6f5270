package bls

import "errors"

// Errors returned when decoding keys and signatures. Callers compare with
// errors.Is; the messages never contain the input bytes.
var (
	// ErrLength is returned when an encoding has the wrong number of bytes.
	ErrLength = errors.New("bls: wrong encoding length")
	// ErrInvalidPoint is returned for bytes that are not a canonical
	// compressed point in the prime-order subgroup: bad flag bits, x not
	// below the field modulus, no curve point with that x, or a point outside
	// the subgroup.
	ErrInvalidPoint = errors.New("bls: not a canonical point in the prime-order subgroup")
	// ErrInfinity is returned for the canonical encoding of the point at
	// infinity where it is not acceptable: as a public key (KeyValidate), as
	// the result of a key or threshold combination, and by callers that
	// refuse a signature at infinity where no honest party sends one.
	ErrInfinity = errors.New("bls: point at infinity")
	// ErrInvalidSecretKey is returned for a secret key or scalar that is zero
	// where zero is not allowed, or not below the group order.
	ErrInvalidSecretKey = errors.New("bls: invalid secret key")
	// ErrEmpty is returned when an operation needs at least one input.
	ErrEmpty = errors.New("bls: no inputs")
	// ErrMismatch is returned when parallel input lists differ in length.
	ErrMismatch = errors.New("bls: input lists differ in length")
)
