package adminapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestTokenVerifierChecksInConstantTimeAgainstTheVerifierOnly(t *testing.T) {
	tok, err := NewToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewToken(rand.Reader)
	var v Verifier
	if n, err := hex.Decode(v[:], []byte(strings.TrimPrefix(tok.Verifier(), verifierPrefix))); err != nil || n != len(v) {
		t.Fatal(err)
	}
	if !v.Check(tok) || v.Check(other) || v.Check(Token{}) {
		t.Fatal("verifier check")
	}
	if s := fmt.Sprint(tok) + fmt.Sprintf("%#v %v", tok, tok); strings.Contains(s, tok.Hex()) {
		t.Fatalf("the token printed: %s", s)
	}
}

// FuzzBearerToken: the Authorization header is untrusted; whatever it
// holds, parsing never panics, and an accepted token is what was sent.
func FuzzBearerToken(f *testing.F) {
	f.Add("Bearer " + strings.Repeat("ab", 32))
	f.Add("Bearer 0x" + strings.Repeat("AB", 40))
	f.Add("Bearer sha256:" + strings.Repeat("00", 32))
	f.Add("Basic abc")
	f.Add("Bearer ")
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok, err := ParseBearer(header)
		if !ok || err != nil {
			if !tok.IsZero() {
				t.Fatal("a refused header gave a token")
			}
			return
		}
		if len(tok.raw) < minTokenBytes || len(tok.raw) > maxTokenBytes {
			t.Fatalf("accepted %d bytes", len(tok.raw))
		}
		again, err := ParseToken([]byte(tok.Hex()))
		if err != nil || again.Hex() != tok.Hex() {
			t.Fatalf("round trip: %v", err)
		}
	})
}
