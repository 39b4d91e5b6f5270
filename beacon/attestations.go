package beacon

import (
	"context"
	"fmt"

	"github.com/attestantio/go-eth2-client/api"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// AggregateAttestation returns the node's best aggregate of the
// attestations with data root dataRoot at slot, for committee (v2 endpoint:
// the committee selects the aggregate from Electra on). The answer is
// refused unless it is of the slot's fork, its data hashes to dataRoot, it
// is for that committee and at least one attester is in it.
func (c *Client) AggregateAttestation(ctx context.Context, slot phase0.Slot, dataRoot phase0.Root, committee phase0.CommitteeIndex) (*spec.VersionedAttestation, error) {
	if dataRoot == (phase0.Root{}) {
		return nil, badRequest("zero attestation data root")
	}
	return read(ctx, c, "aggregate_attestation", func(ctx context.Context, s *ehttp.Service) (*spec.VersionedAttestation, error) {
		resp, err := s.AggregateAttestation(ctx, &api.AggregateAttestationOpts{Slot: slot, AttestationDataRoot: dataRoot, CommitteeIndex: committee})
		if err != nil {
			return nil, err
		}
		a := resp.Data
		if a == nil || a.IsEmpty() {
			return nil, invalid("no aggregate")
		}
		if err := c.checkFork(a.Version, slot); err != nil {
			return nil, invalid("aggregate: %v", err)
		}
		data, err := a.Data()
		if err != nil || data == nil {
			return nil, invalid("aggregate without data")
		}
		root, err := data.HashTreeRoot()
		if err != nil || root != dataRoot {
			return nil, invalid("aggregate data root %#x, asked for %#x", root, dataRoot)
		}
		if data.Slot != slot {
			return nil, invalid("aggregate for slot %d, asked for %d", data.Slot, slot)
		}
		if got, err := a.CommitteeIndex(); err != nil || got != committee {
			return nil, invalid("aggregate is not for committee %d alone", committee)
		}
		if bits, err := a.AggregationBits(); err != nil || bits.Count() == 0 {
			return nil, invalid("aggregate without attesters")
		}
		return a, nil
	})
}

// SubmitAttestations publishes attestations to every node (v2 endpoint).
// They must all be of one fork, the fork of their slot. From Electra on,
// each must be a single attestation (one attester, one committee, with
// ValidatorIndex set): the endpoint takes SingleAttestation objects, and
// go-eth2-client would silently drop one it cannot convert.
func (c *Client) SubmitAttestations(ctx context.Context, atts []*spec.VersionedAttestation) error {
	if len(atts) == 0 {
		return badRequest("no attestations")
	}
	for i, a := range atts {
		if err := c.checkAttestation(a, atts[0].Version); err != nil {
			return badRequest("attestation %d: %v", i, err)
		}
	}
	return broadcast(ctx, c, "submit_attestations", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: atts})
	})
}

// checkAttestation checks one attestation to submit.
func (c *Client) checkAttestation(a *spec.VersionedAttestation, version spec.DataVersion) error {
	if a == nil || a.IsEmpty() {
		return fmt.Errorf("empty")
	}
	if a.Version != version {
		return fmt.Errorf("fork %s differs from the first attestation's %s", a.Version, version)
	}
	data, err := a.Data()
	if err != nil || data == nil || data.Source == nil || data.Target == nil {
		return fmt.Errorf("no data")
	}
	if err := c.checkFork(a.Version, data.Slot); err != nil {
		return err
	}
	bits, err := a.AggregationBits()
	if err != nil || bits.Count() == 0 {
		return fmt.Errorf("no aggregation bit set")
	}
	if sig, err := a.Signature(); err != nil || sig == (phase0.BLSSignature{}) {
		return fmt.Errorf("no signature")
	}
	if a.Version < spec.DataVersionElectra {
		return nil
	}
	switch {
	case a.ValidatorIndex == nil:
		return fmt.Errorf("ValidatorIndex is not set")
	case bits.Count() != 1:
		return fmt.Errorf("%d aggregation bits set, a single attestation has one", bits.Count())
	}
	if _, err := a.CommitteeIndex(); err != nil {
		return fmt.Errorf("not for exactly one committee: %v", err)
	}
	return nil
}

// SubmitAggregateAttestations publishes signed aggregate-and-proofs to
// every node (v2 endpoint, AGGREGATE_AND_PROOF_V2 from Electra on). They
// must all be of one fork, the fork of their slot.
func (c *Client) SubmitAggregateAttestations(ctx context.Context, aggs []*spec.VersionedSignedAggregateAndProof) error {
	if len(aggs) == 0 {
		return badRequest("no aggregates")
	}
	for i, a := range aggs {
		if a == nil || a.IsEmpty() {
			return badRequest("aggregate %d: empty", i)
		}
		if a.Version != aggs[0].Version {
			return badRequest("aggregate %d: fork %s differs from the first aggregate's %s", i, a.Version, aggs[0].Version)
		}
		slot, err := a.Slot()
		if err != nil {
			return badRequest("aggregate %d: %v", i, err)
		}
		if err := c.checkFork(a.Version, slot); err != nil {
			return badRequest("aggregate %d: %v", i, err)
		}
	}
	return broadcast(ctx, c, "submit_aggregates", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitAggregateAttestations(ctx, &api.SubmitAggregateAttestationsOpts{SignedAggregateAndProofs: aggs})
	})
}
