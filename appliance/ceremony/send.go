package ceremony

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// outQueue holds one batch's messages for one peer, in the order the state
// machine produced them. Each is sent until the peer acknowledges it; the
// peer acknowledges only what it has persisted, and ignores duplicates, so
// re-sending after a timeout or a restart is always safe.
type outQueue struct {
	mu     sync.Mutex
	msgs   []queued
	seq    uint64
	signal chan struct{}
}

// queued is a message with its place in the queue.
type queued struct {
	seq uint64
	dkg.Message
}

func newOutQueue() *outQueue { return &outQueue{signal: make(chan struct{}, 1)} }

// push queues a copy of m: the state machine zeroes its own copies of
// secret shares once the batch is done.
func (q *outQueue) push(m dkg.Message) {
	m.Bytes = slices.Clone(m.Bytes)
	q.mu.Lock()
	q.seq++
	q.msgs = append(q.msgs, queued{seq: q.seq, Message: m})
	q.mu.Unlock()
	q.wake()
}

func (q *outQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// head returns the first message with a copy of its bytes, the sender's
// own: pop, dropShares and clear zero the queue's copies of secret shares,
// which must never reach a message in flight (a peer would get a message
// zeroed in part and take it for this participant's). The sender zeroes
// its copy after the attempt (release).
func (q *outQueue) head() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return queued{}, false
	}
	m := q.msgs[0]
	m.Bytes = slices.Clone(m.Bytes)
	return m, true
}

// release zeroes the sender's copy of m once it is sent or given up. The
// transport must be done with the bytes when the delivery call returns:
// DeliverCeremonyMessage encodes them into a request body of its own (an
// HTTP client may read a body it was given after the call returned).
func release(m queued) {
	if m.Kind == dkg.KindShares {
		clear(m.Bytes)
	}
}

// pop removes the acknowledged head (if it is still m: an abort may have
// cleared the queue meanwhile) and zeroes the queue's copy of a secret one.
func (q *outQueue) pop(m queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) > 0 && q.msgs[0].seq == m.seq {
		if m.Kind == dkg.KindShares {
			clear(q.msgs[0].Bytes)
		}
		q.msgs = q.msgs[1:]
	}
}

// dropShares drops queued shares messages (zeroed), keeping the others.
func (q *outQueue) dropShares() {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.msgs[:0:0]
	for _, m := range q.msgs {
		if m.Kind == dkg.KindShares {
			clear(m.Bytes)
			continue
		}
		kept = append(kept, m)
	}
	q.msgs = kept
}

// clear drops everything (zeroing secret shares).
func (q *outQueue) clear() {
	q.mu.Lock()
	for _, m := range q.msgs {
		if m.Kind == dkg.KindShares {
			clear(m.Bytes)
		}
	}
	q.msgs = nil
	q.mu.Unlock()
	q.wake()
}

// Retry pacing of ceremony messages.
const (
	sendBackoffMin = 50 * time.Millisecond
	sendBackoffMax = 2 * time.Second
)

// attemptTimeout bounds one delivery: the recipient may run a round's
// whole computation for the batch before it answers.
func attemptTimeout(validators int) time.Duration {
	return 30*time.Second + time.Duration(validators)*50*time.Millisecond
}

// sendLoop delivers batch b's messages to peer to, in order, each until
// acknowledged, with backoff while the peer is down or busy. It ends when
// the batch is staged and its queue empty, or when the ceremony ends. A
// peer that reports the ceremony aborted, or refuses a message outright,
// ends the ceremony here too, with its reason.
func (c *ceremony) sendLoop(ctx context.Context, b *batch, to tss.ID) {
	q := b.out[to]
	p := c.env.deps.Peers.Peer(to, nil)
	backoff := sendBackoffMin
	for {
		m, ok := q.head()
		if !ok {
			if b.view().staged || c.isEnded() {
				return
			}
			select {
			case <-q.signal:
			case <-c.ended:
				return
			case <-ctx.Done():
				return
			}
			continue
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout(b.proto.validators))
		err := p.DeliverCeremonyMessage(actx, c.id, m.Bytes)
		cancel()
		release(m)
		if err == nil {
			q.pop(m)
			backoff = sendBackoffMin
			continue
		}
		if ctx.Err() != nil || c.isEnded() {
			return
		}
		switch code := peer.Status(err); code {
		case http.StatusGone:
			c.abort(ctx, fmt.Sprintf("participant %s reports the ceremony aborted: %v", to, err))
			return
		case http.StatusBadRequest, http.StatusForbidden, http.StatusConflict, http.StatusRequestEntityTooLarge:
			c.abort(ctx, fmt.Sprintf("participant %s refused this participant's %s message of batch %d: %v", to, m.Kind, b.index, err))
			return
		}
		// Down, restarting, not joined yet or busy: try again.
		c.logger().Debug("ceremony message not delivered yet; retrying", append(c.log(), "to", to, "batch", b.index, "kind", m.Kind, "err", err)...)
		select {
		case <-c.env.clock.After(backoff):
		case <-c.ended:
			return
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, sendBackoffMax)
	}
}
