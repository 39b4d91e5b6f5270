package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/bls"
)

// hsmSession is what the signer holds open in its HSM: the tokens, the
// sealing key and the TLS identity whose key stays in the token. The
// running signer replaces it whole when it has to open the module again
// (watchHSM); everything reaches it through Appliance.hsmCur.
type hsmSession struct {
	tokens  []*hsm.Token
	sealKey *hsm.SealingKey
	// tlsToken is the token holding the TLS key (one of tokens).
	tlsToken *hsm.Token
	cert     tls.Certificate
}

// close closes every token of the session.
func (s *hsmSession) close() error {
	var errs []error
	for _, t := range s.tokens {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}

// hsmOptions are the options every token of the signer is opened with.
func (a *Appliance) hsmOptions() hsm.Options {
	o := hsm.DefaultOptions()
	o.CallTimeout = a.cfg.HSM.CallTimeout
	o.Rand = a.opts.Rand
	o.CredentialsDir = a.credentialsDir()
	return o
}

// openHSM opens the sealing key's token, the sealing key, the TLS key's
// token (the same one when the URIs name the same token) and the node's
// certificate with its key. On error nothing stays open.
func (a *Appliance) openHSM(ctx context.Context) (_ *hsmSession, err error) {
	cfg := a.cfg
	hopts := a.hsmOptions()
	sealURI, _ := hsm.ParseURI(cfg.HSM.SealingKey)
	keyURI, _ := hsm.ParseURI(cfg.TLS.Key)
	s := &hsmSession{}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	sealTok, err := hsm.Open(ctx, sealURI, hopts)
	if err != nil {
		return nil, fmt.Errorf("hsm.sealing_key: %w", err)
	}
	s.tokens = append(s.tokens, sealTok)
	if s.sealKey, err = sealTok.SealingKey(ctx, sealURI.ObjectRef()); err != nil {
		return nil, fmt.Errorf("hsm.sealing_key: %w", err)
	}
	s.tlsToken = sealTok
	if keyURI.Token != sealURI.Token || keyURI.ModulePath != sealURI.ModulePath {
		t, err := hsm.Open(ctx, keyURI, hopts)
		if err != nil {
			return nil, fmt.Errorf("tls.key: %w", err)
		}
		s.tokens = append(s.tokens, t)
		s.tlsToken = t
	}
	chain, err := os.ReadFile(cfg.TLS.Certificate)
	if err != nil {
		return nil, fmt.Errorf("tls.certificate: %w", err)
	}
	if s.cert, err = s.tlsToken.TLSCertificate(ctx, keyURI.ObjectRef(), chain); err != nil {
		return nil, fmt.Errorf("tls.key with tls.certificate: %w", err)
	}
	return s, nil
}

// session returns the current HSM session, or why there is none.
func (a *Appliance) session() (*hsmSession, error) {
	if s := a.hsmCur.Load(); s != nil {
		return s, nil
	}
	if p := a.hsmDown.Load(); p != nil {
		return nil, *p
	}
	return nil, fmt.Errorf("%w: the HSM session is closed", hsm.ErrClosed)
}

// currentCert is the TLS certificate of the current session. While the
// HSM session is down it refuses with the reason, so that a handshake
// fails with "this signer's HSM session is down: ..." rather than with a
// module's return code.
func (a *Appliance) currentCert() (*tls.Certificate, error) {
	if p := a.hsmDown.Load(); p != nil {
		return nil, fmt.Errorf("this signer's HSM session is down (it logs in again once the token is back): %w", *p)
	}
	s, err := a.session()
	if err != nil {
		return nil, err
	}
	return &s.cert, nil
}

// hsmUnavailable refuses to coordinate a signature while this signer's
// HSM session is down: its readiness says it cannot sign, and it cannot
// reach the other signers on new connections; a request it took could
// still succeed over a connection opened before, so that health and
// signing would disagree. The client asks another signer's coordinator.
func (a *Appliance) hsmUnavailable() *apiError {
	if p := a.hsmDown.Load(); p != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "this signer's HSM session is down (it logs in again once the token is back; ask another signer meanwhile): %v", *p)
	}
	return nil
}

