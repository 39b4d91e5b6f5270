package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// Coalescing. A standard validator client sends a slot's attestations as
// one single request per validator, all at once, and since Electra they
// share one signed object. Asked one by one, each participant would run
// every guard, one slashing-database commit and one audit commit per key,
// and the coordinator one pairing check per signature. Instead:
//
//   - single requests of a shared type (SignShared) that wait for the same
//     participant with the same request body go to it as one batch call
//     (its batch endpoint: the same guards per key, one commit for all);
//   - recoveries of concurrent requests are verified together
//     (tss.RecoverBatch: one multi-pairing, with bisection and per-partial
//     checks when one fails, so a bad partial costs only its own request
//     the careful path).
//
// The window is adaptive and adds no delay: a call (or a recovery) starts
// at once when none of its kind is running, and what arrives while one
// runs waits for it to end and then goes together. An idle cluster answers
// a lone request exactly as before; a burst is carried in a few batches.
// Nothing about what is signed changes: each participant still checks and
// records every key's message before it releases its partial, and every
// recovered signature is verified under its composite key before release.

// maxCoalesced bounds one coalesced batch call; more waiters go in the
// next call.
const maxCoalesced = 4096

// coalescer gathers concurrent single requests for one participant.
type coalescer struct {
	c     *Coordinator
	p     Participant
	mu    sync.Mutex
	lanes map[string]*lane // by request body: one lane per signed object
}

// lane is the requests with one body: a call in flight, and the waiters
// for the next one.
type lane struct {
	waiting []*waiter
}

// waiter is one single request waiting for a coalesced call.
type waiter struct {
	id        api.PublicKey
	done      chan coalescedResult // buffered: the sender never blocks
	abandoned bool                 // its caller gave up before it was sent (under coalescer.mu)
}

type coalescedResult struct {
	ps  api.PartialSignature
	err error
}

func newCoalescer(c *Coordinator, p Participant) *coalescer {
	return &coalescer{c: c, p: p, lanes: map[string]*lane{}}
}

// sign returns the participant's partial signature of request for id: at
// once with a single call when no call with this body is in flight to
// this participant, else in the batch call that follows it.
func (co *coalescer) sign(ctx context.Context, id api.PublicKey, request []byte) (api.PartialSignature, error) {
	key := string(request)
	co.mu.Lock()
	if l, busy := co.lanes[key]; busy {
		w := &waiter{id: id, done: make(chan coalescedResult, 1)}
		l.waiting = append(l.waiting, w)
		co.mu.Unlock()
		select {
		case r := <-w.done:
			return r.ps, r.err
		case <-ctx.Done():
			co.mu.Lock()
			w.abandoned = true
			co.mu.Unlock()
			return api.PartialSignature{}, ctx.Err()
		}
	}
	l := &lane{}
	co.lanes[key] = l
	co.mu.Unlock()
	ps, err := co.p.SignPartial(ctx, id, request)
	go co.drain(key, l, request)
	return ps, err
}

// drain sends the lane's waiters in batch calls until none is left, then
// closes the lane.
func (co *coalescer) drain(key string, l *lane, request []byte) {
	for {
		co.mu.Lock()
		var batch []*waiter
		var rest []*waiter
		seen := map[api.PublicKey]bool{}
		for _, w := range l.waiting {
			switch {
			case w.abandoned:
			case seen[w.id] || len(batch) == maxCoalesced:
				// A batch names each key once: a repeat waits for the next.
				rest = append(rest, w)
			default:
				seen[w.id] = true
				batch = append(batch, w)
			}
		}
		l.waiting = rest
		if len(batch) == 0 {
			delete(co.lanes, key)
			co.mu.Unlock()
			return
		}
		co.mu.Unlock()
		co.send(batch, request)
	}
}

