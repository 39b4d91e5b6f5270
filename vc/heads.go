package vc

import (
	"sync"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// heads follows the head events, so that attesters act as soon as the
// slot's block is known rather than a third into the slot.
type heads struct {
	mu      sync.Mutex
	slot    phase0.Slot
	seen    bool
	waiters map[phase0.Slot]chan struct{}
}

func newHeads() *heads { return &heads{waiters: map[phase0.Slot]chan struct{}{}} }

// observe records a head and wakes those waiting for its slot or an
// earlier one.
func (h *heads) observe(slot phase0.Slot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.seen || slot >= h.slot {
		h.slot, h.seen = slot, true
	}
	for s, ch := range h.waiters {
		if s <= slot {
			close(ch)
			delete(h.waiters, s)
		}
	}
}

// wait returns a channel closed once a head at slot s or later is seen.
func (h *heads) wait(s phase0.Slot) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen && h.slot >= s {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	ch := h.waiters[s]
	if ch == nil {
		ch = make(chan struct{})
		h.waiters[s] = ch
	}
	return ch
}

// forget drops the waiters of slots before s that no head event reached
// (missed slots), so they do not accumulate.
func (h *heads) forget(s phase0.Slot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ws, ch := range h.waiters {
		if ws < s {
			close(ch)
			delete(h.waiters, ws)
		}
	}
}
