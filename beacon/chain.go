package beacon

import (
	"context"
	"maps"
	"regexp"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Genesis returns the chain's genesis, checked against the network.
func (c *Client) Genesis(ctx context.Context) (*apiv1.Genesis, error) {
	return read(ctx, c, "genesis", func(ctx context.Context, s *ehttp.Service) (*apiv1.Genesis, error) {
		resp, err := s.Genesis(ctx, &api.GenesisOpts{})
		if err != nil {
			return nil, err
		}
		g := resp.Data
		switch {
		case g == nil:
			return nil, invalid("no genesis")
		case g.GenesisValidatorsRoot != c.net.GenesisValidatorsRoot():
			return nil, invalid("genesis validators root %#x, want %#x", g.GenesisValidatorsRoot, c.net.GenesisValidatorsRoot())
		case g.GenesisForkVersion != c.net.GenesisForkVersion():
			return nil, invalid("genesis fork version %#x, want %#x", g.GenesisForkVersion, c.net.GenesisForkVersion())
		case !c.net.GenesisTime().IsZero() && !g.GenesisTime.Equal(c.net.GenesisTime()):
			return nil, invalid("genesis time %s, want %s", g.GenesisTime.UTC(), c.net.GenesisTime().UTC())
		}
		return g, nil
	})
}

// Spec returns the node's configuration (/eth/v1/config/spec) as
// go-eth2-client parses it: numbers as uint64, versions and domains as
// their types, durations for SECONDS_PER_*. The copy returned is the
// caller's. SLOTS_PER_EPOCH must be the network's.
func (c *Client) Spec(ctx context.Context) (map[string]any, error) {
	return read(ctx, c, "spec", func(ctx context.Context, s *ehttp.Service) (map[string]any, error) {
		resp, err := s.Spec(ctx, &api.SpecOpts{})
		if err != nil {
			return nil, err
		}
		spe, ok := resp.Data["SLOTS_PER_EPOCH"].(uint64)
		if !ok || spe != c.net.Preset().SlotsPerEpoch {
			return nil, invalid("SLOTS_PER_EPOCH %v, want %d", resp.Data["SLOTS_PER_EPOCH"], c.net.Preset().SlotsPerEpoch)
		}
		return maps.Clone(resp.Data), nil
	})
}

// ForkSchedule returns the node's fork schedule, which must be the
// network's.
func (c *Client) ForkSchedule(ctx context.Context) ([]*phase0.Fork, error) {
	return read(ctx, c, "fork_schedule", func(ctx context.Context, s *ehttp.Service) ([]*phase0.Fork, error) {
		resp, err := s.ForkSchedule(ctx, &api.ForkScheduleOpts{})
		if err != nil {
			return nil, err
		}
		if err := compareForks(c.net, resp.Data); err != nil {
			return nil, invalid("%v", err)
		}
		return resp.Data, nil
	})
}

// stateID matches the state and block identifiers of the beacon API:
// head, genesis, finalized, justified, a slot, or a 0x-prefixed root.
var stateID = regexp.MustCompile(`^(head|genesis|finalized|justified|[0-9]{1,20}|0x[0-9a-fA-F]{64})$`)

// Finality returns the finality checkpoints of a state ("head",
// "finalized", a slot, a state root).
func (c *Client) Finality(ctx context.Context, state string) (*apiv1.Finality, error) {
	if !stateID.MatchString(state) {
		return nil, badRequest("state %q is not a state id", state)
	}
	return read(ctx, c, "finality", func(ctx context.Context, s *ehttp.Service) (*apiv1.Finality, error) {
		resp, err := s.Finality(ctx, &api.FinalityOpts{State: state})
		if err != nil {
			return nil, err
		}
		f := resp.Data
		switch {
		case f == nil || f.Finalized == nil || f.Justified == nil || f.PreviousJustified == nil:
			return nil, invalid("finality checkpoints missing")
		case f.Finalized.Epoch > f.Justified.Epoch:
			return nil, invalid("finalized epoch %d is after justified epoch %d", f.Finalized.Epoch, f.Justified.Epoch)
		case f.PreviousJustified.Epoch > f.Justified.Epoch:
			return nil, invalid("previous justified epoch %d is after justified epoch %d", f.PreviousJustified.Epoch, f.Justified.Epoch)
		}
		return f, nil
	})
}

// BeaconBlockRoot returns the root of a block ("head", "finalized", a
// slot, a root); sync committee messages sign the head's. An
// execution-optimistic answer is not taken (the next node is asked): an
// optimistic validator must not sign sync committee messages (consensus
// specs, sync/optimistic.md).
func (c *Client) BeaconBlockRoot(ctx context.Context, block string) (phase0.Root, error) {
	if !stateID.MatchString(block) || block == "justified" {
		return phase0.Root{}, badRequest("block %q is not a block id", block)
	}
	return read(ctx, c, "block_root", func(ctx context.Context, s *ehttp.Service) (phase0.Root, error) {
		resp, err := s.BeaconBlockRoot(ctx, &api.BeaconBlockRootOpts{Block: block})
		if err != nil {
			return phase0.Root{}, err
		}
		if optimistic(resp.Metadata) {
			return phase0.Root{}, errOptimistic
		}
		if resp.Data == nil || *resp.Data == (phase0.Root{}) {
			return phase0.Root{}, invalid("zero block root")
		}
		return *resp.Data, nil
	})
}
