package hsm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

func TestOpenRefuses(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	tok := env.Tokens[0]
	pin, err := os.ReadFile(tok.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pinFile := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return "file:" + p
	}
	notModule := filepath.Join(dir, "not-a-module.so")
	if err := os.WriteFile(notModule, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	with := func(f func(u *hsm.URI)) *hsm.URI {
		u := *tok.URI
		f(&u)
		return &u
	}
	for _, tc := range []struct {
		name string
		uri  *hsm.URI
		opts func(o *hsm.Options)
		want error
	}{
		{"refuses a wrong PIN", with(func(u *hsm.URI) { u.PINSource = pinFile("wrong", "0000wrong\n", 0o600) }), nil, hsm.ErrWrongPIN},
		{"refuses a token that does not exist", with(func(u *hsm.URI) { u.Token = "no-such-token" }), nil, hsm.ErrTokenNotFound},
		{"refuses a token whose serial differs", with(func(u *hsm.URI) { u.Serial = "0000000000000000" }), nil, hsm.ErrTokenNotFound},
		{"refuses a missing module", with(func(u *hsm.URI) { u.ModulePath = "/nonexistent/libpkcs11.so" }), nil, hsm.ErrModuleNotFound},
		{"refuses a file that is not a PKCS#11 module", with(func(u *hsm.URI) { u.ModulePath = notModule }), nil, hsm.ErrModuleNotFound},
		{"refuses a directory as module", with(func(u *hsm.URI) { u.ModulePath = dir }), nil, hsm.ErrModuleNotFound},
		{"refuses a missing PIN file", with(func(u *hsm.URI) { u.PINSource = filepath.Join(dir, "absent.pin") }), nil, hsm.ErrPINSource},
		{"refuses a PIN file readable by others", with(func(u *hsm.URI) { u.PINSource = pinFile("open", string(pin), 0o644) }), nil, hsm.ErrPINSource},
		{"refuses an empty PIN file", with(func(u *hsm.URI) { u.PINSource = pinFile("empty", "\n", 0o600) }), nil, hsm.ErrPINSource},
		{"refuses a PIN file with two lines", with(func(u *hsm.URI) { u.PINSource = pinFile("two", "1234\n5678\n", 0o600) }), nil, hsm.ErrPINSource},
		{"refuses a huge PIN file", with(func(u *hsm.URI) { u.PINSource = pinFile("huge", strings.Repeat("1", 2000), 0o600) }), nil, hsm.ErrPINSource},
		{"refuses a directory as PIN file", with(func(u *hsm.URI) { u.PINSource = dir }), nil, hsm.ErrPINSource},
		{"refuses a systemd credential outside a service", with(func(u *hsm.URI) { u.PINSource = "credential:hsm-pin" }),
			func(o *hsm.Options) { o.CredentialsDir = "" }, hsm.ErrPINSource},
		{"refuses a URI without token", with(func(u *hsm.URI) { u.Token = "" }), nil, hsm.ErrInvalidURI},
		{"refuses a URI without module-path", with(func(u *hsm.URI) { u.ModulePath = "" }), nil, hsm.ErrInvalidURI},
		{"refuses a URI without pin-source", with(func(u *hsm.URI) { u.PINSource = "" }), nil, hsm.ErrInvalidURI},
		{"refuses a relative module path set in code", with(func(u *hsm.URI) { u.ModulePath = "libsofthsm2.so" }), nil, hsm.ErrInvalidURI},
		{"refuses a relative PIN path set in code", with(func(u *hsm.URI) { u.PINSource = "pin" }), nil, hsm.ErrInvalidURI},
		{"refuses a zero call timeout", tok.URI, func(o *hsm.Options) { o.CallTimeout = 0 }, hsm.ErrInvalidOptions},
		{"refuses a single session", tok.URI, func(o *hsm.Options) { o.MaxSessions = 1 }, hsm.ErrInvalidOptions},
		{"refuses a nil random source", tok.URI, func(o *hsm.Options) { o.Rand = nil }, hsm.ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := hsm.DefaultOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			ht, err := hsm.Open(t.Context(), tc.uri, opts)
			if err == nil {
				ht.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(string(pin))) || strings.Contains(err.Error(), "0000wrong") {
				t.Fatalf("error %q contains a PIN", err)
			}
		})
	}
}

