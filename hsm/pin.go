package hsm

// maxPINFile bounds what is read from a PIN source; PKCS#11 PINs are short
// (SoftHSM allows 255 bytes), and a large file is a misconfiguration.
const maxPINFile = 1024

// pinSource is a parsed pin-source attribute.
type pinSource = SecretSource

// pinKind words the errors of a pin-source.
var pinKind = secretKind{attribute: "pin-source", file: "PIN file", what: "the PIN", invalid: ErrInvalidURI, read: ErrPINSource, max: maxPINFile}

// parsePINSource accepts an absolute path, a file: URI with an absolute
// path, or credential:NAME for a systemd credential.
func parsePINSource(s string) (pinSource, error) {
	return parseSecretSource(s, pinKind)
}

// readPIN returns the PIN bytes; the caller zeroes them. A PIN file must be
// a regular file that only its owner can read or write (like ssh keys); a
// systemd credential is trusted to systemd, which makes it private to the
// service. One trailing newline is removed; anything else that is not a
// printable single line is refused. The PIN never appears in an error.
func readPIN(src pinSource, credentialsDir string) ([]byte, error) {
	return readSecret(src, credentialsDir, pinKind)
}
