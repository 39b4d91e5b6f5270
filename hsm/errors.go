package hsm

import "errors"

// Errors returned by this package, one per decision a caller must make.
// Compare with errors.Is: messages add detail (the operation, the PKCS#11
// return code, the field at fault) but never a PIN or key material.
var (
	// ErrInvalidURI: a pkcs11: URI is malformed, uses an attribute this
	// package does not support, or lacks one the operation needs. Fix the
	// configuration.
	ErrInvalidURI = errors.New("hsm: invalid PKCS#11 URI")
	// ErrPINSource: the PIN file or systemd credential named by pin-source
	// is missing, unreadable, readable by other users, empty or malformed.
	ErrPINSource = errors.New("hsm: cannot read the PIN from its source")
	// ErrSecretSource: a secret source ([ParseSecretSource]) is malformed,
	// or its file or systemd credential is missing, unreadable, readable by
	// other users, empty or malformed.
	ErrSecretSource = errors.New("hsm: cannot read the secret from its source")
	// ErrInvalidOptions: an Options field is out of range.
	ErrInvalidOptions = errors.New("hsm: invalid options")

	// ErrModuleNotFound: module-path names no file, or a file that is not a
	// loadable PKCS#11 module.
	ErrModuleNotFound = errors.New("hsm: PKCS#11 module not found")
	// ErrModuleInUse: code outside this package already initialised the
	// module in this process, so it cannot be shared safely.
	ErrModuleInUse = errors.New("hsm: PKCS#11 module initialised elsewhere in this process")
	// ErrModule: the module reported a failure that is not the caller's
	// input (device error, memory), or answered in a way it must not (an
	// output of the wrong length, a seal that does not open). Retrying may
	// help; signing must not proceed.
	ErrModule = errors.New("hsm: PKCS#11 module failure")
	// ErrTokenNotFound: no token matches the URI's token attributes.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrTokenRemoved: the token went away under an open Token: it was
	// removed or reset, another token is in its place, or its sessions,
	// login or object handles were lost (CKR_DEVICE_REMOVED,
	// CKR_TOKEN_NOT_PRESENT, CKR_SESSION_HANDLE_INVALID,
	// CKR_USER_NOT_LOGGED_IN, CKR_OBJECT_HANDLE_INVALID ...). Nothing more
	// can be done with it until the token is back and Token.Reopen has
	// logged in again.
	ErrTokenRemoved = errors.New("hsm: token removed or its session lost")
	// ErrTokenAmbiguous: several tokens carry the label; PKCS#11 slot ids
	// are not stable, so the URI must be made unique (serial=...).
	ErrTokenAmbiguous = errors.New("hsm: several tokens match")
	// ErrWrongPIN: the token refused the PIN.
	ErrWrongPIN = errors.New("hsm: wrong PIN")
	// ErrPINLocked: the token locked the user PIN (too many wrong tries) or
	// the user PIN was never set; an administrator must reset it.
	ErrPINLocked = errors.New("hsm: user PIN locked or not initialised")

	// ErrKeyNotFound: no key matches the object label (and id).
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrKeyAmbiguous: several keys match the object label (and id).
	ErrKeyAmbiguous = errors.New("hsm: several keys match")
	// ErrKeyExists: an object with the label or id is already in the token;
	// nothing was created or overwritten.
	ErrKeyExists = errors.New("hsm: key already exists")
	// ErrKeyAttributes: a key exists but is weaker than required (for
	// example extractable, not sensitive, or usable with other
	// mechanisms). It is not used.
	ErrKeyAttributes = errors.New("hsm: key attributes weaker than required")
	// ErrMechanismUnsupported: the token lacks a mechanism this package
	// needs (AES-GCM, AES key generation, EC key generation, ECDSA) or
	// implements it in a way that cannot be trusted (an IV of its own).
	ErrMechanismUnsupported = errors.New("hsm: mechanism unsupported")

	// ErrTimeout: an HSM call did not return within the call timeout or
	// before the context ended.
	ErrTimeout = errors.New("hsm: HSM call timed out")
	// ErrClosed: the token was used after Close.
	ErrClosed = errors.New("hsm: token closed")

	// ErrInvalidBinding: the values to bind a share to, or a sealed data
	// label or size, are out of range.
	ErrInvalidBinding = errors.New("hsm: invalid share binding")
	// ErrBlobFormat: a sealed share or sealed data blob is truncated, too
	// long or has a malformed field. Nothing was sent to the HSM.
	ErrBlobFormat = errors.New("hsm: malformed sealed share")
	// ErrBlobVersion: a sealed share or sealed data blob has a version
	// this build cannot read.
	ErrBlobVersion = errors.New("hsm: unsupported sealed share version")
	// ErrWrongPlacement: a sealed share belongs to another cluster or
	// participant than the one unsealing it.
	ErrWrongPlacement = errors.New("hsm: sealed share belongs elsewhere")
	// ErrDuplicateShare: two sealed shares in one bulk unseal are for the
	// same composite public key.
	ErrDuplicateShare = errors.New("hsm: duplicate sealed share")
	// ErrUnseal: AES-GCM authentication failed: the blob was altered, its
	// metadata edited, it was sealed under another key, or (sealed data)
	// it is unsealed with another label than it was sealed with.
	ErrUnseal = errors.New("hsm: sealed share failed authentication")
	// ErrTag: an authentication tag (SealingKey.Tag) does not verify: the
	// data or its label changed, or the tag was made by another key.
	ErrTag = errors.New("hsm: authentication tag does not verify")
	// ErrComponentKeyMismatch: the unsealed share does not give the
	// component public key stored with it. The share is not used.
	ErrComponentKeyMismatch = errors.New("hsm: unsealed share does not match its component public key")

	// ErrCertificate: a certificate is malformed, does not match its key,
	// is not a CA where one is needed, or outlives its issuer.
	ErrCertificate = errors.New("hsm: certificate refused")
	// ErrCertificateRequest: a certificate signing request is malformed,
	// its signature does not verify, or it asks for more than a node
	// identity (other names, extensions, attributes, a CA).
	ErrCertificateRequest = errors.New("hsm: certificate request refused")
	// ErrInvalidName: a TLS identity name is neither a DNS name nor an IP
	// address.
	ErrInvalidName = errors.New("hsm: invalid identity name")

	// ErrHardening: the environment does not allow a process hardening
	// step; the message says which and how to allow it.
	ErrHardening = errors.New("hsm: process hardening not possible")
)

