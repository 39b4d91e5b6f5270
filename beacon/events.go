package beacon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Event is a head or chain reorganisation event from one of the nodes. The
// first node to report a given head (slot and block) or reorg delivers it;
// the same report from other nodes is not delivered again.
type Event struct {
	// Node is the name of the node that reported it first.
	Node string
	// Received is when it arrived.
	Received time.Time
	// Head is set for a head event: a new head block, which is the moment
	// to attest (rather than waiting a third of the slot).
	Head *apiv1.HeadEvent
	// Reorg is set for a chain_reorg event: duties computed on the old
	// head's dependent root may have changed.
	Reorg *apiv1.ChainReorgEvent
}

// Event stream topics.
const (
	topicHead  = "head"
	topicReorg = "chain_reorg"
)

// Reconnection backoff of an event stream.
const (
	streamRetryMin = time.Second
	streamRetryMax = 30 * time.Second
)

// Subscribe returns a channel that receives every event delivered from now
// on, and a function that ends the subscription. A subscriber that does
// not keep up loses events (counted in the log) rather than stalling the
// streams of every node; buffer sets how many may wait.
func (c *Client) Subscribe(buffer int) (<-chan Event, func()) {
	return c.hub.subscribe(buffer)
}

// streamEvents reads one node's event stream while the node is usable,
// reconnecting with backoff, until ctx ends.
func (c *Client) streamEvents(ctx context.Context, n *node) {
	wait := streamRetryMin
	for {
		if svc, _ := n.service(); svc != nil {
			got, err := c.readStream(ctx, n)
			if ctx.Err() != nil {
				return
			}
			if got {
				wait = streamRetryMin
			}
			c.log.Debug("beacon event stream ended", "node", n.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, streamRetryMax)
	}
}

// readStream reads events from one connection until it fails; got reports
// whether any event arrived.
func (c *Client) readStream(ctx context.Context, n *node) (got bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		n.base.String()+"/eth/v1/events?topics="+topicHead+"&topics="+topicReorg, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := n.http.Do(req)
	if err != nil {
		return false, scrub(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("event stream: status %d", resp.StatusCode)
	}
	r := newSSEReader(resp.Body)
	for {
		ev, err := r.next()
		if err != nil {
			return got, err
		}
		got = true
		if svc, _ := n.service(); svc == nil {
			// The node was taken out of use (wrong network, unreachable)
			// since the stream opened: its events time nothing.
			return got, fmt.Errorf("node no longer usable (%s)", n.status().State)
		}
		c.handleEvent(n, ev)
	}
}

// handleEvent decodes, validates and delivers one event.
func (c *Client) handleEvent(n *node, ev sseEvent) {
	out := Event{Node: n.name, Received: c.now()}
	var key string
	var err error
	switch ev.Name {
	case topicHead:
		var h apiv1.HeadEvent
		if err = h.UnmarshalJSON(ev.Data); err == nil {
			err = c.checkHead(&h)
		}
		out.Head, key = &h, fmt.Sprintf("head/%d/%#x", h.Slot, h.Block)
	case topicReorg:
		var r apiv1.ChainReorgEvent
		if err = r.UnmarshalJSON(ev.Data); err == nil {
			err = c.checkReorg(&r)
		}
		out.Reorg, key = &r, fmt.Sprintf("reorg/%d/%#x/%#x", r.Slot, r.OldHeadBlock, r.NewHeadBlock)
	default:
		// Topics not asked for are ignored; a node may send keep-alives.
		return
	}
	if err != nil {
		c.metrics.event(n.name, ev.Name, "invalid")
		c.log.Warn("beacon node sent an invalid event", "node", n.name, "topic", ev.Name, "err", err)
		return
	}
	c.metrics.event(n.name, ev.Name, "ok")
	if out.Head != nil {
		c.setHead(n, out.Head.Slot)
	}
	c.hub.publish(key, out)
}

// checkHead refuses a head that cannot be: no block, or a slot beyond the
// wall clock (one slot of clock skew allowed).
func (c *Client) checkHead(h *apiv1.HeadEvent) error {
	if h.Block == (phase0.Root{}) {
		return errors.New("head event without a block root")
	}
	if err := c.notFuture(h.Slot); err != nil {
		return fmt.Errorf("head event: %w", err)
	}
	return nil
}

func (c *Client) checkReorg(r *apiv1.ChainReorgEvent) error {
	switch {
	case r.NewHeadBlock == (phase0.Root{}) || r.OldHeadBlock == (phase0.Root{}):
		return errors.New("chain_reorg event without head block roots")
	case r.Epoch != c.net.EpochAtSlot(r.Slot):
		return fmt.Errorf("chain_reorg event: epoch %d is not the epoch of slot %d", r.Epoch, r.Slot)
	}
	if err := c.notFuture(r.Slot); err != nil {
		return fmt.Errorf("chain_reorg event: %w", err)
	}
	return nil
}

func (c *Client) notFuture(slot phase0.Slot) error {
	if c.net.GenesisTime().IsZero() {
		return nil
	}
	if now := c.currentSlot(); slot > now+1 {
		return fmt.Errorf("slot %d is in the future (the clock says %d)", slot, now)
	}
	return nil
}

// hub delivers events to subscribers, each distinct event once.
type hub struct {
	log *slog.Logger

	mu     sync.Mutex
	subs   map[int]chan Event
	nextID int
	seen   map[string]bool
	order  []string
}

// seenLimit bounds the memory of delivered events; far more than the
// events of the few slots during which nodes report the same head.
const seenLimit = 512

func newHub(log *slog.Logger) *hub {
	return &hub{log: log, subs: map[int]chan Event{}, seen: map[string]bool{}}
}

func (h *hub) subscribe(buffer int) (<-chan Event, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan Event, max(buffer, 0))
	id := h.nextID
	h.nextID++
	h.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.subs, id)
			close(ch)
		})
	}
}

func (h *hub) publish(key string, ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[key] {
		return
	}
	if ev.Reorg != nil {
		// After a reorganisation the chain may return to a head it had
		// (A, B, A): that head's event must be delivered again, so the
		// events seen so far are forgotten; only this reorg is kept, so
		// the other nodes' reports of it are still dropped.
		clear(h.seen)
		h.order = h.order[:0]
	}
	h.seen[key] = true
	h.order = append(h.order, key)
	if len(h.order) > seenLimit {
		delete(h.seen, h.order[0])
		h.order = h.order[1:]
	}
	for _, ch := range h.subs {
		select {
		case ch <- ev:
		default:
			h.log.Warn("beacon event subscriber is not keeping up; event dropped", "node", ev.Node)
		}
	}
}
