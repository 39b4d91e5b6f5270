// Package softhsm creates SoftHSM2 tokens for tests and development
// clusters: a private configuration and token directory, one or more
// initialised tokens with random PINs, and the pkcs11: URIs that open them
// with package hsm. It is never used in production, where the operator
// initialises the vendor's HSM.
//
// # Security
//
// PINs are random, written to owner-only files and passed to softhsm2-util
// on its command line, which other local users can see for the moment it
// runs: acceptable for throw-away test and development tokens only.
//
// SoftHSM reads its configuration (the SOFTHSM2_CONF environment variable)
// once, when the module is first initialised in a process, and does not
// notice tokens created after that. So each Env gets its own copy of the
// module: in one process, every Env is a separate module instance with its
// own configuration. Set SOFTHSM2_CONF to the Env's ConfigPath before the
// first hsm.Open of its tokens ([New] does, for a test), and create all of an
// Env's tokens before opening any of them.
package softhsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
)

// DefaultModule is where Debian's softhsm2 package installs the module.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// ConfigEnv is the environment variable SoftHSM reads its configuration
// file path from.
const ConfigEnv = "SOFTHSM2_CONF"

// Env is a SoftHSM configuration with its own token directory and module
// copy.
type Env struct {
	// Dir holds everything below.
	Dir string
	// ConfigPath is the softhsm2.conf to put in SOFTHSM2_CONF.
	ConfigPath string
	// TokenDir holds the tokens.
	TokenDir string
	// ModulePath is this Env's copy of the SoftHSM module.
	ModulePath string
	// Tokens are the tokens created so far, in order.
	Tokens []*Token
}

// Token is an initialised SoftHSM token.
type Token struct {
	Label string
	// PINFile holds the user PIN (mode 0600); SOPINFile the SO PIN.
	PINFile   string
	SOPINFile string
	// URI opens the token: token label, module-path and pin-source. It
	// names no object; see ObjectURI.
	URI *hsm.URI
}

// ObjectURI returns the token's URI naming the object label.
func (t *Token) ObjectURI(object string) *hsm.URI {
	u := *t.URI
	u.Object = object
	return &u
}

// maxLabel is the size of a PKCS#11 token label.
const maxLabel = 32

// Create makes a configuration in dir (which must exist and should be
// empty, e.g. t.TempDir()) and initialises a token for each label.
func Create(ctx context.Context, dir string, labels ...string) (*Env, error) {
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("softhsm: %w", err)
		}
		dir = abs
	}
	e := &Env{
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "softhsm2.conf"),
		TokenDir:   filepath.Join(dir, "tokens"),
		ModulePath: filepath.Join(dir, "libsofthsm2.so"),
	}
	if err := os.Mkdir(e.TokenDir, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: token directory: %w", err)
	}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n", e.TokenDir)
	if err := writeNew(e.ConfigPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: configuration: %w", err)
	}
	if err := copyModule(e.ModulePath); err != nil {
		return nil, err
	}
	for _, l := range labels {
		if _, err := e.InitToken(ctx, l); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// New is Create for a test: it uses t.TempDir(), sets SOFTHSM2_CONF for the
// test's duration (so the test cannot be parallel) and fails the test on
// error.
func New(tb testing.TB, labels ...string) *Env {
	tb.Helper()
	e, err := Create(tb.Context(), tb.TempDir(), labels...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Setenv(ConfigEnv, e.ConfigPath)
	return e
}

// copyModule copies the installed module so this Env gets its own module
// instance in the process (the dynamic loader shares one instance per
// file).
func copyModule(dst string) error {
	src, err := filepath.EvalSymlinks(DefaultModule)
	if err != nil {
		return fmt.Errorf("softhsm: module %s: %w (install the softhsm2 package)", DefaultModule, err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("softhsm: module: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("softhsm: module copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("softhsm: module copy: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("softhsm: module copy: %w", err)
	}
	return nil
}

// InitToken initialises a token in a free slot with the label and random
// PINs. Tokens created after the Env's module was initialised in this
// process are invisible to it until every token of the Env is closed.
func (e *Env) InitToken(ctx context.Context, label string) (*Token, error) {
	if label == "" || len(label) > maxLabel || strings.ContainsFunc(label, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("softhsm: token label must have 1 to %d printable bytes", maxLabel)
	}
	for _, t := range e.Tokens {
		if t.Label == label {
			return nil, fmt.Errorf("softhsm: a token labelled %q already exists", label)
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return nil, fmt.Errorf("softhsm: softhsm2-util not found (install the softhsm2 package): %w", err)
	}
	// rand.Text: 26 base32 characters, 130 random bits.
	soPIN, userPIN := rand.Text(), rand.Text()
	base := filepath.Join(e.Dir, hex.EncodeToString([]byte(label)))
	t := &Token{Label: label, PINFile: base + ".pin", SOPINFile: base + ".so-pin"}
	if err := writeNew(t.PINFile, []byte(userPIN+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: PIN file: %w", err)
	}
	if err := writeNew(t.SOPINFile, []byte(soPIN+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: SO PIN file: %w", err)
	}
	cmd := exec.CommandContext(ctx, util, "--init-token", "--free", "--module", e.ModulePath,
		"--label", label, "--so-pin", soPIN, "--pin", userPIN)
	cmd.Env = e.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.NewReplacer(soPIN, "[REDACTED]", userPIN, "[REDACTED]").Replace(strings.TrimSpace(string(out)))
		return nil, fmt.Errorf("softhsm: softhsm2-util --init-token %q: %w: %s", label, err, msg)
	}
	t.URI = &hsm.URI{Token: label, ModulePath: e.ModulePath, PINSource: "file:" + t.PINFile}
	e.Tokens = append(e.Tokens, t)
	return t, nil
}

// Open returns the Env that Create made in dir, with its tokens of the
// given labels, without changing anything: a later process's view of
// tokens an earlier one created (rampartctl devnet, which provisions in one
// run and works with the tokens in the next).
func Open(dir string, labels ...string) (*Env, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	e := &Env{
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "softhsm2.conf"),
		TokenDir:   filepath.Join(dir, "tokens"),
		ModulePath: filepath.Join(dir, "libsofthsm2.so"),
	}
	for _, p := range []string{e.ConfigPath, e.TokenDir, e.ModulePath} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("softhsm: %s holds no SoftHSM configuration made by Create: %w", dir, err)
		}
	}
	for _, label := range labels {
		base := filepath.Join(dir, hex.EncodeToString([]byte(label)))
		t := &Token{Label: label, PINFile: base + ".pin", SOPINFile: base + ".so-pin"}
		if _, err := os.Stat(t.PINFile); err != nil {
			return nil, fmt.Errorf("softhsm: no token %q in %s: %w", label, dir, err)
		}
		t.URI = &hsm.URI{Token: label, ModulePath: e.ModulePath, PINSource: "file:" + t.PINFile}
		e.Tokens = append(e.Tokens, t)
	}
	return e, nil
}

// Token returns the token with the label, or nil.
func (e *Env) Token(label string) *Token {
	for _, t := range e.Tokens {
		if t.Label == label {
			return t
		}
	}
	return nil
}

// Environ returns the current environment with SOFTHSM2_CONF pointing at
// this Env, for child processes.
func (e *Env) Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, ConfigEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, ConfigEnv+"="+e.ConfigPath)
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
