package softhsm_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

func TestNewMakesPrivateTokensThatOpen(t *testing.T) {
	env := softhsm.New(t, "signer-1", "signer-2")
	if got := os.Getenv(softhsm.ConfigEnv); got != env.ConfigPath {
		t.Fatalf("%s is %q, want %q", softhsm.ConfigEnv, got, env.ConfigPath)
	}
	if !slices.Contains(env.Environ(), softhsm.ConfigEnv+"="+env.ConfigPath) {
		t.Fatal("Environ lacks the configuration")
	}
	conf, err := os.ReadFile(env.ConfigPath)
	if err != nil || !strings.Contains(string(conf), "directories.tokendir = "+env.TokenDir) {
		t.Fatalf("configuration %q: %v", conf, err)
	}
	for _, tok := range env.Tokens {
		for _, f := range []string{tok.PINFile, tok.SOPINFile, env.ConfigPath} {
			st, err := os.Stat(f)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: mode %v, %v; want 0600", f, st.Mode().Perm(), err)
			}
		}
		if tok.URI.Token != tok.Label || tok.URI.ModulePath != env.ModulePath || tok.URI.PINSource != "file:"+tok.PINFile {
			t.Fatalf("URI %+v", tok.URI)
		}
		if u := tok.ObjectURI("k"); u.Object != "k" || tok.URI.Object != "" {
			t.Fatal("ObjectURI changed the token URI or did not set the object")
		}
		ht, err := hsm.Open(t.Context(), tok.URI, hsm.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if ht.Info().Label != tok.Label {
			t.Fatalf("opened %q, want %q", ht.Info().Label, tok.Label)
		}
		if err := ht.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if env.Token("signer-2") != env.Tokens[1] || env.Token("absent") != nil {
		t.Fatal("Token lookup by label")
	}
}

func TestInitTokenRefuses(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	for name, label := range map[string]string{
		"refuses a duplicate label":     "signer-1",
		"refuses an empty label":        "",
		"refuses a label over 32 bytes": strings.Repeat("x", 33),
		"refuses a control character":   "a\tb",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := env.InitToken(t.Context(), label); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Open sees what Create made (a later process's view of the same tokens)
// and refuses a directory without it or a token it does not hold.
func TestOpenSeesWhatCreateMade(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	again, err := softhsm.Open(env.Dir, "signer-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.ConfigPath != env.ConfigPath || again.ModulePath != env.ModulePath || again.TokenDir != env.TokenDir {
		t.Fatalf("Open: %+v, Create: %+v", again, env)
	}
	if got, want := *again.Token("signer-1"), *env.Token("signer-1"); got.PINFile != want.PINFile || got.URI.String() != want.URI.String() {
		t.Fatalf("token %+v, want %+v", got, want)
	}
	if _, err := softhsm.Open(env.Dir, "signer-2"); err == nil || !strings.Contains(err.Error(), `no token "signer-2"`) {
		t.Fatalf("a token Create did not make: %v", err)
	}
	if _, err := softhsm.Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no SoftHSM configuration") {
		t.Fatalf("an empty directory: %v", err)
	}
}
