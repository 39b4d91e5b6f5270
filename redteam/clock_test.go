//go:build redteam

package redteam_test

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

// testClock is the clock of an in-process cluster whose time a test moves
// forward (appliance.Options.Now and After): the real time plus an offset
// that only grows. Timers fire when the clock reaches them, whether real
// time or an Advance got it there.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
	// moved is closed, and replaced, at every Advance.
	moved chan struct{}
}

func newTestClock() *testClock { return &testClock{moved: make(chan struct{})} }

// Now is the real time plus the offset.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d and wakes every timer.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	close(c.moved)
	c.moved = make(chan struct{})
}

// After fires once the clock reaches d from now.
func (c *testClock) After(d time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	due := c.Now().Add(d)
	go func() {
		for {
			c.mu.Lock()
			now, moved := time.Now().Add(c.offset), c.moved
			c.mu.Unlock()
			if !now.Before(due) {
				out <- now
				return
			}
			t := time.NewTimer(due.Sub(now))
			select {
			case <-t.C:
			case <-moved:
				t.Stop()
			}
		}
	}()
	return out
}

// fakeDisk is the free space an in-process signer sees on every volume
// (appliance.Options.StatFS): a test fills and empties it.
type fakeDisk struct {
	avail, total atomic.Uint64
}

func newFakeDisk() *fakeDisk {
	d := &fakeDisk{}
	d.set(50<<30, 100<<30)
	return d
}

func (d *fakeDisk) set(avail, total uint64) {
	d.total.Store(total)
	d.avail.Store(avail)
}

func (d *fakeDisk) statFS(string) (appliance.DiskSpace, error) {
	return appliance.DiskSpace{Avail: d.avail.Load(), Total: d.total.Load()}, nil
}

// lateListener hands a pre-bound listener to an in-process signer. Until
// the signer first accepts, connections are closed at once, as a port
// nobody listens on refuses them, rather than left in the kernel's queue:
// a signer's first discovery of its peers, which runs before it serves,
// then fails fast instead of waiting out a TLS handshake timeout on a peer
// that is itself still starting.
type lateListener struct {
	net.Listener
	serving atomic.Bool
	conns   chan net.Conn
	closed  chan struct{}
	once    sync.Once
	err     atomic.Value
}

func newLateListener(l net.Listener) *lateListener {
	ll := &lateListener{Listener: l, conns: make(chan net.Conn), closed: make(chan struct{})}
	go ll.pump()
	return ll
}

func (l *lateListener) pump() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.err.Store(err)
			l.Close()
			return
		}
		if !l.serving.Load() {
			c.Close()
			continue
		}
		select {
		case l.conns <- c:
		case <-l.closed:
			c.Close()
			return
		}
	}
}

func (l *lateListener) Accept() (net.Conn, error) {
	l.serving.Store(true)
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		if err, ok := l.err.Load().(error); ok {
			return nil, err
		}
		return nil, net.ErrClosed
	}
}

func (l *lateListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.closed)
		err = l.Listener.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}
