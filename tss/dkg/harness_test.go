package dkg_test

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// cluster simulates a ceremony's participants in one process, each in its
// own goroutine with its own inbox, as separate machines would run. The
// transport may tamper with messages to play a dishonest participant.
type cluster struct {
	t     testing.TB
	cfg   dkg.Config
	parts map[tss.ID]*dkg.Participant
	// tamper, when set, rewrites the message from -> to; returning nil
	// drops it. It runs in the sender's goroutine.
	tamper func(from, to tss.ID, m dkg.Message) []byte
	// resume makes every participant snapshot and resume after each
	// delivery, as a signer restarting at every step would.
	resume bool

	mu     sync.Mutex
	errs   map[tss.ID][]error
	inbox  map[tss.ID]chan envelope
	flight sync.WaitGroup
}

type envelope struct {
	from tss.ID
	b    []byte
}

func config(tb testing.TB, threshold, n, validators int) dkg.Config {
	tb.Helper()
	c := dkg.Config{Threshold: threshold, Validators: validators, Context: []byte("withdrawal credentials and amount")}
	if _, err := rand.Read(c.Nonce[:]); err != nil {
		tb.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		c.Participants = append(c.Participants, tss.ID(i))
	}
	return c
}

func newCluster(tb testing.TB, cfg dkg.Config) *cluster {
	tb.Helper()
	c := &cluster{t: tb, cfg: cfg, parts: map[tss.ID]*dkg.Participant{}, errs: map[tss.ID][]error{}, inbox: map[tss.ID]chan envelope{}}
	for _, id := range cfg.Participants {
		p, err := dkg.New(cfg, id, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		c.parts[id] = p
		c.inbox[id] = make(chan envelope, 4096)
	}
	return c
}

// send queues msgs from a participant for their recipients.
func (c *cluster) send(from tss.ID, msgs []dkg.Message) {
	for _, m := range msgs {
		targets := []tss.ID{m.To}
		if m.To == 0 {
			targets = nil
			for _, id := range c.cfg.Participants {
				if id != from {
					targets = append(targets, id)
				}
			}
		}
		for _, to := range targets {
			b := m.Bytes
			if c.tamper != nil {
				if b = c.tamper(from, to, m); b == nil {
					continue
				}
			}
			c.flight.Add(1)
			c.inbox[to] <- envelope{from: from, b: b}
		}
	}
}

// run delivers every participant's outbox and then every message produced
// in response, until no message is in flight.
func (c *cluster) run() {
	// Take the first messages before any worker may replace a participant
	// with its resumed copy.
	first := map[tss.ID][]dkg.Message{}
	for _, id := range c.cfg.Participants {
		first[id] = c.parts[id].Outbox()
	}
	var workers sync.WaitGroup
	for id, ch := range c.inbox {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for env := range ch {
				c.mu.Lock()
				p := c.parts[id]
				c.mu.Unlock()
				out, err := p.Deliver(env.from, env.b)
				if err != nil {
					c.mu.Lock()
					c.errs[id] = append(c.errs[id], err)
					c.mu.Unlock()
				}
				if c.resume && p.Phase() != dkg.PhaseAborted {
					snap := p.Snapshot()
					q, err := dkg.Resume(snap, rand.Reader)
					snap.Zero()
					if err != nil {
						c.t.Errorf("participant %s: resume: %v", id, err)
					} else {
						c.mu.Lock()
						c.parts[id] = q
						c.mu.Unlock()
					}
				}
				c.send(id, out)
				c.flight.Done()
			}
		}()
	}
	for _, id := range c.cfg.Participants {
		c.send(id, first[id])
	}
	c.flight.Wait()
	for _, ch := range c.inbox {
		close(ch)
	}
	workers.Wait()
}

// results returns the results of the participants that finished, and
// fails the test if any of want did not.
func (c *cluster) results(want ...tss.ID) map[tss.ID]*dkg.Result {
	c.t.Helper()
	out := map[tss.ID]*dkg.Result{}
	for id, p := range c.parts {
		r, err := p.Result()
		if err == nil {
			out[id] = r
			c.t.Cleanup(r.Zero)
		}
	}
	for _, id := range want {
		if out[id] == nil {
			_, err := c.parts[id].Result()
			c.t.Fatalf("participant %s did not finish: %v (phase %s, errors %v)", id, err, c.parts[id].Phase(), c.errs[id])
		}
	}
	return out
}

// unexpectedErrors fails the test on any delivery error other than the
// allowed ones.
func (c *cluster) unexpectedErrors(allowed ...error) {
	c.t.Helper()
	for id, errs := range c.errs {
	next:
		for _, err := range errs {
			for _, a := range allowed {
				if errors.Is(err, a) {
					continue next
				}
			}
			c.t.Errorf("participant %s: %v", id, err)
		}
	}
}
