package appliance_test

import (
	"sync"
	"time"
)

// fakeClock is a clock tests move by hand (Options.Now and Options.After):
// nothing waits on real time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	// calls counts After calls; changed is signalled on each.
	calls   int
	changed chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(start time.Time) *fakeClock {
	return &fakeClock{now: start, changed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	}
	c.calls++
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock and fires every waiter now due; it returns the
// number of After calls made so far, for waitAfterCalls.
func (c *fakeClock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
	return c.calls
}

// waitAfterCalls blocks until more than n After calls were made: a loop
// that waits on the clock has come round once more.
func (c *fakeClock) waitAfterCalls(n int, timeout <-chan time.Time) bool {
	for {
		c.mu.Lock()
		calls := c.calls
		c.mu.Unlock()
		if calls > n {
			return true
		}
		select {
		case <-c.changed:
		case <-timeout:
			return false
		}
	}
}
