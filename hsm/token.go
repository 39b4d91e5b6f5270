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
//
// A token removed and put back loses its sessions, its login and (in many
// modules) its object handles: [Token.Probe] tells, and [Token.Reopen] logs
// in again on fresh sessions. Keys found earlier ([SealingKey], TLS
// signers) find their objects again on first use after a Reopen.
type Token struct {
	uri        URI
	opts       Options
	lib        backend
	modulePath string // resolved: one spelling per module

	mu       sync.Mutex
	cur      *conn
	gens     uint64 // generations handed out
	closed   bool
	inflight sync.WaitGroup // running calls, and releases of replaced conns

	reopenMu sync.Mutex // one Reopen at a time
}

// conn is one login to the token: the module handles, the slot, the
// session pool, and the generation object handles found through it belong
// to. Reopen replaces it; the old one is released once no call uses it.
type conn struct {
	p11   module
	c11   tlsKeyStore
	slot  uint
	info  pkcs11.TokenInfo
	pool  *sessionPool
	gen   uint64
	users sync.WaitGroup
}

// Open loads the module named by the URI's module-path, finds the token by
// its label (and manufacturer, model, serial when given), reads the PIN
// from pin-source and logs in. The object attributes of the URI are not
// used here; pass uri.ObjectRef() to the key methods.
func Open(ctx context.Context, uri *URI, opts Options) (*Token, error) {
	return openWith(ctx, uri, opts, libraries())
}

// openWith is Open with the libraries given.
func openWith(ctx context.Context, uri *URI, opts Options, lib backend) (*Token, error) {
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
	if _, err := parsePINSource(uri.PINSource); err != nil {
		return nil, err
	}
	modulePath, err := resolveModule(uri.ModulePath)
	if err != nil {
		return nil, err
	}
	t := &Token{uri: *uri, opts: opts, lib: lib, modulePath: modulePath}
	t.uri.Object, t.uri.ID, t.uri.Type = "", nil, ""
	pin, err := t.readPIN()
	if err != nil {
		return nil, err
	}
	// The module may block (a network HSM that does not answer): run the
	// whole opening under the call timeout and, if it fires, let a late
	// success close what it opened.
	type result struct {
		c   *conn
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := callContext(ctx, opts.CallTimeout)
	defer cancel()
	t.gens = 1
	go func() {
		defer clear(pin)
		c, err := t.dial(pin, 1)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		t.cur = r.c
		return t, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				r.c.release()
			}
		}()
		return nil, ctxError(ctx, "opening token "+uri.String())
	}
}

// readPIN reads the PIN from the URI's pin-source; the caller zeroes it.
func (t *Token) readPIN() ([]byte, error) {
	src, err := parsePINSource(t.uri.PINSource)
	if err != nil {
		return nil, err
	}
	return readPIN(src, t.opts.CredentialsDir)
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

// dial does the blocking part of Open and Reopen: it logs in with pin and
// returns a conn of generation gen. On error nothing stays open.
func (t *Token) dial(pin []byte, gen uint64) (*conn, error) {
	c := &conn{gen: gen}
	// Loading the module ourselves first tells "not a PKCS#11 module"
	// apart from crypto11's other failures.
	p11, ok := t.lib.load(t.modulePath)
	if !ok {
		return nil, fmt.Errorf("%w: %s cannot be loaded as a PKCS#11 module", ErrModuleNotFound, t.modulePath)
	}
	c.p11 = p11
	cfg := &crypto11.Config{
		Path:            t.modulePath,
		TokenLabel:      t.uri.Token,
		Pin:             string(pin),
		MaxSessions:     t.opts.MaxSessions,
		PoolWaitTimeout: t.opts.CallTimeout,
	}
	c11, err := t.lib.configure(cfg)
	// crypto11 keeps cfg for the context's life; it needs the PIN only
	// to log in, so drop the reference now.
	cfg.Pin = ""
	if err != nil {
		c.p11.Destroy()
		if _, ok := returnCode(err); ok {
			return nil, callError("opening token "+t.uri.String()+" (module initialisation, login)", err)
		}
		// crypto11's only failure without a PKCS#11 code, once the module
		// has loaded and the configuration is valid, is that no token has
		// the label.
		return nil, fmt.Errorf("%w: no token labelled %q in module %s", ErrTokenNotFound, t.uri.Token, t.modulePath)
	}
	c.c11 = c11
	if err := c.p11.Initialize(); err != nil {
		if code, _ := returnCode(err); code != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			c.release()
			return nil, callError("C_Initialize", err)
		}
	}
	if err := c.findSlot(&t.uri); err != nil {
		c.release()
		return nil, err
	}
	c.pool = newSessionPool(c.p11, c.slot, t.opts.MaxSessions)
	return c, nil
}

