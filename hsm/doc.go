// Package hsm is Rampart's only door to PKCS#11 hardware security modules.
// It seals BLS key shares with an AES-256 key that never leaves the HSM,
// unseals them in bulk at start-up, keeps TLS identity keys (ECDSA P-256) in
// the HSM behind a crypto.Signer, issues the cluster's certificates (also
// from a node's signing request), and
// hardens the process that holds unsealed shares.
//
// Tokens and keys are addressed by RFC 7512 pkcs11: URIs ([ParseURI]):
//
//	pkcs11:token=signer-1;object=rampart-seal?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/hsm.pin
//
// [Open] returns a logged-in [Token]; the object part of the URI
// ([URI.ObjectRef]) names the key for [Token.CreateSealingKey],
// [Token.SealingKey], [Token.GenerateTLSKey], [Token.TLSKey] and
// [Token.TLSCertificate]. Every call that reaches the HSM takes a context and
// runs under [Options.CallTimeout].
//
// The package knows nothing of Ethereum: a share is a BLS secret key bound
// to opaque metadata (cluster id, participant id, threshold, public keys).
// The sub-package softhsm creates SoftHSM2 tokens for tests and development
// clusters.
//
// # Security
//
//   - The sealing key is generated in the token as a private, sensitive,
//     non-extractable, non-modifiable AES-256 key whose allowed mechanisms
//     are AES-GCM only. Keys found later are checked against the same rules
//     and refused (ErrKeyAttributes) if any differs, whoever made them.
//     TLS keys get the equivalent rules with CKM_ECDSA as the only mechanism.
//   - Every seal uses a fresh random 96-bit IV drawn by this package and a
//     128-bit tag; neither the IV length nor the tag length is ever taken
//     from a blob or left to the module, and a module that substitutes its
//     own IV is refused. Each new blob is unsealed once before it is
//     returned.
//   - The additional data binds a blob to a domain tag, its format version
//     and all its public metadata (cluster id, participant id, threshold,
//     composite and component public keys): moving or editing a blob makes
//     it fail to unseal. Unsealing also recomputes the component public key
//     from the share and refuses a mismatch, and refuses blobs made for
//     another cluster or participant before the HSM sees them.
//   - Blobs are parsed with exact lengths before anything reaches the HSM.
//   - [SealingKey.SealData] seals other secret state (a key-generation
//     ceremony's snapshot) under the same key, with its own domain tag,
//     magic and version, and a caller's label in the additional data: a
//     sealed share never authenticates as data nor the reverse, and a blob
//     unsealed under another label (another ceremony or participant) fails.
//   - [SealingKey.Tag] authenticates records a caller keeps on disk (audit
//     log checkpoints) with a GMAC under the same key: AES-GCM over an empty
//     plaintext, a fresh random IV, its own domain tag and the caller's
//     label in the additional data. No tag verifies as a sealed blob nor
//     the reverse, so existing tokens need no second key object.
//   - The PIN is read only from a file (owner-only permissions required) or a
//     systemd credential, never from argv, the environment or configuration
//     text (pin-value is refused); it is never logged or put in an error, is
//     zeroed after login, and crypto11's copy of it is dropped. Go strings
//     cannot be wiped, so a copy may linger on the heap until collected:
//     lock memory and disable core dumps ([Harden]) before opening a token.
//   - URIs print without their query part (module path and PIN source).
//   - Unsealed shares live in [ShareSet] and [Share] as internal/bls secret
//     keys, which redact themselves; Close zeroes them. The plaintext bytes
//     returned by the module are zeroed at once. miekg/pkcs11 frees its C
//     copy of a plaintext without wiping it; process memory locking and
//     core-dump suppression cover that residue.
//   - PKCS#11 login is per application: while one Token of a token is open,
//     opening another of the same token in the process succeeds whatever PIN
//     it is given (the module answers CKR_USER_ALREADY_LOGGED_IN).
//   - An HSM call that exceeds its timeout returns ErrTimeout at once; the
//     call itself cannot be interrupted, so its session is discarded when it
//     returns and Close waits for it (or reports that it could not).
//   - A token removed, reset or logged out under an open Token fails every
//     call with ErrTokenRemoved (transient) and [Token.Probe] reports it.
//     [Token.Reopen] reads the PIN from its source again, refuses another
//     token than the one first opened (another serial number under the
//     label) and logs in on fresh sessions; keys found before find their
//     objects again and are checked again on first use, and a TLS key
//     whose public key changed is refused.
//   - A node's certificate can be issued on the CA's own host from a
//     request ([NewIdentityRequest], [ParseIdentityRequestPEM]) so the CA's
//     HSM stays offline. A request is taken for its key and one identity
//     name only, after its signature verifies; one asking for anything else
//     (other names, extensions, attributes, a CA) is refused rather than
//     trimmed, and the certificate's profile is the CA's, as for a
//     certificate issued directly.
//
// # Testing
//
// The package reaches PKCS#11 only through narrow interfaces declared in
// p11.go (one per concern: slots, sessions, object search, attributes, key
// generation, encryption, decryption; and crypto11's key store), which
// *pkcs11.Ctx and *crypto11.Context implement. The tests wrap the real
// SoftHSM-backed implementations and alter one call's result to prove each
// defensive branch (an IV the module chose, a ciphertext or plaintext of
// the wrong length, a seal that does not open, weak attributes, lost
// sessions, calls that hang).
package hsm