// Permanent reports whether err is an HSM failure that trying again cannot
// fix and may make worse: a wrong or locked PIN (every further login
// brings a token closer to locking its PIN; smart-card HSMs lock after
// three), a PIN source, URI, module, token, key, certificate or sealed
// share that is wrong or missing, or an environment that refuses process
// hardening. A daemon stops for good on one (exit status 2, which its
// systemd unit does not restart) and waits for the operator.
func Permanent(err error) bool {
	if err == nil || Transient(err) {
		return false
	}
	for _, e := range permanentErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	var ue *UnsealError
	return errors.As(err, &ue)
}

var permanentErrors = []error{
	ErrInvalidURI, ErrPINSource, ErrInvalidOptions, ErrModuleNotFound,
	ErrTokenNotFound, ErrTokenAmbiguous, ErrWrongPIN, ErrPINLocked,
	ErrKeyNotFound, ErrKeyAmbiguous, ErrKeyExists, ErrKeyAttributes, ErrMechanismUnsupported,
	ErrInvalidBinding, ErrBlobFormat, ErrBlobVersion, ErrWrongPlacement, ErrDuplicateShare,
	ErrUnseal, ErrComponentKeyMismatch, ErrCertificate, ErrCertificateRequest, ErrInvalidName, ErrHardening,
}

// Transient reports whether err is an HSM failure that may go away by
// itself, so that a restart a little later can succeed: the module
// reported a device or session failure, the token was removed (it may be
// put back), a call timed out (a busy or unreachable network HSM), or the
// token was closed under the call.
func Transient(err error) bool {
	return errors.Is(err, ErrModule) || errors.Is(err, ErrModuleInUse) || errors.Is(err, ErrTokenRemoved) ||
		errors.Is(err, ErrTimeout) || errors.Is(err, ErrClosed)
}
