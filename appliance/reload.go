package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/rampart-signer/rampart/hsm"
)

// ErrReload marks a reload refused: nothing changed.
var ErrReload = errors.New("reload refused; the signer runs on as before")

// Reload puts in force, without a restart (SIGHUP, systemctl reload), what
// can change under a running signer: the authorization rules of cfg, the
// node's certificate chain (tls.certificate, re-read, for the same key in
// the HSM) and the cluster CA (tls.ca, re-read). Everything is checked
// before anything changes: the new certificate must certify the key, be
// issued by the new CA and name this node; a refused reload changes
// nothing. Other changes of cfg need a restart; Reload returns their
// fields in restart.
//
// The new certificate is presented from the next handshake on, and the new
// CA trusted for clients and peers connecting from then on. This signer's
// connections to its peers keep verifying against the CA it started with
// until it restarts (docs/operations.md, Rotate the cluster CA).
func (a *Appliance) Reload(ctx context.Context, cfg *Config) (restart []string, err error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no configuration", ErrReload)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: config: %w", ErrReload, err)
	}
	// The new rules are checked again against the configuration in force:
	// the roles they may grant (a peer only duty types, an administrator
	// no signing type) depend on cluster.participants and admin, which a
	// reload does not change. Checked only against the new file, a reload
	// that renamed a participant could grant its old, running name exits
	// and deposits.
	running := *a.cfg
	running.Authorization = cfg.Authorization
	if err := running.Validate(); err != nil {
		return nil, fmt.Errorf("%w: authorization against the running cluster: %w", ErrReload, err)
	}
	restart = restartFields(a.cfg, cfg)
	caPEM, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		return restart, fmt.Errorf("%w: tls.ca: %w", ErrReload, err)
	}
	cas, err := hsm.ParseCertificatesPEM(caPEM)
	if err != nil || len(cas) == 0 {
		return restart, fmt.Errorf("%w: tls.ca: no CA certificate: %v", ErrReload, err)
	}
	chain, err := os.ReadFile(cfg.TLS.Certificate)
	if err != nil {
		return restart, fmt.Errorf("%w: tls.certificate: %w", ErrReload, err)
	}
	a.hsmMu.Lock()
	defer a.hsmMu.Unlock()
	s, err := a.session()
	if err != nil {
		return restart, fmt.Errorf("%w: the HSM session is down, the certificate cannot be checked against its key: %w", ErrReload, err)
	}
	keyURI, _ := hsm.ParseURI(a.cfg.TLS.Key)
	cert, err := s.tlsToken.TLSCertificate(ctx, keyURI.ObjectRef(), chain)
	if err != nil {
		return restart, fmt.Errorf("%w: tls.key with tls.certificate: %w", ErrReload, err)
	}
	pool := newPool(cas)
	if err := a.verifyIdentity(cert, pool); err != nil {
		return restart, fmt.Errorf("%w: %w", ErrReload, err)
	}
	ns := *s
	ns.cert = cert
	a.hsmCur.Store(&ns)
	a.trust.Store(pool)
	a.caCerts.Store(&cas)
	a.authz.policy.replace(newPolicy(cfg.Authorization))
	a.log.Info("reloaded: authorization rules, tls.certificate and tls.ca in force",
		"rules", len(cfg.Authorization), "certificate_expires", cert.Leaf.NotAfter, "restart_needed_for", restart)
	return restart, nil
}

// restartFields lists the sections of next that differ from cur other than
// what Reload puts in force.
func restartFields(cur, next *Config) []string {
	a, b := *cur, *next
	a.Authorization, b.Authorization = nil, nil
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, yamlName(va.Type().Field(i)))
		}
	}
	return out
}

func yamlName(f reflect.StructField) string {
	if n, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); n != "" {
		return n
	}
	return f.Name
}

// serverConfig is the server side of mutual TLS as of this handshake: the
// CA pool in force (Reload may have replaced it).
func (a *Appliance) serverConfig(base *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = a.trust.Load()
		return c, nil
	}
}
