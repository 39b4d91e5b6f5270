package vc

import (
	"context"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// clock maps wall time to slots and epochs of the network.
type clock struct {
	genesis       time.Time
	slot          time.Duration
	slotsPerEpoch uint64
	now           func() time.Time
}

func newClock(n *network.Network, genesis time.Time, now func() time.Time) clock {
	return clock{genesis: genesis, slot: n.SlotDuration(), slotsPerEpoch: n.Preset().SlotsPerEpoch, now: now}
}

// currentSlot is the slot at the time now; 0 before genesis.
func (c clock) currentSlot() phase0.Slot {
	t := c.now()
	if t.Before(c.genesis) {
		return 0
	}
	return phase0.Slot(t.Sub(c.genesis) / c.slot)
}

func (c clock) epochOf(s phase0.Slot) phase0.Epoch {
	return phase0.Epoch(uint64(s) / c.slotsPerEpoch)
}

func (c clock) firstSlot(e phase0.Epoch) phase0.Slot {
	return phase0.Slot(uint64(e) * c.slotsPerEpoch)
}

func (c clock) currentEpoch() phase0.Epoch { return c.epochOf(c.currentSlot()) }

// start is when slot s begins.
func (c clock) start(s phase0.Slot) time.Time {
	return c.genesis.Add(time.Duration(s) * c.slot)
}

// at is the time frac thirds into slot s (0, 1 or 2 thirds).
func (c clock) at(s phase0.Slot, thirds int) time.Time {
	return c.start(s).Add(time.Duration(thirds) * c.slot / 3)
}

// sleepUntil waits until t or the end of ctx, whichever is first.
func (c clock) sleepUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(c.now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
