// Package keystore reads and writes EIP-2335 BLS12-381 keystores, so that
// legacy validator keys can be imported into a threshold cluster: a
// keystore is decrypted, checked against its public key, split t-of-n with
// [tss.Split] and the whole key zeroed ([Keystore.Split] does all of this).
// [Encrypt] writes keystores, so tests and tools can make keystores with
// known secrets.
//
// Supported modules are the EIP's: scrypt and PBKDF2-HMAC-SHA256 key
// derivation, a SHA-256 checksum, AES-128-CTR encryption. Passwords are
// processed as the EIP says: NFKD normalisation, then the C0, C1 and DEL
// control codes are removed (so a trailing newline in a password file does
// not matter), then UTF-8.
//
// # Security
//
//   - Parsing is strict: exact, case-sensitive field names, no unknown or
//     duplicate fields, canonical integers, exact lengths; anything else is
//     refused with [ErrMalformed] naming the field. KDF parameters are
//     bounded ([ErrUnsupported] beyond the limits) so that a hostile
//     keystore cannot make an import exhaust memory or time.
//   - The checksum is compared in constant time. A decrypted secret must be
//     a valid key whose public key is the keystore's pubkey
//     ([ErrPublicKeyMismatch] otherwise): a keystore cannot smuggle in
//     another key than the one the operator sees.
//   - Derived keys, decrypted secrets and normalised passwords are zeroed
//     after use; errors never contain them. Callers zero the password they
//     pass in.
package keystore
