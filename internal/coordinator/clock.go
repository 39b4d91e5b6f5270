package coordinator

import (
	"context"
	"sync"
	"time"
)

// Clock is the coordinator's time: when it asks, how long it waits, and
// when discovery last ran. Tests pass a fake one.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// pacer keeps on-demand discovery (a request that lacks a participant's
// key, a listing that wants recent accounts) to one run per interval on
// the coordinator's clock, one run at a time. It is the one place that
// decides whether such a discovery runs now.
type pacer struct {
	clock Clock
	// mu is held while an on-demand discovery runs, so that callers that
	// arrive meanwhile find it has just run.
	mu   sync.Mutex
	last time.Time // start of the last on-demand discovery; zero: none, or invalidated
}

// run calls discover unless an on-demand discovery started within gap of
// now, and reports whether it did. With wait, a caller that finds the last
// one too recent first waits out the rest of the gap, within ctx; if
// another caller's discovery started meanwhile, that one counts.
func (p *pacer) run(ctx context.Context, gap time.Duration, wait bool, discover func()) bool {
	p.mu.Lock()
	if left := gap - p.clock.Now().Sub(p.last); wait && left > 0 {
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-p.clock.After(left):
		}
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	if !p.reserve(gap) {
		return false
	}
	discover()
	return true
}

// reserve records an on-demand discovery starting now, unless one started
// within gap; p.mu is held.
func (p *pacer) reserve(gap time.Duration) bool {
	now := p.clock.Now()
	if now.Sub(p.last) < gap {
		return false
	}
	p.last = now
	return true
}

// tryReserve is reserve for a discovery that runs elsewhere (Run's loop).
func (p *pacer) tryReserve(gap time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reserve(gap)
}

// invalidate makes the next on-demand discovery run whatever the gap.
func (p *pacer) invalidate() {
	p.mu.Lock()
	p.last = time.Time{}
	p.mu.Unlock()
}