// send makes one call for the waiters (a single call for one) and answers
// each. Like every call, it runs bounded by the coordinator's timeouts,
// not by any one caller's context. The calls metric already counted each
// waiter's request (Coordinator.call).
func (co *coalescer) send(batch []*waiter, request []byte) {
	cfg := co.c.cfg
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout+time.Duration(len(batch))*cfg.PerItemTimeout)
	defer cancel()
	if len(batch) == 1 {
		ps, err := co.p.SignPartial(ctx, batch[0].id, request)
		batch[0].done <- coalescedResult{ps, err}
		return
	}
	body := batchBody{SigningRequest: request, Identifiers: make([]api.PublicKey, len(batch))}
	for k, w := range batch {
		body.Identifiers[k] = w.id
	}
	data, err := json.Marshal(body)
	var results []api.PartialBatchResult
	if err == nil {
		results, err = co.p.SignPartialBatch(ctx, data)
	}
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("malformed answer: %d results for %d identifiers (%w)", len(results), len(batch), api.ErrMalformed)
	}
	for k, w := range batch {
		if err != nil {
			w.done <- coalescedResult{err: err}
			continue
		}
		w.done <- itemResult(results[k], w.id)
	}
}

// itemResult turns one batch item into the answer of a single call.
func itemResult(item api.PartialBatchResult, id api.PublicKey) coalescedResult {
	switch {
	case item.Identifier != id:
		return coalescedResult{err: fmt.Errorf("malformed answer: a result for another identifier (%w)", api.ErrMalformed)}
	case item.Error != nil:
		return coalescedResult{err: peer.FromAPI(item.Error)}
	case item.ParticipantID == nil || item.SigningRoot == nil || item.Signature == nil:
		return coalescedResult{err: fmt.Errorf("malformed answer: a result without its partial signature (%w)", api.ErrMalformed)}
	}
	return coalescedResult{ps: api.PartialSignature{ParticipantID: *item.ParticipantID, SigningRoot: *item.SigningRoot, Signature: *item.Signature}}
}

// recoverer verifies the recoveries of concurrent requests together: a
// recovery starts at once when none runs, and those that arrive while one
// runs go together in the next.
type recoverer struct {
	mu      sync.Mutex
	running bool
	queue   []*recovery
}

type recovery struct {
	reqs []tss.Request
	out  chan []tss.Outcome // buffered
}

// recover returns tss.RecoverBatch(reqs), computed together with the
// recoveries of other requests that arrive meanwhile.
func (r *recoverer) recover(reqs []tss.Request) []tss.Outcome {
	me := &recovery{reqs: reqs, out: make(chan []tss.Outcome, 1)}
	r.mu.Lock()
	r.queue = append(r.queue, me)
	if r.running {
		r.mu.Unlock()
		return <-me.out
	}
	r.running = true
	r.mu.Unlock()
	r.round()
	// Leave the next rounds to another goroutine, so that this caller
	// answers now.
	r.mu.Lock()
	if len(r.queue) == 0 {
		r.running = false
		r.mu.Unlock()
	} else {
		r.mu.Unlock()
		go r.rest()
	}
	return <-me.out
}

// rest runs rounds until the queue is empty.
func (r *recoverer) rest() {
	for {
		r.round()
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// round recovers everything queued now, in one tss.RecoverBatch.
func (r *recoverer) round() {
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	var all []tss.Request
	for _, b := range batch {
		all = append(all, b.reqs...)
	}
	outs := tss.RecoverBatch(all)
	for _, b := range batch {
		b.out <- outs[:len(b.reqs):len(b.reqs)]
		outs = outs[len(b.reqs):]
	}
}

// coalescerFor returns participant p's coalescer.
func (c *Coordinator) coalescerFor(p Participant) *coalescer {
	c.coalesceMu.Lock()
	defer c.coalesceMu.Unlock()
	co := c.coalescers[p.ID()]
	if co == nil {
		co = newCoalescer(c, p)
		c.coalescers[p.ID()] = co
	}
	return co
}
