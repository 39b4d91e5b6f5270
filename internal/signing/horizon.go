package signing

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// ErrFuture: a block's slot, an attestation's target epoch or an aggregate's
// attestation data lies after the signer's horizon, the current epoch of
// the network's wall clock plus a small allowance (HTTP 400). Nothing an
// honest validator signs is that far ahead, and one such attestation or
// block, once recorded by slashing protection, would refuse every honest
// message after it. Errors matching it match ErrInvalidRequest too.
var ErrFuture = errors.New("beyond the current epoch plus the allowance")

// ErrUnknownGenesis: the network's genesis time is unknown, so the current
// epoch, and with it the horizon, cannot be known.
var ErrUnknownGenesis = errors.New("the network's genesis time is unknown")

// Horizon is the last epoch a signer signs for at one moment: Current, the
// latest epoch that can be in progress on the network's wall clock
// ([network.Network.LatestEpochAt], counted from the earliest possible
// genesis so that an uncertain genesis only loosens it), plus Allowance
// epochs for clocks that run ahead.
type Horizon struct {
	Current   phase0.Epoch
	Allowance uint64
}

// HorizonAt returns network n's horizon at now.
func HorizonAt(n *network.Network, now time.Time, allowance uint64) (Horizon, error) {
	current, ok := n.LatestEpochAt(now)
	if !ok {
		return Horizon{}, fmt.Errorf("%w (network %s)", ErrUnknownGenesis, n.Name())
	}
	return Horizon{Current: current, Allowance: allowance}, nil
}

// Last is the last epoch allowed: Current + Allowance, saturating.
func (h Horizon) Last() phase0.Epoch {
	if uint64(h.Current) > math.MaxUint64-h.Allowance {
		return math.MaxUint64
	}
	return h.Current + phase0.Epoch(h.Allowance)
}

// String says how Last is made, for error messages.
func (h Horizon) String() string {
	unit := "epochs"
	if h.Allowance == 1 {
		unit = "epoch"
	}
	return fmt.Sprintf("current epoch %d + %d %s allowed ahead", h.Current, h.Allowance, unit)
}

// CheckFuture refuses a request whose slashable content lies after the
// horizon of network n at now (see [HorizonAt]), and an attestation whose
// source is after its target:
//
//   - BLOCK and BLOCK_V2: the block's slot must be in an epoch no later
//     than the horizon's last;
//   - ATTESTATION: the target epoch must be no later, and the source epoch
//     not after the target;
//   - AGGREGATE_AND_PROOF and AGGREGATE_AND_PROOF_V2: the same for the
//     aggregate's attestation data (its slot, target and source). Slashing
//     protection does not record aggregates, so they cannot poison it, but
//     no honest aggregator signs one for the future either, and the rule
//     is the same as for the attestation inside.
//
// Other types are not bounded: a voluntary exit may legitimately be signed
// for a future epoch, and RANDAO reveals, selection proofs and sync
// committee messages are neither recorded nor slashable.
//
// The error matches [ErrFuture] (or, for the source, [ErrInvalidRequest]
// only) and names the field, its value, the current epoch and the allowance.
// A signer calls it at every step that decides, with its own clock: each
// participant, and the coordinator so that it fails fast.
func (r *Request) CheckFuture(n *network.Network, now time.Time, allowance uint64) error {
	if err := r.checkSourceTarget(); err != nil {
		return err
	}
	switch r.Type {
	case TypeBlock, TypeBlockV2, TypeAttestation, TypeAggregateAndProof, TypeAggregateAndProofV2:
	default:
		return nil
	}
	h, err := HorizonAt(n, now, allowance)
	if err != nil {
		return fmt.Errorf("%w: %w: cannot bound %s requests by the clock", ErrInvalidRequest, err, r.Type)
	}
	return r.CheckHorizon(n, h)
}

// CheckHorizon is CheckFuture against a given horizon.
func (r *Request) CheckHorizon(n *network.Network, h Horizon) error {
	if err := r.checkSourceTarget(); err != nil {
		return err
	}
	last := h.Last()
	slot := func(field string, s phase0.Slot) error {
		if e := n.EpochAtSlot(s); e > last {
			return fmt.Errorf("%w: %w: %s %d is in epoch %d, after epoch %d, the last this signer signs for now (%v)", ErrInvalidRequest, ErrFuture, field, s, e, last, h)
		}
		return nil
	}
	epoch := func(field string, e phase0.Epoch) error {
		if e > last {
			return fmt.Errorf("%w: %w: %s %d is after epoch %d, the last this signer signs for now (%v)", ErrInvalidRequest, ErrFuture, field, e, last, h)
		}
		return nil
	}
	switch r.Type {
	case TypeBlock, TypeBlockV2:
		if r.Block == nil {
			return nil
		}
		return slot(r.blockSlotField(), r.Block.Slot())
	case TypeAttestation:
		if r.Attestation == nil || r.Attestation.Target == nil {
			return nil
		}
		return epoch("attestation.target.epoch", r.Attestation.Target.Epoch)
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		data, prefix := r.aggregateData()
		if data == nil {
			return nil
		}
		if err := slot(prefix+".slot", data.Slot); err != nil {
			return err
		}
		if data.Target != nil {
			return epoch(prefix+".target.epoch", data.Target.Epoch)
		}
	}
	return nil
}

// checkSourceTarget refuses attestation data whose source epoch is after
// its target epoch: no valid attestation has that shape, and slashing
// protection would only refuse it later, with a less helpful status.
func (r *Request) checkSourceTarget() error {
	var data *phase0.AttestationData
	field := "attestation"
	switch r.Type {
	case TypeAttestation:
		data = r.Attestation
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		data, field = r.aggregateData()
	}
	if data == nil || data.Source == nil || data.Target == nil || data.Source.Epoch <= data.Target.Epoch {
		return nil
	}
	return fmt.Errorf("%w: %s.source.epoch %d is after %s.target.epoch %d; no valid attestation has a source after its target",
		ErrInvalidRequest, field, data.Source.Epoch, field, data.Target.Epoch)
}

// blockSlotField is the path of a block request's slot.
func (r *Request) blockSlotField() string {
	switch {
	case r.Type == TypeBlock:
		return "block.slot"
	case r.Block.Header != nil:
		return "beacon_block.block_header.slot"
	}
	return "beacon_block.block.slot"
}

// aggregateData returns an aggregate's attestation data and its path.
func (r *Request) aggregateData() (*phase0.AttestationData, string) {
	a := r.AggregateAndProof
	prefix := "aggregate_and_proof"
	if r.Type == TypeAggregateAndProofV2 {
		prefix += ".data"
	}
	prefix += ".aggregate.data"
	switch {
	case a == nil:
	case a.Phase0 != nil && a.Phase0.Aggregate != nil:
		return a.Phase0.Aggregate.Data, prefix
	case a.Electra != nil && a.Electra.Aggregate != nil:
		return a.Electra.Aggregate.Data, prefix
	}
	return nil, prefix
}