// findSlot selects the one slot whose token matches every token attribute
// of the URI. Slot ids are not stable across restarts (SoftHSM makes them
// random), which is why tokens are found by label.
func (c *conn) findSlot(uri *URI) error {
	slots, err := c.p11.GetSlotList(true)
	if err != nil {
		return callError("C_GetSlotList", err)
	}
	var found []uint
	var info pkcs11.TokenInfo
	for _, s := range slots {
		ti, err := c.p11.GetTokenInfo(s)
		if err != nil {
			return callError("C_GetTokenInfo", err)
		}
		if ti.Label != uri.Token ||
			(uri.Manufacturer != "" && ti.ManufacturerID != uri.Manufacturer) ||
			(uri.Model != "" && ti.Model != uri.Model) ||
			(uri.Serial != "" && ti.SerialNumber != uri.Serial) {
			continue
		}
		found = append(found, s)
		info = ti
	}
	switch len(found) {
	case 0:
		return fmt.Errorf("%w: no token matches %v", ErrTokenNotFound, uri)
	case 1:
		c.slot, c.info = found[0], info
		return nil
	}
	return fmt.Errorf("%w: %d tokens match %v; add serial= to the URI", ErrTokenAmbiguous, len(found), uri)
}

// release frees the module handles in dependency order: the sessions, our
// handle (it never finalises), then crypto11's, which finalises the module
// when it is the last user.
func (c *conn) release() {
	if c.pool != nil {
		c.pool.close()
	}
	if c.p11 != nil {
		c.p11.Destroy()
	}
	if c.c11 != nil {
		_ = c.c11.Close()
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
	// No Reopen swaps the conn once closed is set.
	c := t.cur
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
			c.release()
		}()
		return fmt.Errorf("%w: closing token %v: HSM calls still running after %v; the module stays loaded until they return", ErrTimeout, &t.uri, t.opts.CallTimeout)
	}
	c.release()
	return nil
}

// Label returns the token label.
func (t *Token) Label() string { return t.uri.Token }

// String identifies the token for logs and errors.
func (t *Token) String() string { return (&t.uri).String() }

// current returns the conn calls use now.
func (t *Token) current() *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur
}

// enter registers a call on the current conn, refusing it after Close.
// The caller calls leave with the conn when the call has returned.
func (t *Token) enter() (*conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("%w: %v", ErrClosed, &t.uri)
	}
	t.inflight.Add(1)
	t.cur.users.Add(1)
	return t.cur, nil
}

func (t *Token) leave(c *conn) {
	c.users.Done()
	t.inflight.Done()
}

// run executes f, which calls into the module through c, under the call
// timeout. If the timeout or ctx ends first, run returns at once and f
// finishes in the background; Close waits for it.
func (t *Token) run(ctx context.Context, op string, f func(c *conn) error) error {
	if ctx.Err() != nil {
		return ctxError(ctx, op)
	}
	c, err := t.enter()
	if err != nil {
		return err
	}
	ctx, cancel := callContext(ctx, t.opts.CallTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer t.leave(c)
		done <- f(c)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctxError(ctx, op)
	}
}

// do is run with a session from the conn's pool. A session whose call
// failed or timed out is closed rather than reused, since its state is
// unknown.
func (t *Token) do(ctx context.Context, op string, f func(c *conn, s pkcs11.SessionHandle) error) error {
	ctx, cancel := callContext(ctx, t.opts.CallTimeout)
	defer cancel()
	return t.run(ctx, op, func(c *conn) error {
		s, err := c.pool.get(ctx)
		if err != nil {
			return err
		}
		err = f(c, s)
		c.pool.release(s, err == nil && ctx.Err() == nil)
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
