package adminapi

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

// ErrToken is returned for an administrative token or verifier that
// cannot be read or is malformed; the message names the source and the
// fix, never the token.
var ErrToken = errors.New("administrative token")

// Limits of a token: at least 256 bits, and a bound on what is parsed.
const (
	minTokenBytes = 32
	maxTokenBytes = 128
)

// verifierPrefix starts a verifier.
const verifierPrefix = "sha256:"

// Token is the administrative bearer token. It never prints; Zero
// clears it.
type Token struct{ raw []byte }

// NewToken draws a fresh 256-bit token.
func NewToken(rand io.Reader) (Token, error) {
	raw := make([]byte, minTokenBytes)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return Token{}, fmt.Errorf("%w: drawing a token: %v", ErrToken, err)
	}
	return Token{raw: raw}, nil
}

// ParseToken parses a token: hex (an optional 0x), at least 256 bits.
// A verifier (sha256:...) is refused: only the token proves anything.
func ParseToken(text []byte) (Token, error) {
	s := strings.TrimSpace(string(text))
	if strings.HasPrefix(s, verifierPrefix) {
		return Token{}, fmt.Errorf("%w: holds a verifier (sha256:...), not the token: a client needs the token itself (rampartctl admin token --out FILE wrote it)", ErrToken)
	}
	s = strings.TrimPrefix(s, "0x")
	if len(s)%2 != 0 || len(s) < 2*minTokenBytes || len(s) > 2*maxTokenBytes {
		return Token{}, fmt.Errorf("%w: want %d to %d random bytes in hex (rampartctl admin token --out FILE)", ErrToken, minTokenBytes, maxTokenBytes)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return Token{}, fmt.Errorf("%w: not hexadecimal", ErrToken)
	}
	return Token{raw: raw}, nil
}

// LoadToken reads the token from a secret source (file:/path, owner
// only, or credential:NAME), as rampartctl does with the cluster file's
// admin.token.
func LoadToken(source, credentialsDir string) (Token, error) {
	text, err := readSecretSource(source, credentialsDir)
	if err != nil {
		return Token{}, err
	}
	defer clear(text)
	tok, err := ParseToken(text)
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", source, err)
	}
	return tok, nil
}

func readSecretSource(source, credentialsDir string) ([]byte, error) {
	src, err := hsm.ParseSecretSource(source)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	text, err := src.Read(credentialsDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	return text, nil
}

// IsZero reports whether there is no token.
func (t Token) IsZero() bool { return len(t.raw) == 0 }

// Hex is the token's text, for writing it to its owner-only file.
func (t Token) Hex() string { return hex.EncodeToString(t.raw) }

// Verifier is what a signer keeps: sha256:<hex>.
func (t Token) Verifier() string {
	sum := sha256.Sum256(t.raw)
	return verifierPrefix + hex.EncodeToString(sum[:])
}

// Zero clears the token.
func (t *Token) Zero() {
	clear(t.raw)
	t.raw = nil
}

// Clone returns a copy the caller owns (and zeroes).
func (t Token) Clone() Token { return Token{raw: bytes.Clone(t.raw)} }

const redactedText = "[REDACTED]"

func (t Token) String() string       { return redactedText }
func (t Token) GoString() string     { return redactedText }
func (t Token) LogValue() slog.Value { return slog.StringValue(redactedText) }

// Verifier is what a signer keeps of the token: the SHA-256 of its
// bytes.
type Verifier [sha256.Size]byte

// LoadVerifier reads a signer's admin.token: the verifier (sha256:<hex>) or the
// token itself, of which only the verifier is kept.
func LoadVerifier(source, credentialsDir string) (Verifier, error) {
	text, err := readSecretSource(source, credentialsDir)
	if err != nil {
		return Verifier{}, fmt.Errorf("admin.token: %w", err)
	}
	defer clear(text)
	s := strings.TrimSpace(string(text))
	if v, ok := strings.CutPrefix(s, verifierPrefix); ok {
		var out Verifier
		if len(v) != 2*sha256.Size {
			return out, fmt.Errorf("admin.token: %w: the verifier is sha256: and 64 hex digits (rampartctl admin token prints it)", ErrToken)
		}
		if _, err := hex.Decode(out[:], []byte(v)); err != nil {
			return out, fmt.Errorf("admin.token: %w: the verifier is not hexadecimal", ErrToken)
		}
		return out, nil
	}
	tok, err := ParseToken(text)
	if err != nil {
		return Verifier{}, fmt.Errorf("admin.token: %w", err)
	}
	defer tok.Zero()
	return sha256.Sum256(tok.raw), nil
}

// Check compares a presented token with the verifier in constant time.
func (v Verifier) Check(t Token) bool {
	sum := sha256.Sum256(t.raw)
	return subtle.ConstantTimeCompare(sum[:], v[:]) == 1
}

// ParseBearer parses an Authorization header's bearer token (the server
// side of [Client]'s header); ok is false when the header carries none.
func ParseBearer(header string) (tok Token, ok bool, err error) {
	v, found := strings.CutPrefix(header, "Bearer ")
	if !found || strings.TrimSpace(v) == "" {
		return Token{}, false, nil
	}
	tok, err = ParseToken([]byte(v))
	return tok, true, err
}
