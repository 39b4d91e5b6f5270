package keystore

import "errors"

// Errors returned by the package. Callers compare with errors.Is; messages
// name the field at fault and never contain secrets or passwords.
var (
	// ErrMalformed is returned for a keystore that is not exactly the
	// EIP-2335 JSON structure: bad JSON, unknown, duplicate or missing
	// fields, wrong types or lengths, invalid hex, version other than 4.
	ErrMalformed = errors.New("keystore: malformed")
	// ErrUnsupported is returned for a module function this package does
	// not implement, or KDF parameters beyond its limits.
	ErrUnsupported = errors.New("keystore: unsupported")
	// ErrPassword is returned for a password that is not valid UTF-8.
	ErrPassword = errors.New("keystore: password is not valid UTF-8")
	// ErrWrongPassword is returned when the checksum does not match: a
	// wrong password, or a corrupted keystore.
	ErrWrongPassword = errors.New("keystore: wrong password (checksum mismatch)")
	// ErrInvalidSecret is returned when the decrypted secret is not a valid
	// BLS secret key.
	ErrInvalidSecret = errors.New("keystore: decrypted secret is not a valid key")
	// ErrPublicKeyMismatch is returned when the decrypted secret's public
	// key is not the keystore's pubkey.
	ErrPublicKeyMismatch = errors.New("keystore: decrypted key does not match the keystore's pubkey")
	// ErrOptions is returned by Encrypt for invalid options.
	ErrOptions = errors.New("keystore: invalid options")
)