// liveSealKey is the sealing key of whatever HSM session is current: the
// audit log, the ceremonies and the account lifecycle keep it, and a
// session opened again under them is used from the next call on.
type liveSealKey struct{ a *Appliance }

func (l liveSealKey) key() (*hsm.SealingKey, error) {
	s, err := l.a.session()
	if err != nil {
		return nil, err
	}
	return s.sealKey, nil
}

// Seal is hsm.SealingKey.Seal on the current session.
func (l liveSealKey) Seal(ctx context.Context, share *bls.SecretKey, b hsm.Binding) ([]byte, error) {
	k, err := l.key()
	if err != nil {
		return nil, err
	}
	return k.Seal(ctx, share, b)
}

// Unseal is hsm.SealingKey.Unseal on the current session.
func (l liveSealKey) Unseal(ctx context.Context, blob []byte, want hsm.Placement) (hsm.Share, error) {
	k, err := l.key()
	if err != nil {
		return hsm.Share{}, err
	}
	return k.Unseal(ctx, blob, want)
}

// UnsealAll is hsm.SealingKey.UnsealAll on the current session.
func (l liveSealKey) UnsealAll(ctx context.Context, blobs [][]byte, want hsm.Placement) (*hsm.ShareSet, error) {
	k, err := l.key()
	if err != nil {
		return nil, err
	}
	return k.UnsealAll(ctx, blobs, want)
}

// Tag is hsm.SealingKey.Tag on the current session.
func (l liveSealKey) Tag(ctx context.Context, data, label []byte) ([]byte, error) {
	k, err := l.key()
	if err != nil {
		return nil, err
	}
	return k.Tag(ctx, data, label)
}

// VerifyTag is hsm.SealingKey.VerifyTag on the current session.
func (l liveSealKey) VerifyTag(ctx context.Context, data, label, tag []byte) error {
	k, err := l.key()
	if err != nil {
		return err
	}
	return k.VerifyTag(ctx, data, label, tag)
}

// SealData is hsm.SealingKey.SealData on the current session.
func (l liveSealKey) SealData(ctx context.Context, data, label []byte) ([]byte, error) {
	k, err := l.key()
	if err != nil {
		return nil, err
	}
	return k.SealData(ctx, data, label)
}

// UnsealData is hsm.SealingKey.UnsealData on the current session.
func (l liveSealKey) UnsealData(ctx context.Context, blob, label []byte) ([]byte, error) {
	k, err := l.key()
	if err != nil {
		return nil, err
	}
	return k.UnsealData(ctx, blob, label)
}

// maxReopenBackoff bounds the wait between two attempts to log in again.
const maxReopenBackoff = 5 * time.Minute

// errGaveUp marks an HSM session the watcher no longer tries to restore.
var errGaveUp = errors.New("not logging in again")

