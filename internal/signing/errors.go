package signing

import "errors"

// Errors a signer maps to its answer. Network mismatches come from package
// network (network.ErrGenesisValidatorsRoot, network.ErrUnknownFork,
// network.ErrWrongFork) and mean the same as ErrInvalidRequest: HTTP 400.
var (
	// ErrInvalidRequest: the request is malformed, incomplete, of an unknown
	// or unsupported type, or inconsistent with itself or the network (HTTP
	// 400). Decoding errors are *FieldError values that wrap it.
	ErrInvalidRequest = errors.New("invalid signing request")
	// ErrSigningRootMismatch: the request carries a signingRoot that differs
	// from the root computed from its content (HTTP 400). The signer never
	// signs a root it did not compute.
	ErrSigningRootMismatch = errors.New("signing root differs from the computed one")
	// ErrForeignDomain: a GENERIC request's domain was not computed from a
	// fork version and genesis validators root of the network (HTTP 400).
	ErrForeignDomain = errors.New("domain does not belong to this network")
	// ErrGenericTypedDomain: a GENERIC request's domain type is one a typed
	// request (or a signature of its own) exists for, or of the consensus
	// form 0xXX000000 ([CheckGenericDomainType]); refused whoever asks.
	ErrGenericTypedDomain = errors.New("GENERIC refused in a domain with a typed request")
)

// FieldError is a decoding error that names the offending field by its path
// in the request, such as "attestation.source.epoch" or
// "beacon_block.block.body.attestations[2].signature".
type FieldError struct {
	// Field is the path of the field; empty when the request body as a whole
	// is at fault (not JSON, too large).
	Field string
	// Reason says what is wrong, without repeating the path.
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap makes every FieldError an ErrInvalidRequest.
func (e *FieldError) Unwrap() error { return ErrInvalidRequest }