func TestOpenWithSystemdCredential(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	tok := env.Tokens[0]
	pin, err := os.ReadFile(tok.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	creds := t.TempDir()
	// systemd makes credentials read-only for the service user.
	if err := os.WriteFile(filepath.Join(creds, "hsm-pin"), pin, 0o400); err != nil {
		t.Fatal(err)
	}
	u := *tok.URI
	u.PINSource = "credential:hsm-pin"
	opts := hsm.DefaultOptions()
	opts.CredentialsDir = creds
	ht, err := hsm.Open(t.Context(), &u, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ht.Close()
	if ht.Label() != "signer-1" || ht.Info().Label != "signer-1" || !ht.Info().Initialized {
		t.Fatalf("token info %+v", ht.Info())
	}
}

// TestFiveSignersInOneProcess is the shape of an in-process test cluster:
// one SoftHSM configuration holding five tokens, all open at once, each
// with its own sealing key.
func TestFiveSignersInOneProcess(t *testing.T) {
	labels := []string{"signer-1", "signer-2", "signer-3", "signer-4", "signer-5"}
	env := softhsm.New(t, labels...)
	keys := make([]*hsm.SealingKey, len(labels))
	blobs := make([][]byte, len(labels))
	accts := make([]account, len(labels))
	for i, tok := range env.Tokens {
		_, keys[i] = sealingKey(t, tok)
		accts[i] = newAccount(t, uint64(i+1))
		blobs[i] = seal(t, keys[i], accts[i])
	}
	for i := range keys {
		for j := range blobs {
			got, err := keys[i].Unseal(t.Context(), blobs[j], accts[j].placement())
			switch {
			case i == j && (err != nil || !got.Key.Equal(accts[j].share)):
				t.Errorf("signer %d cannot unseal its own share: %v", i+1, err)
			case i != j && !errors.Is(err, hsm.ErrUnseal):
				t.Errorf("signer %d unsealing signer %d's share: got %v, want ErrUnseal", i+1, j+1, err)
			}
			got.Key.Zero()
		}
	}
}

// TestTwoConfigurationsAtOnce opens tokens of two separate SoftHSM
// configurations in one process at the same time.
func TestTwoConfigurationsAtOnce(t *testing.T) {
	envA := softhsm.New(t, "a")
	_, kA := sealingKey(t, envA.Tokens[0])
	envB := softhsm.New(t, "b")
	_, kB := sealingKey(t, envB.Tokens[0])
	a := newAccount(t, 1)
	if _, err := kB.Unseal(t.Context(), seal(t, kA, a), a.placement()); !errors.Is(err, hsm.ErrUnseal) {
		t.Fatalf("got %v, want ErrUnseal", err)
	}
	got, err := kA.Unseal(t.Context(), seal(t, kA, a), a.placement())
	if err != nil {
		t.Fatal(err)
	}
	got.Key.Zero()
}

// TestModuleThroughSymlinkSharesInitialisation opens two tokens of one
// module through two spellings of its path.
func TestModuleThroughSymlinkSharesInitialisation(t *testing.T) {
	env := softhsm.New(t, "a", "b")
	link := filepath.Join(t.TempDir(), "module.so")
	if err := os.Symlink(env.ModulePath, link); err != nil {
		t.Fatal(err)
	}
	open(t, env.Tokens[0])
	u := *env.Tokens[1].URI
	u.ModulePath = link
	ht, err := hsm.Open(t.Context(), &u, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ht.Close()
}

func TestClosedTokenRefusesCalls(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	ht, err := hsm.Open(t.Context(), env.Tokens[0].URI, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	k, err := ht.CreateSealingKey(t.Context(), hsm.Object{Label: sealLabel})
	if err != nil {
		t.Fatal(err)
	}
	if err := ht.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ht.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	a := newAccount(t, 1)
	if _, err := k.Seal(t.Context(), a.share, a.binding); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("seal after close: got %v, want ErrClosed", err)
	}
	if _, err := ht.SealingKey(t.Context(), hsm.Object{Label: sealLabel}); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("find after close: got %v, want ErrClosed", err)
	}
	// The token reopens after the module was finalised.
	ht2 := open(t, env.Tokens[0])
	if _, err := ht2.SealingKey(t.Context(), hsm.Object{Label: sealLabel}); err != nil {
		t.Fatal(err)
	}
}

func TestCallsHonourContext(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	_, k := sealingKey(t, env.Tokens[0])
	a := newAccount(t, 1)
	blob := seal(t, k, a)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"stops on a cancelled context", cancelled, context.Canceled},
		{"reports a timeout on an expired deadline", expired, hsm.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Seal(tc.ctx, a.share, a.binding); !errors.Is(err, tc.want) {
				t.Errorf("seal: got %v, want %v", err, tc.want)
			}
			if _, err := k.UnsealAll(tc.ctx, [][]byte{blob}, a.placement()); !errors.Is(err, tc.want) {
				t.Errorf("unseal all: got %v, want %v", err, tc.want)
			}
			if _, err := hsm.Open(tc.ctx, env.Tokens[0].URI, hsm.DefaultOptions()); !errors.Is(err, tc.want) {
				t.Errorf("open: got %v, want %v", err, tc.want)
			}
		})
	}
}