// watchHSM probes the HSM session every hsm.probe_interval, each probe
// under hsm.call_timeout. A failed probe takes readiness away (the hsm
// check) and starts logging in again, with a backoff doubling from
// probe_interval up to maxReopenBackoff: Token.Reopen first; when the
// module itself no longer answers for the token (SoftHSM, and modules
// like it, see a token put back only after C_Finalize), the whole
// session is closed and opened again. A wrong or locked PIN stops the
// retries for good (each further login brings the token closer to
// locking the PIN): the check stays DOWN saying so, until a restart.
func (a *Appliance) watchHSM(ctx context.Context) {
	every := a.cfg.HSM.ProbeInterval
	wait, backoff := every, every
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.opts.After(wait):
		}
		err := a.probeHSM(ctx)
		if err == nil {
			a.hsmUp()
			wait, backoff = every, every
			continue
		}
		if ctx.Err() != nil {
			return
		}
		a.hsmFailed(err)
		rerr := a.reopenHSM(ctx)
		if rerr == nil {
			if err := a.probeHSM(ctx); err == nil {
				a.metrics.hsmReopens.WithLabelValues("ok").Inc()
				a.log.Info("HSM session restored: logged in to the token again")
				a.hsmUp()
				wait, backoff = every, every
				continue
			} else {
				rerr = err
			}
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(rerr, hsm.ErrWrongPIN) || errors.Is(rerr, hsm.ErrPINLocked) {
			a.metrics.hsmReopens.WithLabelValues("gave_up").Inc()
			err := fmt.Errorf("HSM login refused, %w: %w; a wrong or locked PIN is never tried twice (each try brings the token closer to locking it): fix the PIN or its pin-source and restart the signer", errGaveUp, rerr)
			a.hsmFailed(err)
			a.log.Error("HSM login refused; not trying again", "err", err)
			return
		}
		a.metrics.hsmReopens.WithLabelValues("failed").Inc()
		a.log.Warn("HSM session still lost; trying again later", "err", rerr, "retry_in", backoff.String())
		wait, backoff = backoff, min(2*backoff, max(maxReopenBackoff, every))
	}
}

// probeHSM probes every token of the current session.
func (a *Appliance) probeHSM(ctx context.Context) error {
	s, err := a.session()
	if err != nil {
		return err
	}
	for _, t := range s.tokens {
		pctx, cancel := context.WithTimeout(ctx, a.cfg.HSM.CallTimeout)
		err := t.Probe(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("token %s: %w", t.Label(), err)
		}
	}
	return nil
}

// reopenHSM logs in to every token of the session again (Token.Reopen);
// when that fails other than for a token not back yet or a refused PIN,
// it closes the session and opens a new one, which the module initialises
// afresh.
func (a *Appliance) reopenHSM(ctx context.Context) error {
	a.hsmMu.Lock()
	defer a.hsmMu.Unlock()
	s := a.hsmCur.Load()
	if s != nil {
		var err error
		for _, t := range s.tokens {
			if err = t.Reopen(ctx); err != nil {
				break
			}
		}
		if err == nil || errors.Is(err, hsm.ErrWrongPIN) || errors.Is(err, hsm.ErrPINLocked) || errors.Is(err, hsm.ErrTokenRemoved) {
			return err
		}
		// The module is wedged for this token: close every token of
		// the session so that the module is finalised, and open anew.
		a.hsmCur.Store(nil)
		if cerr := s.close(); cerr != nil {
			a.log.Warn("closing the lost HSM session", "err", cerr)
		}
	}
	ns, err := a.openHSM(ctx)
	if err != nil {
		return err
	}
	if err := a.verifyIdentity(ns.cert, a.trust.Load()); err != nil {
		_ = ns.close()
		return err
	}
	a.hsmCur.Store(ns)
	return nil
}

// hsmUp marks the HSM session healthy.
func (a *Appliance) hsmUp() {
	if a.hsmDown.Swap(nil) != nil {
		a.log.Info("HSM session healthy again")
	}
	a.health.set("hsm", nil)
	a.metrics.hsmUp.Set(1)
}

// hsmFailed marks the HSM session down with err.
func (a *Appliance) hsmFailed(err error) {
	if a.hsmDown.Swap(&err) == nil {
		a.log.Error("HSM session lost: not ready; logging in again once the token is back", "err", err)
		// Connections to the other signers opened before stay up, but
		// this signer can open no new one; drop the idle ones so that
		// what it does matches what its health says, and a request
		// fails at once saying why rather than at some later reconnect.
		for _, p := range a.peers {
			p.Close()
		}
	}
	a.health.set("hsm", err)
	a.metrics.hsmUp.Set(0)
}
