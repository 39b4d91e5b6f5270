package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// NewServer gives signer id of the cluster provisioned in dir (with
// Spec.SeparateHSMs) what a new server that replaces a lost one has: a new
// HSM token, with a new sealing key and a new TLS key whose certificate
// the cluster CA issues for the same name, and an empty data directory (no
// shares, no slashing history, a new audit log). The configuration stays:
// an operator installs the same one on the new server. The old token and
// everything in the data directory are destroyed, so the signer must be
// stopped; it starts holding nothing until `rampartctl reshare repair`
// gives it its shares again. NewServer refuses a signer whose state lies
// outside its own directory, and may be run again after a failure: a
// token or data already destroyed are not missed.
func NewServer(ctx context.Context, dir string, id uint64) (err error) {
	if id < 1 || id > 64 {
		return fmt.Errorf("localcluster: signer %d: ids run from 1 to 64", id)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	name := signerName(int(id))
	sdir := filepath.Join(dir, name)
	cfg, err := appliance.Load(filepath.Join(sdir, "signer.yaml"))
	if err != nil {
		return fmt.Errorf("localcluster: signer %d: %w", id, err)
	}
	// Everything destroyed must be the signer's own: its data directory
	// where Provision put it, and its state inside it.
	data := filepath.Join(sdir, "data")
	if filepath.Clean(cfg.DataDir) != data {
		return fmt.Errorf("localcluster: signer %d keeps its data in %q, not in %s: not a signer this package provisioned; nothing was changed", id, cfg.DataDir, data)
	}
	for field, p := range map[string]string{"accounts.shares_dir": cfg.Accounts.SharesDir, "slashing.database": cfg.Slashing.Database, "audit.dir": cfg.Audit.Dir} {
		if p != "" && !strings.HasPrefix(filepath.Clean(p), data+string(filepath.Separator)) {
			return fmt.Errorf("localcluster: signer %d's %s %q lies outside its data directory %s; nothing was changed", id, field, p, data)
		}
	}
	env, err := softhsm.Open(filepath.Join(sdir, "softhsm"))
	if err != nil {
		return fmt.Errorf("localcluster: signer %d has no HSM of its own to replace (a cluster provisioned with separate HSMs): %w", id, err)
	}

	// The cluster CA, in its own token, issues the new identity.
	caEnv, err := softhsm.Open(filepath.Join(dir, "softhsm"), CATokenLabel)
	if err != nil {
		return fmt.Errorf("localcluster: the cluster CA's token: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return fmt.Errorf("localcluster: the cluster CA's certificate: %w", err)
	}
	cas, err := hsm.ParseCertificatesPEM(caPEM)
	if err != nil || len(cas) != 1 {
		return fmt.Errorf("localcluster: the cluster CA's certificate %s: %v (%d certificates)", filepath.Join(dir, "ca.pem"), err, len(cas))
	}
	// SoftHSM reads SOFTHSM2_CONF when a module copy is first opened in
	// this process (each Env has its own copy); the caller's value is put
	// back at the end.
	if prev, ok := os.LookupEnv(softhsm.ConfigEnv); ok {
		defer os.Setenv(softhsm.ConfigEnv, prev)
	} else {
		defer os.Unsetenv(softhsm.ConfigEnv)
	}
	if err := os.Setenv(softhsm.ConfigEnv, caEnv.ConfigPath); err != nil {
		return err
	}
	caURI := caEnv.Token(CATokenLabel).ObjectURI(CAKeyLabel)
	caTok, err := hsm.Open(ctx, caURI, hsm.DefaultOptions())
	if err != nil {
		return fmt.Errorf("localcluster: the cluster CA's token: %w", err)
	}
	defer caTok.Close()
	caKey, err := caTok.TLSKey(ctx, caURI.ObjectRef())
	if err != nil {
		return fmt.Errorf("localcluster: the cluster CA's key: %w", err)
	}

	// The lost server's token and disk go; the new server's come. The
	// SoftHSM configuration and module copy stay where the signer's
	// configuration names them, as an HSM of the same model would. From
	// here on a failure leaves the signer without its old token.
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (signer %d's old token and data are destroyed already: fix the cause and replace it again)", err, id)
		}
	}()
	base := filepath.Join(env.Dir, fmt.Sprintf("%x", name))
	for _, f := range []string{base + ".pin", base + ".so-pin"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("localcluster: removing signer %d's old token: %w", id, err)
		}
	}
	if err := errors.Join(os.RemoveAll(env.TokenDir), os.RemoveAll(data)); err != nil {
		return fmt.Errorf("localcluster: removing signer %d's old token and data: %w", id, err)
	}
	for _, d := range []string{env.TokenDir, data, cfg.Accounts.SharesDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	tok, err := env.InitToken(ctx, name)
	if err != nil {
		return fmt.Errorf("localcluster: signer %d's new token: %w", id, err)
	}
	if err := os.Setenv(softhsm.ConfigEnv, env.ConfigPath); err != nil {
		return err
	}
	return makeKeys(ctx, tok, name, cas[0], caKey, cfg.TLS.Certificate)
}
