//go:build redteam

package redteam_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/redteam/slowclient"
)

// pid is the running signer process's id.
func (p *procSigner) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec.PID
}

// peakMetrics samples gauges of signer i every few milliseconds until
// stop is called, and returns their largest values.
func (c *cluster) peakMetrics(i int, names ...string) (stop func() map[string]float64) {
	peak := map[string]float64{}
	var mu sync.Mutex
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, n := range names {
				if v, err := c.metric(i, n); err == nil {
					mu.Lock()
					peak[n] = max(peak[n], v)
					mu.Unlock()
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() map[string]float64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// TestHole4ConnectionAndInFlightCaps runs the 1-of-1 signer process with
// small listener caps (64 connections on the coordinator listener, 8
// requests in flight per client) and attacks it with redteam/slowclient:
// 2,000 connections that each announce an 8 MiB body and send one byte,
// from a certificate the policy denies everything (403 before the body,
// each connection closed), then from the validator client (8 requests at a
// time wait for their bodies until the read deadline, 408; the others get
// 429 at once); then 200 TLS connections that send nothing. The signer's
// gauges of open connections and requests in flight never pass the caps,
// and its descriptors and memory stay bounded. On 108c238 nothing capped
// either: 2,000 such connections from a denied client held 2,000
// descriptors and 70 MiB for as long as the client liked.
func TestHole4ConnectionAndInFlightCaps(t *testing.T) {
	h := hole(t, 4, "connection and in-flight caps hold under thousands of connections")
	c, p := singleSigner(t)
	const maxConns, maxInFlight = 64, 8
	cfgPath := variant(t, p, "small-caps", func(cfg *appliance.Config) {
		cfg.Listen.Limits.MaxConnections.Coordinator = maxConns
		cfg.Listen.Limits.MaxInFlightPerClient = maxInFlight
	})
	if err := p.start(cfgPath); err != nil {
		t.Fatal(err)
	}
	if err := p.waitHealthy(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	ctx := context.Background()
	addr := p.s.Config.Listen.Coordinator
	path := "/api/v1/eth2/sign/" + c.keys[0].String()
	open := `rampart_signer_listener_connections{listener="coordinator"}`
	inFlight := `rampart_signer_listener_requests_in_flight{listener="coordinator"}`
	var results []*slowclient.Result
	for _, s := range []struct {
		target slowclient.Target
		// answers a sound signer may give before the body is complete.
		answers []int
	}{
		{slowclient.Target{Name: "mTLS coordinator, certificate denied everything", Addr: addr, TLS: c.signerTLS(0, c.ids[intruderClient]), Path: path, Expect: http.StatusForbidden},
			[]int{http.StatusForbidden}},
		{slowclient.Target{Name: "mTLS coordinator, validator client sending slowly", Addr: addr, TLS: c.signerTLS(0, c.ids[validatorClient]), Path: path, Expect: http.StatusRequestTimeout},
			[]int{http.StatusRequestTimeout, http.StatusTooManyRequests}},
	} {
		stop := c.peakMetrics(0, open, inFlight)
		res, err := slowclient.Attack(ctx, slowclient.Config{
			Connections: 2000, BodySize: 8 << 20, Settle: time.Second, Parallel: 64, PID: p.pid(), WaitForClose: time.Minute,
		}, s.target)
		peak := stop()
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		answered := 0
		for _, code := range s.answers {
			answered += res.Answers[code]
			for range res.Answers[code] {
				h.note(code, nil)
			}
		}
		switch {
		case answered != res.Opened:
			t.Errorf("%s: answers %v to %d connections, want only %v", s.target.Name, res.Answers, res.Opened, s.answers)
		case res.ClosedBySigner != res.Opened:
			t.Errorf("%s: the signer closed %d of %d connections", s.target.Name, res.ClosedBySigner, res.Opened)
		case peak[open] > maxConns || res.PeakOpen > maxConns:
			t.Errorf("%s: %v connections open at once (the signer's gauge), %d (the client's count), over the cap %d", s.target.Name, peak[open], res.PeakOpen, maxConns)
		case peak[inFlight] > maxInFlight:
			t.Errorf("%s: %v requests in flight at once, over the cap %d", s.target.Name, peak[inFlight], maxInFlight)
		case res.Peak.FDs-res.Before.FDs > maxConns+16:
			t.Errorf("%s: descriptors grew from %d to %d, more than the connection cap", s.target.Name, res.Before.FDs, res.Peak.FDs)
		case res.Peak.RSSKiB-res.Before.RSSKiB > 64<<10:
			t.Errorf("%s: resident memory grew from %d to %d KiB", s.target.Name, res.Before.RSSKiB, res.Peak.RSSKiB)
		}
		if s.target.Expect == http.StatusRequestTimeout && (res.Answers[http.StatusTooManyRequests] == 0 || res.Answers[http.StatusRequestTimeout] == 0) {
			t.Errorf("%s: answers %v: want some held to the read deadline (408) and the rest over the in-flight cap (429)", s.target.Name, res.Answers)
		}
		t.Logf("%s: peak gauges: %v connections open, %v requests in flight", s.target.Name, peak[open], peak[inFlight])
	}
	t.Logf("\n%s", slowclient.Table(results))

	// Connections that complete the TLS handshake and send nothing: the
	// listener holds at most its cap (until read_header_timeout) and
	// closes the others on arrival.
	stop := c.peakMetrics(0, open)
	var held atomic.Int64
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 * maxConns {
		wg.Go(func() {
			cfg := c.signerTLS(0, c.ids[validatorClient])
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
			if err != nil {
				h.noteAs("connection closed on arrival (over the cap)")
				return
			}
			// A connection the server closed at accept may still finish
			// the client's side of the handshake: it is held only if a
			// read does not see the close.
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := conn.Read(make([]byte, 1)); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					held.Add(1)
					h.pass("idle connection held (within the cap)")
					mu.Lock()
					conns = append(conns, conn)
					mu.Unlock()
					return
				}
			}
			h.noteAs("connection closed on arrival (over the cap)")
			conn.Close()
		})
	}
	wg.Wait()
	peak := stop()
	for _, conn := range conns {
		conn.Close()
	}
	if held.Load() > maxConns || peak[open] > maxConns {
		t.Errorf("%d idle connections held (the signer's gauge peaked at %v), over the cap %d", held.Load(), peak[open], maxConns)
	}
	if held.Load() == 0 {
		t.Error("no idle connection was held at all")
	}
	t.Logf("%d idle TLS connections: %d held, the rest closed on arrival; the signer's gauge peaked at %v", 3*maxConns, held.Load(), peak[open])
	if r := c.do(ctx, 0, appliance.ListenerCoordinator, validatorClient, http.MethodGet, "/upcheck", nil); r.err != nil || r.code != http.StatusOK {
		t.Errorf("after the attacks the signer does not answer: %d %v", r.code, r.err)
	}
}
