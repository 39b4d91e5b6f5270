package appliance

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/protect"
)

// fakeToken is a token whose probe and reopen answer what the test says.
type fakeToken struct {
	probe, reopen error
	reopens       int
}

func (f *fakeToken) Probe(context.Context) error  { return f.probe }
func (f *fakeToken) Reopen(context.Context) error { f.reopens++; return f.reopen }
func (f *fakeToken) String() string               { return "pkcs11:token=signer-1" }

func watchOf(tokens ...*fakeToken) (*hsmWatch, *healthState) {
	h := newHealthState()
	for _, c := range healthChecks {
		h.set(c, nil)
	}
	ws := make([]watchedToken, len(tokens))
	for i, t := range tokens {
		ws[i] = t
	}
	return newHSMWatch(ws, h, slog.New(slog.NewTextHandler(io.Discard, nil))), h
}

func hsmCheck(h *healthState) string {
	r, _ := h.report()
	return r.Checks["hsm"].Status
}

var errLost = fmt.Errorf("%w: C_Sign(CKM_ECDSA): CKR_OBJECT_HANDLE_INVALID", hsm.ErrTokenRemoved)

// The token goes away under the running signer and comes back: health
// says so while it is away, and the token is reopened once it is back.
func TestHSMTokenLostAndBackIsReopened(t *testing.T) {
	tok := &fakeToken{probe: errLost, reopen: errLost}
	w, h := watchOf(tok)
	if err := w.check(t.Context()); err == nil {
		t.Fatalf("check with the token away: %v", err)
	}
	if got := hsmCheck(h); got != "DOWN" {
		t.Errorf("hsm check with the token away: %s, want DOWN", got)
	}
	if h.alive() {
		t.Error("a lost token kept the watchdog going: a module that needs initialising again would never see it back")
	}
	tok.probe, tok.reopen = errLost, nil // back: its old sessions are still dead
	if err := w.check(t.Context()); err != nil {
		t.Fatalf("check with the token back: %v", err)
	}
	if got := hsmCheck(h); got != "UP" || tok.reopens != 2 || !h.alive() {
		t.Errorf("after the token came back: hsm %s, %d reopens, alive %v; want UP, 2, true", got, tok.reopens, h.alive())
	}
}

// A token that answers its probe but whose key handles died (what SoftHSM
// does when its token files go away and come back): the TLS handshake's
// failed signature makes the watch reopen it.
func TestHSMFailedHandshakeSignatureReopensTheToken(t *testing.T) {
	tok := &fakeToken{}
	w, h := watchOf(tok)
	signer := watchedSigner{Signer: failingSigner{errLost}, failed: w.failed}
	if _, err := signer.Sign(nil, make([]byte, 32), crypto.SHA256); !errors.Is(err, hsm.ErrTokenRemoved) {
		t.Fatalf("sign: %v", err)
	}
	select {
	case <-w.kick:
	default:
		t.Fatal("the failed signature did not wake the watch")
	}
	if err := w.check(t.Context()); err != nil || tok.reopens != 1 || hsmCheck(h) != "UP" {
		t.Fatalf("check after a failed handshake: %v, %d reopens, hsm %s; want nil, 1, UP", err, tok.reopens, hsmCheck(h))
	}
	if err := w.check(t.Context()); err != nil || tok.reopens != 1 {
		t.Errorf("a healthy token was reopened again: %v, %d reopens", err, tok.reopens)
	}
}

// Failures that are not a lost token reopen nothing: a module timeout is
// reported, a refused signature ignored.
func TestHSMWatchReopensOnlyALostToken(t *testing.T) {
	tok := &fakeToken{probe: fmt.Errorf("%w: C_GetTokenInfo", hsm.ErrTimeout)}
	w, h := watchOf(tok)
	if err := w.check(t.Context()); !errors.Is(err, hsm.ErrTimeout) {
		t.Fatalf("check: %v, want ErrTimeout", err)
	}
	if tok.reopens != 0 || hsmCheck(h) != "DOWN" {
		t.Errorf("a timing-out token: %d reopens, hsm %s; want 0 and DOWN", tok.reopens, hsmCheck(h))
	}
	w.failed(errors.New("hsm: mechanism not allowed"))
	select {
	case <-w.kick:
		t.Error("a signature refused for another reason woke the watch")
	default:
	}
}

type failingSigner struct{ err error }

func (f failingSigner) Public() crypto.PublicKey { return nil }
func (f failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, f.err
}

// A request that finds the slashing database failed (a write failed on a
// full disk: restart required) takes the health check down at once, not
// at the checkpoint loop's next look; refusals and other errors do not.
func TestSlashingDatabaseFailureTakesHealthDownAtOnce(t *testing.T) {
	failed := fmt.Errorf("%w: commit: write slashing-protection.db: no space left on device", protect.ErrFailed)
	for _, tc := range []struct {
		name string
		ap   *approval
		err  error
		down bool
	}{
		{"the commit of a burst failed", nil, failed, true},
		{"one account's approval failed", &approval{refused: []error{nil, failed}}, nil, true},
		{"a double vote refused", &approval{refused: []error{protect.ErrRefused}}, nil, false},
		{"the request ended", nil, context.Canceled, false},
		{"approved", &approval{refused: []error{nil}}, nil, false},
	} {
		h := newHealthState()
		h.set("slashing_db", nil)
		p := &participant{dbFailed: func(err error) { h.set("slashing_db", err) }}
		p.watchDB(tc.ap, tc.err)
		r, _ := h.report()
		if got := r.Checks["slashing_db"].Status == "DOWN"; got != tc.down {
			t.Errorf("%s: slashing_db %+v, want down %v", tc.name, r.Checks["slashing_db"], tc.down)
		}
	}
}
