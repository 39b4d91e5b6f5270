package beacon

import (
	"context"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Validators returns the validators with the given public keys as of a
// state ("head", "finalized", a slot, a root): index, status, balance.
// Keys the chain does not know are absent from the map. At least one key
// is required (without a filter, nodes would return the whole registry).
func (c *Client) Validators(ctx context.Context, state string, pubkeys []phase0.BLSPubKey) (map[phase0.BLSPubKey]*apiv1.Validator, error) {
	if !stateID.MatchString(state) {
		return nil, badRequest("state %q is not a state id", state)
	}
	if len(pubkeys) == 0 {
		return nil, badRequest("no public keys")
	}
	want := make(map[phase0.BLSPubKey]bool, len(pubkeys))
	for _, pk := range pubkeys {
		want[pk] = true
	}
	return read(ctx, c, "validators", func(ctx context.Context, s *ehttp.Service) (map[phase0.BLSPubKey]*apiv1.Validator, error) {
		resp, err := s.Validators(ctx, &api.ValidatorsOpts{State: state, PubKeys: pubkeys})
		if err != nil {
			return nil, err
		}
		return checkValidators(resp.Data, want)
	})
}

// checkValidators refuses validators that were not asked for, repeated
// keys or indices, and entries without their validator record.
func checkValidators(got map[phase0.ValidatorIndex]*apiv1.Validator, want map[phase0.BLSPubKey]bool) (map[phase0.BLSPubKey]*apiv1.Validator, error) {
	out := make(map[phase0.BLSPubKey]*apiv1.Validator, len(got))
	for index, v := range got {
		switch {
		case v == nil || v.Validator == nil:
			return nil, invalid("validator %d without its record", index)
		case v.Index != index:
			return nil, invalid("validator listed under index %d has index %d", index, v.Index)
		case !want[v.Validator.PublicKey]:
			return nil, invalid("validator %d (%#x) was not asked for", index, v.Validator.PublicKey)
		case out[v.Validator.PublicKey] != nil:
			return nil, invalid("public key %#x appears at two indices", v.Validator.PublicKey)
		}
		out[v.Validator.PublicKey] = v
	}
	return out, nil
}

// ValidatorLiveness reports which validators were seen active (attesting,
// proposing) in an epoch: doppelganger detection asks it for the last
// epochs before signing anything. Nodes answer only for the current and
// previous epoch.
func (c *Client) ValidatorLiveness(ctx context.Context, epoch phase0.Epoch, indices []phase0.ValidatorIndex) ([]*apiv1.ValidatorLiveness, error) {
	want, err := indexSet(indices)
	if err != nil {
		return nil, err
	}
	return read(ctx, c, "liveness", func(ctx context.Context, s *ehttp.Service) ([]*apiv1.ValidatorLiveness, error) {
		resp, err := s.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: epoch, Indices: indices})
		if err != nil {
			return nil, err
		}
		seen := map[phase0.ValidatorIndex]bool{}
		for _, l := range resp.Data {
			switch {
			case l == nil:
				return nil, invalid("null liveness entry")
			case !want[l.Index]:
				return nil, invalid("liveness of validator %d, which was not asked for", l.Index)
			case seen[l.Index]:
				return nil, invalid("liveness of validator %d given twice", l.Index)
			}
			seen[l.Index] = true
		}
		if len(seen) != len(want) {
			return nil, invalid("liveness of %d validators, asked for %d", len(seen), len(want))
		}
		return resp.Data, nil
	})
}

// indexSet checks a list of validator indices: not empty, no repeats.
func indexSet(indices []phase0.ValidatorIndex) (map[phase0.ValidatorIndex]bool, error) {
	if len(indices) == 0 {
		return nil, badRequest("no validator indices")
	}
	set := make(map[phase0.ValidatorIndex]bool, len(indices))
	for _, i := range indices {
		if set[i] {
			return nil, badRequest("validator index %d given twice", i)
		}
		set[i] = true
	}
	return set, nil
}
