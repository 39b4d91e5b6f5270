package keystore

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestNormalizePassword(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"applies NFKD to the EIP's vector", "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑", "testpassword🔑"},
		{"strips C0 codes including a trailing newline", "pass\tword\r\n", "password"},
		{"strips DEL", "pass\x7fword", "password"},
		{"strips C1 codes", "pass\u0085word\u009f", "password"},
		{"keeps spaces", " pass word ", " pass word "},
		{"decomposes accents", "é", "e\u0301"},
		{"maps compatibility characters", "ﬁ²", "fi2"},
		{"keeps an empty password empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got, err := normalizePassword(in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if string(in) != tc.in {
				t.Fatal("normalisation modified the caller's password")
			}
		})
	}
	// The EIP states the encoded vector password.
	got, _ := normalizePassword([]byte("𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑"))
	want, _ := hex.DecodeString("7465737470617373776f7264f09f9491")
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded password %x, want %x", got, want)
	}
	if _, err := normalizePassword([]byte{0xc3}); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}
