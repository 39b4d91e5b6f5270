// Package api holds the wire types of the Remote Signing API responses and
// of the distributed signing profile: accounts, partial signatures, batch
// results and errors. Request types live in internal/signing.
//
// Decoders here read answers from other participants, which are untrusted:
// they are strict (unknown fields, missing fields, wrong lengths and
// non-canonical numbers are refused with an error naming the field) and
// never panic. Hex values are checked for length here; whether bytes are a
// valid point is decided by internal/bls where they are used.
package api
