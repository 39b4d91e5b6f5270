package hsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A secret other than the PIN (rampart-signer's administrative token) is
// read exactly as the PIN is: from a file only its owner may access, or
// from a systemd credential (LoadCredential= in the unit), never from the
// command line, the environment or configuration text.

const credentialPrefix = "credential:"

// maxSecretFile bounds what is read from a secret source.
const maxSecretFile = 4096

// SecretSource is where a secret is read from: exactly one of an absolute
// file path and a systemd credential name is set. It holds no secret.
type SecretSource struct {
	file       string
	credential string
}

// secretKind words the errors of one kind of secret source.
type secretKind struct {
	attribute string // the configuration attribute ("pin-source")
	file      string // what a file of it is called ("PIN file")
	what      string // what it holds ("the PIN")
	invalid   error  // sentinel of parse errors
	read      error  // sentinel of read errors
	max       int
}

var genericKind = secretKind{attribute: "secret source", file: "secret file", what: "the secret", invalid: ErrSecretSource, read: ErrSecretSource, max: maxSecretFile}

// ParseSecretSource parses a secret source as pin-source takes it: an
// absolute path, file:/absolute/path, or credential:NAME for a systemd
// credential in $CREDENTIALS_DIRECTORY. Errors wrap [ErrSecretSource].
func ParseSecretSource(s string) (SecretSource, error) {
	return parseSecretSource(s, genericKind)
}

// Read returns the secret, one printable line without its trailing
// newline; the caller zeroes it. A file must be a regular file that only
// its owner can read or write (mode 0600 or stricter); a systemd
// credential is trusted to systemd, which makes it private to the service.
// The secret never appears in an error. Errors wrap [ErrSecretSource].
func (s SecretSource) Read(credentialsDir string) ([]byte, error) {
	return readSecret(s, credentialsDir, genericKind)
}

// String names the source (never its content).
func (s SecretSource) String() string {
	if s.credential != "" {
		return fmt.Sprintf("systemd credential %q", s.credential)
	}
	return "file " + s.file
}

func parseSecretSource(s string, k secretKind) (SecretSource, error) {
	switch {
	case strings.HasPrefix(s, credentialPrefix):
		name := strings.TrimPrefix(s, credentialPrefix)
		if name == "" || name == "." || name == ".." || len(name) > 255 ||
			strings.ContainsRune(name, '/') || strings.ContainsFunc(name, isControl) {
			return SecretSource{}, fmt.Errorf("%w: %s credential name must be a plain file name", k.invalid, k.attribute)
		}
		return SecretSource{credential: name}, nil
	case strings.HasPrefix(s, "file:"):
		p := strings.TrimPrefix(s, "file:")
		// file:///path and file:/path name the same local file.
		if strings.HasPrefix(p, "//") {
			if !strings.HasPrefix(p, "///") {
				return SecretSource{}, fmt.Errorf("%w: %s file URI must name a local file (file:/path)", k.invalid, k.attribute)
			}
			p = p[2:]
		}
		return fileSecretSource(p, k)
	case strings.Contains(s, ":") && !strings.HasPrefix(s, "/"):
		return SecretSource{}, fmt.Errorf("%w: %s must be an absolute path, file:/path or credential:NAME", k.invalid, k.attribute)
	}
	return fileSecretSource(s, k)
}

func fileSecretSource(p string, k secretKind) (SecretSource, error) {
	switch {
	case !filepath.IsAbs(p):
		return SecretSource{}, fmt.Errorf("%w: %s path must be absolute", k.invalid, k.attribute)
	case filepath.Clean(p) != p:
		return SecretSource{}, fmt.Errorf("%w: %s path must be clean (no '.', '..', '//' or trailing '/')", k.invalid, k.attribute)
	case len(p) > maxPathValue || strings.ContainsFunc(p, isControl):
		return SecretSource{}, fmt.Errorf("%w: %s path is too long or has a control character", k.invalid, k.attribute)
	}
	return SecretSource{file: p}, nil
}

func readSecret(src SecretSource, credentialsDir string, k secretKind) ([]byte, error) {
	path, what := src.file, k.file+" "+src.file
	if src.credential != "" {
		if credentialsDir == "" {
			return nil, fmt.Errorf("%w: %s names systemd credential %q but $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)", k.read, k.attribute, src.credential)
		}
		path = filepath.Join(credentialsDir, src.credential)
		what = fmt.Sprintf("systemd credential %q", src.credential)
	}
	if path == "" {
		return nil, fmt.Errorf("%w: no %s", k.read, k.attribute)
	}
	f, err := os.Open(path)
	if err != nil {
		if src.credential != "" && errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: %w (the unit, or a drop-in of it, needs LoadCredential=%s:PATH)", k.read, what, pathErrorReason(err), src.credential)
		}
		return nil, fmt.Errorf("%w: %s: %w", k.read, what, pathErrorReason(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", k.read, what, pathErrorReason(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", k.read, what)
	}
	if src.file != "" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; only its owner may access it (chmod 600)", k.read, what, st.Mode().Perm())
	}
	buf := make([]byte, k.max+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(buf)
		return nil, fmt.Errorf("%w: %s: %w", k.read, what, pathErrorReason(err))
	}
	if n > k.max {
		clear(buf)
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", k.read, what, k.max)
	}
	secret := buf[:n]
	if bytes.HasSuffix(secret, []byte("\r\n")) {
		secret = secret[:n-2]
	} else if bytes.HasSuffix(secret, []byte("\n")) {
		secret = secret[:n-1]
	}
	switch {
	case len(secret) == 0:
		clear(buf)
		return nil, fmt.Errorf("%w: %s is empty", k.read, what)
	case bytes.ContainsFunc(secret, isControl):
		clear(buf)
		return nil, fmt.Errorf("%w: %s must hold %s on one line, without control characters", k.read, what, k.what)
	}
	out := bytes.Clone(secret)
	clear(buf)
	return out, nil
}

// pathErrorReason strips the path from an *os.PathError, since messages
// already name the source, leaving the reason ("permission denied").
func pathErrorReason(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
