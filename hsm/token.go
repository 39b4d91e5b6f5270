package hsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Token is an open, logged-in PKCS#11 token. It is safe for concurrent use.
// Close it when done; closing the last token of a module finalises the
// module.
//
// Two libraries share the module: crypto11 for TLS keys (crypto.Signer) and
// miekg/pkcs11 directly for sealing. PKCS#11 allows one initialisation of a
// module per process, and crypto11 keeps its own per-path reference count
// of initialised modules, so crypto11 owns initialisation and login, and
// this package's own handle joins the initialised module without ever
// finalising it. Several tokens of one module, or tokens of several
// modules, can be open at once.
type Token struct {
	uri  URI
	opts Options
	c11  *crypto11.Context
	p11  *pkcs11.Ctx
	slot uint
	info pkcs11.TokenInfo
	pool *sessionPool

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// Open loads the module named by the URI's module-path, finds the token by
// its label (and manufacturer, model, serial when given), reads the PIN
// from pin-source and logs in. The object attributes of the URI are not
// used here; pass uri.ObjectRef() to the key methods.
func Open(ctx context.Context, uri *URI, opts Options) (*Token, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	switch {
	case uri == nil:
		return nil, fmt.Errorf("%w: no URI", ErrInvalidURI)
	case uri.Token == "":
		return nil, fmt.Errorf("%w: %v lacks the token attribute (token=LABEL)", ErrInvalidURI, uri)
	case uri.ModulePath == "":
		return nil, fmt.Errorf("%w: %v lacks the module-path query attribute", ErrInvalidURI, uri)
	case uri.PINSource == "":
		return nil, fmt.Errorf("%w: %v lacks the pin-source query attribute", ErrInvalidURI, uri)
	}
	if ctx.Err() != nil {
		return nil, ctxError(ctx, "opening token "+uri.String())
	}
	// A URI built in code has not been through ParseURI's checks.
	if err := checkModulePath(uri.ModulePath); err != nil {
		return nil, err
	}
	src, err := parsePINSource(uri.PINSource)
	if err != nil {
		return nil, err
	}
	modulePath, err := resolveModule(uri.ModulePath)
	if err != nil {
		return nil, err
	}
	pin, err := readPIN(src, opts.CredentialsDir)
	if err != nil {
		return nil, err
	}
	defer clear(pin)

	t := &Token{uri: *uri, opts: opts}
	t.uri.Object, t.uri.ID, t.uri.Type = "", nil, ""
	// The module may block (a network HSM that does not answer): run the
	// whole opening under the call timeout and, if it fires, let a late
	// success close what it opened.
	type result struct{ err error }
	done := make(chan result, 1)
	ctx, cancel := callContext(ctx, opts.CallTimeout)
	defer cancel()
	cfg := &crypto11.Config{
		Path:            modulePath,
		TokenLabel:      uri.Token,
		Pin:             string(pin),
		MaxSessions:     opts.MaxSessions,
		PoolWaitTimeout: opts.CallTimeout,
	}
	go func() { done <- result{t.open(cfg)} }()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		t.pool = newSessionPool(t.p11, t.slot, opts.MaxSessions)
		return t, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				t.release()
			}
		}()
		return nil, ctxError(ctx, "opening token "+uri.String())
	}
}

// resolveModule checks that the module file exists and returns its real
// path, so every spelling of one module (symlinks) shares one
// initialisation.
func resolveModule(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%w: module-path %s: %w", ErrModuleNotFound, p, pathErrorReason(err))
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%w: module-path %s: %w", ErrModuleNotFound, p, pathErrorReason(err))
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: module-path %s is not a regular file", ErrModuleNotFound, p)
	}
	return real, nil
}

// open does the blocking part of Open. On error nothing stays open.
func (t *Token) open(cfg *crypto11.Config) error {
	// Loading the module ourselves first tells "not a PKCS#11 module"
	// apart from crypto11's other failures.
	t.p11 = pkcs11.New(cfg.Path)
	if t.p11 == nil {
		return fmt.Errorf("%w: %s cannot be loaded as a PKCS#11 module", ErrModuleNotFound, cfg.Path)
	}
	c11, err := crypto11.Configure(cfg)
	// crypto11 keeps cfg for the context's life; it needs the PIN only
	// to log in, so drop the reference now.
	cfg.Pin = ""
	if err != nil {
		t.p11.Destroy()
		if _, ok := returnCode(err); ok {
			return callError("opening token "+t.uri.String()+" (module initialisation, login)", err)
		}
		// crypto11's only failure without a PKCS#11 code, once the module
		// has loaded and the configuration is valid, is that no token has
		// the label.
		return fmt.Errorf("%w: no token labelled %q in module %s", ErrTokenNotFound, t.uri.Token, cfg.Path)
	}
	t.c11 = c11
	if err := t.p11.Initialize(); err != nil {
		if code, _ := returnCode(err); code != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			t.release()
			return callError("C_Initialize", err)
		}
	}
	if err := t.findSlot(); err != nil {
		t.release()
		return err
	}
	return nil
}

