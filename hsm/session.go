package hsm

import (
	"context"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// sessionPool hands out PKCS#11 sessions, at most one goroutine per session
// at a time as PKCS#11 requires. Sessions are opened on demand up to a
// bound and kept for reuse; they inherit the token's login, which
// crypto11's long-lived session holds.
type sessionPool struct {
	p11   sessionOpener
	slot  uint
	slots chan struct{} // one value per session that may be open

	mu     sync.Mutex
	idle   []pkcs11.SessionHandle
	closed bool
}

func newSessionPool(p11 sessionOpener, slot uint, max int) *sessionPool {
	return &sessionPool{p11: p11, slot: slot, slots: make(chan struct{}, max)}
}

// get returns an idle session or opens one, waiting while all are in use.
func (p *sessionPool) get(ctx context.Context) (pkcs11.SessionHandle, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctxError(ctx, "waiting for a free HSM session")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return 0, fmt.Errorf("%w: session pool", ErrClosed)
	}
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	s, err := p.p11.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		<-p.slots
		return 0, callError("C_OpenSession", err)
	}
	return s, nil
}

// release returns a session for reuse when reusable, and closes it
// otherwise (after a failure its operation state is unknown).
func (p *sessionPool) release(s pkcs11.SessionHandle, reusable bool) {
	p.mu.Lock()
	if reusable && !p.closed {
		p.idle = append(p.idle, s)
		p.mu.Unlock()
		<-p.slots
		return
	}
	p.mu.Unlock()
	_ = p.p11.CloseSession(s)
	<-p.slots
}

// close closes the idle sessions; sessions in use are closed when released.
// The token calls it only once no call is running.
func (p *sessionPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, s := range p.idle {
		_ = p.p11.CloseSession(s)
	}
	p.idle = nil
}
