package appliance

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/rampart-signer/rampart/hsm"
)

// The administrative token is the second proof of every administrative
// request, beside the administrator's mTLS identity: a bearer token of at
// least 256 bits, in hex. A signer keeps only its verifier, sha256:<hex of
// SHA-256 over the token's bytes>, so that a signer's disk or memory does
// not give the token away; the token itself is held by the operator
// (rampartctl, from the cluster file's admin.token) and passes through a
// signer only while it relays an administrator's request.

// ErrAdminToken is returned for an administrative token or verifier that
// cannot be read or is malformed; the message names the source and the
// fix, never the token.
var ErrAdminToken = errors.New("administrative token")

// Limits of a token: at least 256 bits, and a bound on what is parsed.
const (
	minTokenBytes = 32
	maxTokenBytes = 128
)

// verifierPrefix starts a verifier.
const verifierPrefix = "sha256:"

// AdminToken is the administrative bearer token. It never prints; Zero
// clears it.
type AdminToken struct{ raw []byte }

// NewAdminToken draws a fresh 256-bit token.
func NewAdminToken(rand io.Reader) (AdminToken, error) {
	raw := make([]byte, minTokenBytes)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return AdminToken{}, fmt.Errorf("%w: drawing a token: %v", ErrAdminToken, err)
	}
	return AdminToken{raw: raw}, nil
}

// ParseAdminToken parses a token: hex (an optional 0x), at least 256 bits.
// A verifier (sha256:...) is refused: only the token proves anything.
func ParseAdminToken(text []byte) (AdminToken, error) {
	s := strings.TrimSpace(string(text))
	if strings.HasPrefix(s, verifierPrefix) {
		return AdminToken{}, fmt.Errorf("%w: holds a verifier (sha256:...), not the token: a client needs the token itself (rampartctl admin token --out FILE wrote it)", ErrAdminToken)
	}
	s = strings.TrimPrefix(s, "0x")
	if len(s)%2 != 0 || len(s) < 2*minTokenBytes || len(s) > 2*maxTokenBytes {
		return AdminToken{}, fmt.Errorf("%w: want %d to %d random bytes in hex (rampartctl admin token --out FILE)", ErrAdminToken, minTokenBytes, maxTokenBytes)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return AdminToken{}, fmt.Errorf("%w: not hexadecimal", ErrAdminToken)
	}
	return AdminToken{raw: raw}, nil
}

// LoadAdminToken reads the token from a secret source (file:/path, owner
// only, or credential:NAME), as rampartctl does with the cluster file's
// admin.token.
func LoadAdminToken(source, credentialsDir string) (AdminToken, error) {
	text, err := readSecretSource(source, credentialsDir)
	if err != nil {
		return AdminToken{}, err
	}
	defer clear(text)
	tok, err := ParseAdminToken(text)
	if err != nil {
		return AdminToken{}, fmt.Errorf("%s: %w", source, err)
	}
	return tok, nil
}

func readSecretSource(source, credentialsDir string) ([]byte, error) {
	src, err := hsm.ParseSecretSource(source)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAdminToken, err)
	}
	text, err := src.Read(credentialsDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAdminToken, err)
	}
	return text, nil
}

// IsZero reports whether there is no token.
func (t AdminToken) IsZero() bool { return len(t.raw) == 0 }

// Hex is the token's text, for writing it to its owner-only file.
func (t AdminToken) Hex() string { return hex.EncodeToString(t.raw) }

// Verifier is what a signer keeps: sha256:<hex>.
func (t AdminToken) Verifier() string {
	sum := sha256.Sum256(t.raw)
	return verifierPrefix + hex.EncodeToString(sum[:])
}

// Zero clears the token.
func (t *AdminToken) Zero() {
	clear(t.raw)
	t.raw = nil
}

// clone returns a copy the caller owns.
func (t AdminToken) clone() AdminToken { return AdminToken{raw: bytes.Clone(t.raw)} }

func (t AdminToken) String() string       { return redactedText }
func (t AdminToken) GoString() string     { return redactedText }
func (t AdminToken) LogValue() slog.Value { return slog.StringValue(redactedText) }

// tokenVerifier is the SHA-256 of the token's bytes.
type tokenVerifier [sha256.Size]byte

// loadTokenVerifier reads admin.token: the verifier (sha256:<hex>) or the
// token itself, of which only the verifier is kept.
func loadTokenVerifier(source, credentialsDir string) (tokenVerifier, error) {
	text, err := readSecretSource(source, credentialsDir)
	if err != nil {
		return tokenVerifier{}, fmt.Errorf("admin.token: %w", err)
	}
	defer clear(text)
	s := strings.TrimSpace(string(text))
	if v, ok := strings.CutPrefix(s, verifierPrefix); ok {
		var out tokenVerifier
		if len(v) != 2*sha256.Size {
			return out, fmt.Errorf("admin.token: %w: the verifier is sha256: and 64 hex digits (rampartctl admin token prints it)", ErrAdminToken)
		}
		if _, err := hex.Decode(out[:], []byte(v)); err != nil {
			return out, fmt.Errorf("admin.token: %w: the verifier is not hexadecimal", ErrAdminToken)
		}
		return out, nil
	}
	tok, err := ParseAdminToken(text)
	if err != nil {
		return tokenVerifier{}, fmt.Errorf("admin.token: %w", err)
	}
	defer tok.Zero()
	return sha256.Sum256(tok.raw), nil
}

// check compares a presented token with the verifier in constant time.
func (v tokenVerifier) check(t AdminToken) bool {
	sum := sha256.Sum256(t.raw)
	return subtle.ConstantTimeCompare(sum[:], v[:]) == 1
}

// bearerToken parses an Authorization header's bearer token; ok is false
// when the header carries none.
func bearerToken(header string) (tok AdminToken, ok bool, err error) {
	v, found := strings.CutPrefix(header, "Bearer ")
	if !found || strings.TrimSpace(v) == "" {
		return AdminToken{}, false, nil
	}
	tok, err = ParseAdminToken([]byte(v))
	return tok, true, err
}