// findSlot selects the one slot whose token matches every token attribute
// of the URI. Slot ids are not stable across restarts (SoftHSM makes them
// random), which is why tokens are found by label.
func (t *Token) findSlot() error {
	slots, err := t.p11.GetSlotList(true)
	if err != nil {
		return callError("C_GetSlotList", err)
	}
	var found []uint
	var info pkcs11.TokenInfo
	for _, s := range slots {
		ti, err := t.p11.GetTokenInfo(s)
		if err != nil {
			return callError("C_GetTokenInfo", err)
		}
		if ti.Label != t.uri.Token ||
			(t.uri.Manufacturer != "" && ti.ManufacturerID != t.uri.Manufacturer) ||
			(t.uri.Model != "" && ti.Model != t.uri.Model) ||
			(t.uri.Serial != "" && ti.SerialNumber != t.uri.Serial) {
			continue
		}
		found = append(found, s)
		info = ti
	}
	switch len(found) {
	case 0:
		return fmt.Errorf("%w: no token matches %v", ErrTokenNotFound, &t.uri)
	case 1:
		t.slot, t.info = found[0], info
		return nil
	}
	return fmt.Errorf("%w: %d tokens match %v; add serial= to the URI", ErrTokenAmbiguous, len(found), &t.uri)
}

// release frees the module handles in dependency order: our handle first
// (it never finalises), then crypto11's, which finalises the module when it
// is the last user.
func (t *Token) release() {
	if t.pool != nil {
		t.pool.close()
	}
	if t.p11 != nil {
		t.p11.Destroy()
	}
	if t.c11 != nil {
		_ = t.c11.Close()
	}
}

// Close waits for running calls (up to the call timeout), closes the
// sessions and logs out by closing the last of them. A call stuck in the
// module keeps the module loaded and Close reports ErrTimeout.
func (t *Token) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		t.inflight.Wait()
		close(idle)
	}()
	timer := time.NewTimer(t.opts.CallTimeout)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
		// Release once the stuck calls return, if they ever do.
		go func() {
			<-idle
			t.release()
		}()
		return fmt.Errorf("%w: closing token %v: HSM calls still running after %v; the module stays loaded until they return", ErrTimeout, &t.uri, t.opts.CallTimeout)
	}
	t.release()
	return nil
}

// Label returns the token label.
func (t *Token) Label() string { return t.uri.Token }

// String identifies the token for logs and errors.
func (t *Token) String() string { return (&t.uri).String() }

// enter registers a call, refusing it after Close.
func (t *Token) enter() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("%w: %v", ErrClosed, &t.uri)
	}
	t.inflight.Add(1)
	return nil
}

// run executes f, which calls into the module, under the call timeout. If
// the timeout or ctx ends first, run returns at once and f finishes in the
// background; Close waits for it.
func (t *Token) run(ctx context.Context, op string, f func() error) error {
	if ctx.Err() != nil {
		return ctxError(ctx, op)
	}
	if err := t.enter(); err != nil {
		return err
	}
	ctx, cancel := callContext(ctx, t.opts.CallTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer t.inflight.Done()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctxError(ctx, op)
	}
}

// do is run with a session from the pool. A session whose call failed or
// timed out is closed rather than reused, since its state is unknown.
func (t *Token) do(ctx context.Context, op string, f func(s pkcs11.SessionHandle) error) error {
	ctx, cancel := callContext(ctx, t.opts.CallTimeout)
	defer cancel()
	return t.run(ctx, op, func() error {
		s, err := t.pool.get(ctx)
		if err != nil {
			return err
		}
		err = f(s)
		t.pool.release(s, err == nil && ctx.Err() == nil)
		return err
	})
}

// callContext applies the call timeout unless ctx already ends sooner.
func callContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= timeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

// ctxError reports why ctx ended: ErrTimeout for a deadline, the caller's
// cancellation otherwise.
func ctxError(ctx context.Context, op string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrTimeout, op, ctx.Err())
	}
	return fmt.Errorf("hsm: %s: %w", op, ctx.Err())
}
