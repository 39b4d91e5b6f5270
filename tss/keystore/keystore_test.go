package keystore_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// The EIP's test vectors: password and secret from its "Test Cases".
const (
	vectorPassword = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑"
	vectorSecret   = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
)

// vectorDir is $EIP2335_VECTORS, or the repository's copy in
// testdata/eip2335.
func vectorDir() string {
	if d := os.Getenv("EIP2335_VECTORS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "testdata", "eip2335")
}

func readVectors(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir(), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no EIP-2335 vectors in %s: %v", vectorDir(), err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestEIPVectors decrypts the EIP's scrypt and PBKDF2 keystores with the
// EIP's password, which only works with its normalisation (NFKD turns the
// Fraktur letters into ASCII), and checks the secret and the round trip.
func TestEIPVectors(t *testing.T) {
	want, _ := hex.DecodeString(vectorSecret)
	for name, raw := range readVectors(t) {
		t.Run(name, func(t *testing.T) {
			k, err := keystore.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := k.Decrypt([]byte(vectorPassword))
			if err != nil {
				t.Fatal(err)
			}
			defer sk.Zero()
			if got := sk.Bytes(); !bytes.Equal(got[:], want) {
				t.Fatal("decrypted secret differs from the EIP's")
			}
			// The processed password works as well; a wrong one does not.
			if _, err := k.Decrypt([]byte("testpassword🔑")); err != nil {
				t.Fatalf("normalised password refused: %v", err)
			}
			if _, err := k.Decrypt([]byte("testpassword")); !errors.Is(err, keystore.ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
			out, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			back, err := keystore.Parse(out)
			if err != nil {
				t.Fatalf("re-parsing own output: %v", err)
			}
			if back.UUID != k.UUID || back.Path != k.Path || back.KDF != k.KDF || !back.PublicKey.Equal(k.PublicKey) {
				t.Fatal("round trip changed the keystore")
			}
		})
	}
}

// TestSplitZeroesAndSignsForTheKeystoreKey: a keystore split 3-of-5 signs,
// through any three shares, for the keystore's public key.
func TestSplitZeroesAndSignsForTheKeystoreKey(t *testing.T) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keystore.Encrypt(rand.Reader, sk, []byte("correct horse\n"), cheap(keystore.PBKDF2))
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.Split(rand.Reader, []byte("correct horse"), 3, []tss.ID{1, 2, 3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Zero()
	if !d.Account.Composite.Equal(sk.PublicKey()) {
		t.Fatal("split account is not the keystore's key")
	}
	root := [32]byte{4}
	var ps []tss.Partial
	for _, s := range d.Shares[2:] {
		ps = append(ps, tss.Partial{ID: s.ID(), PublicKey: s.PublicKey(), Signature: s.Sign(root)})
	}
	res, err := tss.Recover(root, d.Account.Composite, 3, ps)
	if err != nil || !res.Signature.Equal(sk.Sign(root)) {
		t.Fatalf("threshold signature differs from the original key's: %v", err)
	}
	if _, err := k.Split(rand.Reader, []byte("wrong"), 3, []tss.ID{1, 2, 3, 4, 5}); !errors.Is(err, keystore.ErrWrongPassword) {
		t.Fatalf("split with a wrong password: %v", err)
	}
	if _, err := k.Split(rand.Reader, []byte("correct horse"), 2, []tss.ID{1, 2, 3, 4}); !errors.Is(err, tss.ErrThreshold) {
		t.Fatalf("split with a minority threshold: %v", err)
	}
}

func cheap(kdf string) keystore.Options {
	o := keystore.DefaultOptions()
	o.KDF, o.ScryptN, o.PBKDF2Iterations, o.Path = kdf, 1<<4, 16, "m/12381/3600/0/0/0"
	return o
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	for _, kdf := range []string{keystore.Scrypt, keystore.PBKDF2} {
		t.Run(kdf, func(t *testing.T) {
			sk, err := bls.GenerateSecretKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pw := []byte("ﬁnal\u00a0pass\u0007word") // ligature, no-break space, BEL
			k, err := keystore.Encrypt(rand.Reader, sk, pw, cheap(kdf))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := keystore.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			// NFKD maps the ligature to "fi" and the no-break space to a
			// space; BEL is a C0 control code and disappears.
			got, err := k2.Decrypt([]byte("final password"))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(sk) {
				t.Fatal("decrypted another key")
			}
		})
	}
}

func TestEncryptRefusesBadOptions(t *testing.T) {
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	for _, tc := range []struct {
		name string
		mut  func(*keystore.Options)
		pw   string
	}{
		{"refuses an unknown KDF", func(o *keystore.Options) { o.KDF = "argon2" }, "pw"},
		{"refuses scrypt n not a power of two", func(o *keystore.Options) { o.ScryptN = 1000 }, "pw"},
		{"refuses scrypt beyond the memory limit", func(o *keystore.Options) { o.ScryptN = 1 << 24 }, "pw"},
		{"refuses zero pbkdf2 iterations", func(o *keystore.Options) { o.KDF, o.PBKDF2Iterations = keystore.PBKDF2, 0 }, "pw"},
		{"refuses a bad path", func(o *keystore.Options) { o.Path = "m/x" }, "pw"},
		{"refuses a password of control codes only", func(*keystore.Options) {}, "\n\t\x7f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := cheap(keystore.Scrypt)
			tc.mut(&o)
			if _, err := keystore.Encrypt(rand.Reader, sk, []byte(tc.pw), o); !errors.Is(err, keystore.ErrOptions) {
				t.Fatalf("Encrypt = %v", err)
			}
		})
	}
	if _, err := keystore.Encrypt(rand.Reader, sk, []byte{0xff, 0xfe}, cheap(keystore.Scrypt)); !errors.Is(err, keystore.ErrPassword) {
		t.Fatalf("invalid UTF-8 password: %v", err)
	}
}

// TestSwappedPublicKeyIsRefused: the checksum does not cover the pubkey, so
// an attacker can relabel a keystore with another key; the import must
// notice that the decrypted secret is not that key's.
func TestSwappedPublicKeyIsRefused(t *testing.T) {
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	other, _ := bls.GenerateSecretKey(rand.Reader)
	k, err := keystore.Encrypt(rand.Reader, sk, []byte("pw"), cheap(keystore.Scrypt))
	if err != nil {
		t.Fatal(err)
	}
	k.PublicKey = other.PublicKey()
	raw, _ := json.Marshal(k)
	k2, err := keystore.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Decrypt([]byte("pw")); !errors.Is(err, keystore.ErrPublicKeyMismatch) {
		t.Fatalf("Decrypt = %v", err)
	}
	if _, err := k2.Split(rand.Reader, []byte("pw"), 2, []tss.ID{1, 2, 3}); !errors.Is(err, keystore.ErrPublicKeyMismatch) {
		t.Fatalf("Split = %v", err)
	}
}

func TestParseIsStrict(t *testing.T) {
	base := string(readVectors(t)["eip2335-pbkdf2.json"])
	scrypt := string(readVectors(t)["eip2335-scrypt.json"])
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"refuses an unknown field", strings.Replace(base, `"version": 4`, `"version": 4, "label": "x"`, 1), keystore.ErrMalformed},
		{"refuses a field in another case", strings.Replace(base, `"uuid"`, `"UUID"`, 1), keystore.ErrMalformed},
		{"refuses a duplicate field", strings.Replace(base, `"version": 4`, `"version": 4, "version": 4`, 1), keystore.ErrMalformed},
		{"refuses version 3", strings.Replace(base, `"version": 4`, `"version": 3`, 1), keystore.ErrMalformed},
		{"refuses a non-canonical version", strings.Replace(base, `"version": 4`, `"version": 4.0`, 1), keystore.ErrMalformed},
		{"refuses a missing pubkey", strings.Replace(base, `"pubkey"`, `"description2"`, 1), keystore.ErrMalformed},
		{"refuses a null path", strings.Replace(base, `"path": "m/12381/60/0/0"`, `"path": null`, 1), keystore.ErrMalformed},
		{"refuses a short pubkey", strings.Replace(base, `"pubkey": "96`, `"pubkey": "`, 1), keystore.ErrMalformed},
		{"refuses a pubkey off the curve", strings.Replace(base, `"pubkey": "96`, `"pubkey": "97`, 1), keystore.ErrMalformed},
		{"refuses a bad uuid", strings.Replace(base, `"uuid": "64625def`, `"uuid": "64625dex`, 1), keystore.ErrMalformed},
		{"refuses a short iv", strings.Replace(base, `"iv": "26`, `"iv": "`, 1), keystore.ErrMalformed},
		{"refuses a short cipher message", strings.Replace(base, `"message": "cee0`, `"message": "`, 1), keystore.ErrMalformed},
		{"refuses odd hex in the salt", strings.Replace(base, `"salt": "d4`, `"salt": "d`, 1), keystore.ErrMalformed},
		{"refuses a kdf message", strings.Replace(base, `"message": ""`, `"message": "x"`, 1), keystore.ErrMalformed},
		{"refuses checksum params", strings.Replace(base, `"params": {}`, `"params": {"x": 1}`, 1), keystore.ErrMalformed},
		{"refuses trailing data", base + "{}", keystore.ErrMalformed},
		{"refuses dklen 16", strings.Replace(base, `"dklen": 32`, `"dklen": 16`, 1), keystore.ErrUnsupported},
		{"refuses another prf", strings.Replace(base, `"hmac-sha256"`, `"hmac-sha512"`, 1), keystore.ErrUnsupported},
		{"refuses another cipher", strings.Replace(base, `"aes-128-ctr"`, `"aes-256-gcm"`, 1), keystore.ErrUnsupported},
		{"refuses another kdf", strings.Replace(base, `"function": "pbkdf2"`, `"function": "argon2id"`, 1), keystore.ErrUnsupported},
		{"refuses pbkdf2 iterations beyond the limit", strings.Replace(base, `"c": 262144`, `"c": 1073741824`, 1), keystore.ErrUnsupported},
		{"refuses scrypt memory beyond the limit", strings.Replace(scrypt, `"n": 262144`, `"n": 8388608`, 1), keystore.ErrUnsupported},
		{"refuses scrypt n not a power of two", strings.Replace(scrypt, `"n": 262144`, `"n": 262145`, 1), keystore.ErrUnsupported},
		{"refuses oversized input", base + strings.Repeat(" ", 70000), keystore.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in == base {
				t.Fatal("the mutation did not apply")
			}
			if _, err := keystore.Parse([]byte(tc.in)); !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzParse feeds arbitrary bytes to the parser. Whatever parses must
// encode to a keystore that parses to the same fields and encodes to the
// same bytes.
func FuzzParse(f *testing.F) {
	for _, raw := range readVectors(f) {
		f.Add(raw)
	}
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	k, _ := keystore.Encrypt(rand.Reader, sk, []byte("pw"), cheap(keystore.Scrypt))
	raw, _ := json.Marshal(k)
	f.Add(raw)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := keystore.Parse(b)
		if err != nil {
			if !errors.Is(err, keystore.ErrMalformed) && !errors.Is(err, keystore.ErrUnsupported) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		out, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := keystore.Parse(out)
		if err != nil {
			t.Fatalf("own encoding does not parse: %v", err)
		}
		out2, _ := json.Marshal(k2)
		if !bytes.Equal(out, out2) || k2.KDF != k.KDF || k2.UUID != k.UUID || k2.Path != k.Path || k2.Description != k.Description {
			t.Fatal("round trip changed the keystore")
		}
	})
}
