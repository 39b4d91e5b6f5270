package hsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxPINFile bounds what is read from a PIN source; PKCS#11 PINs are short
// (SoftHSM allows 255 bytes), and a large file is a misconfiguration.
const maxPINFile = 1024

const credentialPrefix = "credential:"

// pinSource is a parsed pin-source attribute: exactly one of file and
// credential is set.
type pinSource struct {
	file       string
	credential string
}

// parsePINSource accepts an absolute path, a file: URI with an absolute
// path, or credential:NAME for a systemd credential.
func parsePINSource(s string) (pinSource, error) {
	switch {
	case strings.HasPrefix(s, credentialPrefix):
		name := strings.TrimPrefix(s, credentialPrefix)
		if name == "" || name == "." || name == ".." || len(name) > 255 ||
			strings.ContainsRune(name, '/') || strings.ContainsFunc(name, isControl) {
			return pinSource{}, fmt.Errorf("%w: pin-source credential name must be a plain file name", ErrInvalidURI)
		}
		return pinSource{credential: name}, nil
	case strings.HasPrefix(s, "file:"):
		p := strings.TrimPrefix(s, "file:")
		// file:///path and file:/path name the same local file.
		if strings.HasPrefix(p, "//") {
			if !strings.HasPrefix(p, "///") {
				return pinSource{}, fmt.Errorf("%w: pin-source file URI must name a local file (file:/path)", ErrInvalidURI)
			}
			p = p[2:]
		}
		return filePINSource(p)
	case strings.Contains(s, ":") && !strings.HasPrefix(s, "/"):
		return pinSource{}, fmt.Errorf("%w: pin-source must be an absolute path, file:/path or credential:NAME", ErrInvalidURI)
	}
	return filePINSource(s)
}

func filePINSource(p string) (pinSource, error) {
	switch {
	case !filepath.IsAbs(p):
		return pinSource{}, fmt.Errorf("%w: pin-source path must be absolute", ErrInvalidURI)
	case filepath.Clean(p) != p:
		return pinSource{}, fmt.Errorf("%w: pin-source path must be clean (no '.', '..', '//' or trailing '/')", ErrInvalidURI)
	case len(p) > maxPathValue || strings.ContainsFunc(p, isControl):
		return pinSource{}, fmt.Errorf("%w: pin-source path is too long or has a control character", ErrInvalidURI)
	}
	return pinSource{file: p}, nil
}

// readPIN returns the PIN bytes; the caller zeroes them. A PIN file must be
// a regular file that only its owner can read or write (like ssh keys); a
// systemd credential is trusted to systemd, which makes it private to the
// service. One trailing newline is removed; anything else that is not a
// printable single line is refused. The PIN never appears in an error.
func readPIN(src pinSource, credentialsDir string) ([]byte, error) {
	path, what := src.file, "PIN file "+src.file
	if src.credential != "" {
		if credentialsDir == "" {
			return nil, fmt.Errorf("%w: pin-source names systemd credential %q but $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)", ErrPINSource, src.credential)
		}
		path = filepath.Join(credentialsDir, src.credential)
		what = fmt.Sprintf("systemd credential %q", src.credential)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPINSource, what, pathErrorReason(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPINSource, what, pathErrorReason(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrPINSource, what)
	}
	if src.file != "" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; only its owner may access it (chmod 600)", ErrPINSource, what, st.Mode().Perm())
	}
	buf := make([]byte, maxPINFile+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(buf)
		return nil, fmt.Errorf("%w: %s: %w", ErrPINSource, what, pathErrorReason(err))
	}
	if n > maxPINFile {
		clear(buf)
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrPINSource, what, maxPINFile)
	}
	pin := buf[:n]
	if bytes.HasSuffix(pin, []byte("\r\n")) {
		pin = pin[:n-2]
	} else if bytes.HasSuffix(pin, []byte("\n")) {
		pin = pin[:n-1]
	}
	switch {
	case len(pin) == 0:
		clear(buf)
		return nil, fmt.Errorf("%w: %s is empty", ErrPINSource, what)
	case bytes.ContainsFunc(pin, isControl):
		clear(buf)
		return nil, fmt.Errorf("%w: %s must hold the PIN on one line, without control characters", ErrPINSource, what)
	}
	out := bytes.Clone(pin)
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
