package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination safe for the pinger's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchdogStopsWhenProbesStop: the watchdog is pinged while probes
// are recent and not once the last probe is stale, so systemd restarts a
// gateway whose prober hangs.
func TestWatchdogStopsWhenProbesStop(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pings := make(chan struct{}, 1000)
	var logs syncBuffer
	g := &Gateway{
		cfg:      DefaultConfig(),
		log:      slog.New(slog.NewTextHandler(&logs, nil)),
		now:      clock,
		notify:   func(s string) { pings <- struct{}{} },
		watchdog: time.Millisecond,
		health:   newHealthState(),
	}
	g.health.at = clock()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { g.pingWatchdog(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-pings:
	case <-time.After(time.Minute):
		t.Fatal("no watchdog ping while probes are recent")
	}
	mu.Lock()
	now = now.Add(g.staleAfter() + time.Second)
	mu.Unlock()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(logs.String(), "health probes stopped; no watchdog ping"); {
		if time.Now().After(deadline) {
			t.Fatal("the pinger never noticed the stale probe")
		}
		time.Sleep(time.Millisecond)
	}
	// Drain the pings sent before the clock moved; none may follow the
	// refusal logged above.
	for len(pings) > 0 {
		<-pings
	}
	n := strings.Count(logs.String(), "health probes stopped")
	for strings.Count(logs.String(), "health probes stopped") < n+3 {
		time.Sleep(time.Millisecond)
	}
	if len(pings) != 0 {
		t.Fatalf("%d watchdog pings after the probes went stale", len(pings))
	}
}
