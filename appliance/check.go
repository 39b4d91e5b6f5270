package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/hsm"
)

// CheckReport is what Check proved, for the operator.
type CheckReport struct {
	// Checked lists what passed, one line each.
	Checked []string
	// Problems lists what would stop the signer, or stop it signing,
	// each naming the field and the fix.
	Problems []error
}

// Check does what start-up would, short of unsealing and serving, to
// find what would stop the signer before it is started (rampart-signer
// --check-config): it reads the PIN files (their mode included), logs in
// to each token once (never again after a refused PIN), finds the sealing
// and TLS keys, matches the certificate to the key, the cluster CA and
// this node's tls_name, reads the administrative token, the network, and
// checks the state paths and that every listen address is free. Run it
// with the signer stopped: a running signer holds the ports (and, with
// SoftHSM, its token directory).
func (a *Appliance) Check(ctx context.Context) *CheckReport {
	r := &CheckReport{}
	ok := func(format string, args ...any) { r.Checked = append(r.Checked, fmt.Sprintf(format, args...)) }
	bad := func(err error) { r.Problems = append(r.Problems, err) }
	cfg := a.cfg

	if n, err := cfg.LoadNetwork(ctx); err != nil {
		bad(err)
	} else if err := checkGenesisKnown(cfg, n); err != nil {
		bad(err)
	} else {
		ok("network %s", n.Name())
	}

	// The PIN files first: a bad one is named without a login.
	pinsOK := true
	seen := map[string]bool{}
	for _, field := range []struct{ path, uri string }{{"hsm.sealing_key", cfg.HSM.SealingKey}, {"tls.key", cfg.TLS.Key}} {
		u, _ := hsm.ParseURI(field.uri)
		if seen[u.PINSource] {
			continue
		}
		seen[u.PINSource] = true
		src, err := hsm.ParseSecretSource(u.PINSource)
		if err == nil {
			var pin []byte
			pin, err = src.Read(a.credentialsDir())
			clear(pin)
		}
		if err != nil {
			pinsOK = false
			bad(fmt.Errorf("%s pin-source: %w", field.path, err))
			continue
		}
		ok("%s: PIN readable from %s, owner-only", field.path, src)
	}

	if pinsOK {
		a.checkHSM(ctx, ok, bad)
	}

	if cfg.Admin.Token != "" {
		if _, err := adminapi.LoadVerifier(cfg.Admin.Token, a.credentialsDir()); err != nil {
			bad(fmt.Errorf("admin.token: %w", err))
		} else {
			ok("admin.token: the administrative token's verifier is readable")
		}
	}

	// The audit directory is created at start when missing; its parent
	// must exist.
	for _, p := range []struct{ field, path string }{
		{"accounts.shares_dir", cfg.Accounts.SharesDir}, {"audit.dir", existingOrParent(cfg.Audit.Dir)}, {"slashing.database", filepath.Dir(cfg.Slashing.Database)},
	} {
		st, err := os.Stat(p.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			bad(fmt.Errorf("%s: %s does not exist: create it (owned by the signer's user, mode 0700)", p.field, p.path))
		case err != nil:
			bad(fmt.Errorf("%s: %w", p.field, err))
		case !st.IsDir():
			bad(fmt.Errorf("%s: %s is not a directory", p.field, p.path))
		}
	}
	if _, err := os.Stat(cfg.Slashing.Database); err == nil {
		ok("slashing.database %s exists", cfg.Slashing.Database)
	} else if errors.Is(err, fs.ErrNotExist) {
		ok("slashing.database %s does not exist yet: a signer without shares creates it, one with shares refuses to start (rampartctl slashing import --create)", cfg.Slashing.Database)
	}

	addrs := map[string]string{
		"listen.participant": cfg.Listen.Participant, "listen.coordinator": cfg.Listen.Coordinator,
		"listen.coordinator_insecure_loopback": cfg.Listen.CoordinatorInsecureLoopback, "listen.operations": cfg.Listen.Operations,
	}
	fields := make([]string, 0, len(addrs))
	for f := range addrs {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		addr := addrs[f]
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			bad(fmt.Errorf("%s: %s cannot be bound: %w (another process, or a running rampart-signer, holds it: ss -ltnp sport = :PORT)", f, addr, errors.Unwrap(err)))
			continue
		}
		ln.Close()
		ok("%s: %s is free", f, addr)
	}
	return r
}

// checkHSM opens the HSM session as start-up does, checks the identity
// against the CA and this node's name, and closes it.
func (a *Appliance) checkHSM(ctx context.Context, ok func(string, ...any), bad func(error)) {
	cfg := a.cfg
	s, err := a.openHSM(ctx)
	if err != nil {
		bad(err)
		return
	}
	defer func() {
		if err := s.close(); err != nil {
			bad(fmt.Errorf("closing the HSM: %w", err))
		}
	}()
	ok("hsm.sealing_key: logged in to token %q once, sealing key found", s.tokens[0].Label())
	ok("tls.key: key found in token %q; tls.certificate certifies it", s.tlsToken.Label())
	caPEM, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		bad(fmt.Errorf("tls.ca: %w", err))
		return
	}
	cas, err := hsm.ParseCertificatesPEM(caPEM)
	if err != nil || len(cas) == 0 {
		bad(fmt.Errorf("tls.ca: no CA certificate: %v", err))
		return
	}
	pool := newPool(cas)
	if err := a.verifyIdentity(s.cert, pool); err != nil {
		bad(err)
		return
	}
	left := s.cert.Leaf.NotAfter.Sub(a.now())
	ok("tls.certificate names %q and is issued by tls.ca; it expires on %s (in %d days)", cfg.Self().TLSName, s.cert.Leaf.NotAfter.Format(time.DateOnly), int(left.Hours()/24))
	if left < 30*24*time.Hour {
		bad(fmt.Errorf("tls.certificate expires on %s, in less than 30 days: renew it (docs/operations.md, Rotate the TLS identity)", s.cert.Leaf.NotAfter.Format(time.DateOnly)))
	}
}

// existingOrParent is dir when it exists, else its parent.
func existingOrParent(dir string) string {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return filepath.Dir(dir)
	}
	return dir
}
