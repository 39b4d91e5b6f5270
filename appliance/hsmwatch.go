package appliance

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/hsm"
)

// watchedToken is what the HSM watch needs of an open token (*hsm.Token).
type watchedToken interface {
	Probe(ctx context.Context) error
	Reopen(ctx context.Context) error
	String() string
}

// hsmWatch keeps the HSM usable while the signer runs. A token that goes
// away and comes back (a network HSM's session lost, a USB token pulled
// and put back, SoftHSM's token files moved) leaves the signer's sessions
// or key handles dead: before, every new TLS handshake then failed
// (C_Sign: CKR_OBJECT_HANDLE_INVALID) until a restart, while /healthcheck
// still said UP, since the "hsm" check was only set at start-up.
//
// Every hsm.check_interval the watch probes each token (hsm.Token.Probe);
// a signature through the token that failed with hsm.ErrTokenRemoved (a
// TLS handshake's, reported by failed) makes it suspect at once. A
// suspect token takes the "hsm" check down and is reopened
// (hsm.Token.Reopen: new sessions, the keys found again on first use) at
// each check until that succeeds; the check is up again then. A token
// down also stops the systemd watchdog: a module that sees a token put
// back only once it is initialised again (SoftHSM, whose token files went
// away and came back, is one) needs the process restarted, and the unit's
// WatchdogSec gives the reopening that long to succeed first.
type hsmWatch struct {
	tokens []watchedToken
	health *healthState
	log    *slog.Logger
	// kick wakes the watch when a signature failed with ErrTokenRemoved.
	kick chan struct{}

	mu      sync.Mutex
	suspect bool
	// down is the last check's outcome, to log changes only.
	down error
	// kicks counts failed signatures heard of, so that a check clears
	// suspicion only if none arrived while it ran.
	kicks uint64
}

func newHSMWatch(tokens []watchedToken, health *healthState, log *slog.Logger) *hsmWatch {
	return &hsmWatch{tokens: tokens, health: health, log: log, kick: make(chan struct{}, 1)}
}

// failed is told of every failed signature through the HSM; one that
// failed because the token went away makes the watch reopen it.
func (w *hsmWatch) failed(err error) {
	if !errors.Is(err, hsm.ErrTokenRemoved) {
		return
	}
	w.mu.Lock()
	w.suspect = true
	w.kicks++
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run checks every interval, and when kicked, until ctx ends. after is
// the clock's wait (Options.After). While a token is known to be away,
// only the interval retries: every failing handshake kicking a reopen
// would add nothing but load.
func (w *hsmWatch) run(ctx context.Context, interval time.Duration, after func(time.Duration) <-chan time.Time) {
	var down error
	for {
		kick := w.kick
		if down != nil {
			kick = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-after(interval):
		case <-kick:
		}
		down = w.check(ctx)
	}
}

// check probes every token and reopens the suspect ones; it sets the
// "hsm" health check and returns what it set.
func (w *hsmWatch) check(ctx context.Context) error {
	w.mu.Lock()
	suspect, kicks := w.suspect, w.kicks
	w.mu.Unlock()
	var errs []error
	for _, t := range w.tokens {
		err := t.Probe(ctx)
		if err != nil && !errors.Is(err, hsm.ErrTokenRemoved) {
			// A timeout or a module error: nothing to reopen; report it.
			errs = append(errs, fmt.Errorf("token %v: %w", t, err))
			continue
		}
		if err == nil && !suspect {
			continue
		}
		if err != nil {
			suspect = true
		}
		if rerr := t.Reopen(ctx); rerr != nil {
			errs = append(errs, fmt.Errorf("token %v went away and is not back (reopening: %v); signatures through it fail until it is", t, rerr))
			continue
		}
		w.log.Warn("HSM token was lost and is back: reopened on new sessions", "token", t.String(), "probe", errString(err))
	}
	down := errors.Join(errs...)
	w.mu.Lock()
	if down != nil && w.down == nil {
		w.log.Error("HSM token lost: not ready, watchdog stopped, until it is reopened", "err", down)
	}
	w.down = down
	if down == nil && w.kicks == kicks {
		w.suspect = false
	} else if suspect {
		w.suspect = true
	}
	w.mu.Unlock()
	w.health.set("hsm", down)
	return down
}

func errString(err error) string {
	if err == nil {
		return "ok (a signature had failed)"
	}
	return err.Error()
}

// watchedSigner is a crypto.Signer in the HSM (the TLS key) whose
// failures the watch hears of.
type watchedSigner struct {
	crypto.Signer
	failed func(error)
}

func (s watchedSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(rand, digest, opts)
	if err != nil {
		s.failed(err)
	}
	return sig, err
}
