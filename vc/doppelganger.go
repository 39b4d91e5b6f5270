package vc

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
)

// doppelganger holds every signature back until the validators were seen
// inactive for cfg.Doppelganger.Epochs whole epochs after the start epoch
// S: epochs S+1 to S+N. The start epoch is not watched, because a previous
// run of this client may have signed in it before a restart. Epoch e is
// checked half way through epoch e+1, as the previous epoch (beacon nodes
// answer liveness for the current and previous epoch only), so that
// attestations of its last slots have had time to be included. A check
// that fails (no beacon node, an error) is retried until the next epoch
// begins; after that the epoch cannot be checked any more and the watch
// is extended by one epoch, never shortened.
func (c *Client) doppelganger(ctx context.Context) error {
	if !c.cfg.Doppelganger.Enabled {
		c.log.Warn("doppelganger detection is disabled: signing at once; if another client signs for these validators outside this cluster they will be slashed")
		return nil
	}
	c.m.setDoppelganger(true)
	defer c.m.setDoppelganger(false)
	start := c.clock.currentEpoch()
	last := start + phase0.Epoch(c.cfg.Doppelganger.Epochs)
	c.setStatus(fmt.Sprintf("doppelganger detection: watching epochs %d to %d, signing from the middle of epoch %d", start+1, last, last+1))
	c.log.Info("doppelganger detection: signing nothing until the validators were seen inactive", "watch_from", uint64(start+1), "watch_to", uint64(last))
	for e := start + 1; e <= last; e++ {
		checkAt := c.clock.firstSlot(e+1) + phase0.Slot(c.clock.slotsPerEpoch/2)
		if err := c.sleep(ctx, c.clock.start(checkAt)); err != nil {
			return err
		}
		live, err := c.liveness(ctx, e)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last++
			hint := ""
			if errors.Is(err, beacon.ErrRejected) {
				hint = "beacon nodes answer liveness only up to the epoch of their head: on a chain that only these validators move (a fresh devnet) detection cannot complete, and must be disabled knowingly"
			}
			c.log.Warn("doppelganger check could not be made; watching one more epoch", "epoch", uint64(e), "err", err, "hint", hint)
			c.setStatus(fmt.Sprintf("doppelganger detection: epoch %d could not be checked; watching to epoch %d", e, last))
			continue
		}
		if len(live) > 0 {
			return &DoppelgangerError{Epoch: e, Validators: live}
		}
		c.log.Info("doppelganger check passed", "epoch", uint64(e))
	}
	return nil
}

// liveness asks which of our validators were live in epoch e, retrying
// until epoch e+2 begins (when the answer is no longer available).
func (c *Client) liveness(ctx context.Context, e phase0.Epoch) ([]phase0.ValidatorIndex, error) {
	deadline := c.clock.start(c.clock.firstSlot(e + 2))
	lastErr := fmt.Errorf("epoch %d can no longer be checked (beacon nodes answer for the current and previous epoch)", e)
	for c.clock.now().Before(deadline) {
		if err := c.refreshValidators(ctx); err != nil {
			lastErr = err
		} else {
			indices := c.validators.indices()
			if len(indices) == 0 {
				return nil, nil
			}
			got, err := c.bn.ValidatorLiveness(ctx, e, indices)
			if err == nil {
				var live []phase0.ValidatorIndex
				for _, l := range got {
					if l.IsLive {
						live = append(live, l.Index)
					}
				}
				sort.Slice(live, func(i, j int) bool { return live[i] < live[j] })
				return live, nil
			}
			lastErr = err
		}
		if err := c.sleep(ctx, c.clock.now().Add(c.clock.slot)); err != nil {
			return nil, err
		}
	}
	return nil, lastErr
}
