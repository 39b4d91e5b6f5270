package hsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Probe checks, in one session, that the token opened is still there and
// usable: the slot still holds the token with the same label and serial
// number, and a session of this Token is logged in. It returns nil, or an
// error matching ErrTokenRemoved (then Reopen once the token is back),
// ErrTimeout or ErrModule. A session found dead is closed, not reused.
//
// A health check calls Probe; it costs two calls to the module and changes
// nothing in the token.
func (t *Token) Probe(ctx context.Context) error {
	return t.do(ctx, "probing token "+t.String(), func(c *conn, s pkcs11.SessionHandle) error {
		ti, err := c.p11.GetTokenInfo(c.slot)
		if err != nil {
			return callError("C_GetTokenInfo", err)
		}
		if err := c.sameToken(ti); err != nil {
			return err
		}
		si, err := c.p11.GetSessionInfo(s)
		if err != nil {
			return callError("C_GetSessionInfo", err)
		}
		// Read-write sessions are all this package opens; a logged-in one
		// is in CKS_RW_USER_FUNCTIONS. A token that was removed and put
		// back, or logged out by another part of the process, gives new
		// sessions in the public state.
		if si.State != pkcs11.CKS_RW_USER_FUNCTIONS {
			return fmt.Errorf("%w: token %v is not logged in (session state %d); Reopen logs in again", ErrTokenRemoved, &t.uri, si.State)
		}
		return nil
	})
}

// sameToken reports whether ti describes the token c was opened on.
func (c *conn) sameToken(ti pkcs11.TokenInfo) error {
	if ti.Label != c.info.Label || ti.SerialNumber != c.info.SerialNumber {
		return fmt.Errorf("%w: the slot now holds token %q serial %q, not %q serial %q; put the original token back", ErrTokenRemoved, ti.Label, ti.SerialNumber, c.info.Label, c.info.SerialNumber)
	}
	return nil
}

// Reopen logs in to the token again, on fresh sessions, after Probe or a
// call reported ErrTokenRemoved: it reads the PIN from pin-source again,
// finds the token by the URI, refuses another token than the one first
// opened (another serial number under the same label), and replaces the
// Token's sessions and login. Calls running on the old ones finish on
// them; the old ones are closed once they have. Keys found earlier
// ([SealingKey], TLS signers) stay valid: each finds its object again,
// and checks it again, on first use. A TLS key whose public key changed is
// refused.
//
// The module stays initialised (other tokens may use it), so a module that
// sees a token put back only after C_Finalize needs every Token of it
// closed and opened again. A token not (yet) back gives ErrTokenRemoved;
// a wrong or locked PIN gives ErrWrongPIN or ErrPINLocked as Open does.
// Reopen runs under the call timeout; a late success still takes effect.
func (t *Token) Reopen(ctx context.Context) error {
	return t.run(ctx, "reopening token "+t.String(), func(old *conn) error {
		t.reopenMu.Lock()
		defer t.reopenMu.Unlock()
		pin, err := t.readPIN()
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.gens++
		gen := t.gens
		t.mu.Unlock()
		c, err := t.dial(pin, gen)
		clear(pin)
		if errors.Is(err, ErrTokenNotFound) {
			return fmt.Errorf("%w: %v", ErrTokenRemoved, err)
		}
		if err != nil {
			return err
		}
		if err := old.sameToken(c.info); err != nil {
			c.release()
			return err
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.release()
			return fmt.Errorf("%w: %v", ErrClosed, &t.uri)
		}
		prev := t.cur
		t.cur = c
		t.inflight.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.inflight.Done()
			prev.users.Wait()
			prev.release()
		}()
		return nil
	})
}
