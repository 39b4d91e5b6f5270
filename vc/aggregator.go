package vc

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sort"
	"sync"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
)

// targetAggregatorsPerCommittee is TARGET_AGGREGATORS_PER_COMMITTEE of the
// phase0 validator specification.
const targetAggregatorsPerCommittee = 16

// isAggregator is is_aggregator of the phase0 validator specification: the
// selection proof, hashed, selects about 16 aggregators per committee.
func isAggregator(committeeLength uint64, proof phase0.BLSSignature) bool {
	return selected(proof, max(1, committeeLength/targetAggregatorsPerCommittee))
}

// selected reports whether bytes_to_uint64(hash(proof)[0:8]) % modulo == 0.
func selected(proof phase0.BLSSignature, modulo uint64) bool {
	h := sha256.Sum256(proof[:])
	return binary.LittleEndian.Uint64(h[:8])%modulo == 0
}

// selectionProofs signs the aggregation selection proofs (AGGREGATION_SLOT)
// the duties lack: one batch per slot, the request being the same for
// every validator of the slot.
func (c *Client) selectionProofs(ctx context.Context, duties []*apiv1.AttesterDuty) {
	bySlot := map[phase0.Slot][]*apiv1.AttesterDuty{}
	c.duties.mu.Lock()
	for _, d := range duties {
		if _, ok := c.duties.selection[d.Slot][d.ValidatorIndex]; !ok {
			bySlot[d.Slot] = append(bySlot[d.Slot], d)
		}
	}
	c.duties.mu.Unlock()
	slots := make([]phase0.Slot, 0, len(bySlot))
	for s := range bySlot {
		slots = append(slots, s)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
	for _, s := range slots {
		if s < c.clock.currentSlot() {
			continue // too late to aggregate
		}
		ds := bySlot[s]
		keys := keysOf(ds, attesterKey)
		req := &signing.Request{Type: signing.TypeAggregationSlot, ForkInfo: forkInfo(c.net, c.clock.epochOf(s)), AggregationSlot: &signing.AggregationSlot{Slot: s}}
		sigs, errs := c.signBatch(ctx, dutyAggregateProof, s, keys, req)
		c.duties.mu.Lock()
		m := c.duties.selection[s]
		if m == nil {
			m = map[phase0.ValidatorIndex]phase0.BLSSignature{}
			c.duties.selection[s] = m
		}
		for i, d := range ds {
			if errs[i] == nil {
				m[d.ValidatorIndex] = sigs[i]
			}
		}
		c.duties.mu.Unlock()
	}
}

// aggregatorOf returns the selection proof of an attester duty if it makes
// the validator an aggregator.
func (c *Client) aggregatorOf(d *apiv1.AttesterDuty) (phase0.BLSSignature, bool) {
	c.duties.mu.Lock()
	proof, ok := c.duties.selection[d.Slot][d.ValidatorIndex]
	c.duties.mu.Unlock()
	return proof, ok && isAggregator(d.CommitteeLength, proof)
}

// subscribeCommittees asks the beacon nodes to join the subnets of the
// duties still to come, as aggregators where selected.
func (c *Client) subscribeCommittees(ctx context.Context, duties []*apiv1.AttesterDuty) {
	now := c.clock.currentSlot()
	var subs []*apiv1.BeaconCommitteeSubscription
	for _, d := range duties {
		if d.Slot < now {
			continue
		}
		_, agg := c.aggregatorOf(d)
		subs = append(subs, &apiv1.BeaconCommitteeSubscription{
			ValidatorIndex: d.ValidatorIndex, Slot: d.Slot, CommitteeIndex: d.CommitteeIndex,
			CommitteesAtSlot: d.CommitteesAtSlot, IsAggregator: agg,
		})
	}
	if len(subs) == 0 {
		return
	}
	if err := c.bn.SubmitBeaconCommitteeSubscriptions(ctx, subs); err != nil && ctx.Err() == nil {
		c.log.Warn("committee subscriptions failed", "err", err)
	}
}

// aggregate publishes the aggregates of slot s for the selected
// aggregators, two thirds into the slot. data holds the attestation data
// signed at this slot by request committee index (0 from Electra on);
// missing data is asked again.
func (c *Client) aggregate(ctx context.Context, s phase0.Slot, duties []*apiv1.AttesterDuty, data map[phase0.CommitteeIndex]*phase0.AttestationData) {
	type job struct {
		duty  *apiv1.AttesterDuty
		proof phase0.BLSSignature
	}
	var jobs []job
	for _, d := range duties {
		if proof, ok := c.aggregatorOf(d); ok {
			jobs = append(jobs, job{d, proof})
		}
	}
	if len(jobs) == 0 {
		return
	}
	start := time.Now()
	version := c.net.ForkAtEpoch(c.clock.epochOf(s)).Name
	// The node's aggregate is asked once per committee, whatever the
	// number of this client's aggregators in it: every aggregator of a
	// committee publishes the same one.
	var committees []phase0.CommitteeIndex
	for _, j := range jobs {
		if !slices.Contains(committees, j.duty.CommitteeIndex) {
			committees = append(committees, j.duty.CommitteeIndex)
		}
	}
	// Attestation data this slot's attestations did not get is asked once
	// per request index (one for every committee from Electra on).
	var missing []phase0.CommitteeIndex
	for _, committee := range committees {
		if key := requestIndex(version, committee); data[key] == nil && !slices.Contains(missing, key) {
			missing = append(missing, key)
		}
	}
	var mu sync.Mutex
	forEach(len(missing), concurrentSigns, func(i int) {
		got, err := c.bn.AttestationData(ctx, s, missing[i])
		if err != nil {
			c.logFailure(dutyAggregate, s, "attestation data", err)
			return
		}
		mu.Lock()
		data[missing[i]] = got.Data
		mu.Unlock()
	})
	aggregates := map[phase0.CommitteeIndex]*spec.VersionedAttestation{}
	forEach(len(committees), concurrentSigns, func(i int) {
		committee := committees[i]
		ad := data[requestIndex(version, committee)] // written before forEach returned
		if ad == nil {
			return // asked above and failed, logged
		}
		root, err := ad.HashTreeRoot()
		if err != nil {
			c.logFailure(dutyAggregate, s, "data root", err)
			return
		}
		agg, err := c.bn.AggregateAttestation(ctx, s, root, committee)
		if err != nil {
			c.logFailure(dutyAggregate, s, "aggregate", err, "committee", uint64(committee))
			return
		}
		mu.Lock()
		aggregates[committee] = agg
		mu.Unlock()
	})
	var out []*spec.VersionedSignedAggregateAndProof
	forEach(len(jobs), concurrentSigns, func(i int) {
		j := jobs[i]
		agg := aggregates[j.duty.CommitteeIndex] // written before forEach returned
		if agg == nil {
			return // its committee's aggregate failed, logged above
		}
		signed, err := c.signAggregate(ctx, s, version, j.duty, j.proof, agg)
		if err != nil {
			return
		}
		mu.Lock()
		out = append(out, signed)
		mu.Unlock()
	})
	if len(out) == 0 {
		return
	}
	err := c.bn.SubmitAggregateAttestations(ctx, out)
	c.m.publish(dutyAggregate, err, len(out), start)
	if err != nil {
		c.logFailure(dutyAggregate, s, "publish", err)
	}
}

// signAggregate signs one aggregate and proof (AGGREGATE_AND_PROOF_V2).
func (c *Client) signAggregate(ctx context.Context, s phase0.Slot, version spec.DataVersion, d *apiv1.AttesterDuty, proof phase0.BLSSignature, agg *spec.VersionedAttestation) (*spec.VersionedSignedAggregateAndProof, error) {
	ap := &signing.AggregateAndProof{Version: version}
	if version >= spec.DataVersionElectra {
		a := agg.Electra
		if version == spec.DataVersionFulu {
			a = agg.Fulu
		}
		ap.Electra = &electra.AggregateAndProof{AggregatorIndex: d.ValidatorIndex, Aggregate: a, SelectionProof: proof}
	} else {
		ap.Phase0 = &phase0.AggregateAndProof{AggregatorIndex: d.ValidatorIndex, Aggregate: phase0Attestation(agg), SelectionProof: proof}
	}
	req := &signing.Request{Type: signing.TypeAggregateAndProofV2, ForkInfo: forkInfo(c.net, c.clock.epochOf(s)), AggregateAndProof: ap}
	sig, err := c.signOne(ctx, dutyAggregate, s, d.PubKey, req)
	if err != nil {
		return nil, err
	}
	out := &spec.VersionedSignedAggregateAndProof{Version: version}
	switch version {
	case spec.DataVersionPhase0:
		out.Phase0 = &phase0.SignedAggregateAndProof{Message: ap.Phase0, Signature: sig}
	case spec.DataVersionAltair:
		out.Altair = &phase0.SignedAggregateAndProof{Message: ap.Phase0, Signature: sig}
	case spec.DataVersionBellatrix:
		out.Bellatrix = &phase0.SignedAggregateAndProof{Message: ap.Phase0, Signature: sig}
	case spec.DataVersionCapella:
		out.Capella = &phase0.SignedAggregateAndProof{Message: ap.Phase0, Signature: sig}
	case spec.DataVersionDeneb:
		out.Deneb = &phase0.SignedAggregateAndProof{Message: ap.Phase0, Signature: sig}
	case spec.DataVersionElectra:
		out.Electra = &electra.SignedAggregateAndProof{Message: ap.Electra, Signature: sig}
	case spec.DataVersionFulu:
		out.Fulu = &electra.SignedAggregateAndProof{Message: ap.Electra, Signature: sig}
	}
	return out, nil
}

// phase0Attestation returns the phase0-shaped attestation of a versioned
// one of a fork before Electra.
func phase0Attestation(a *spec.VersionedAttestation) *phase0.Attestation {
	switch a.Version {
	case spec.DataVersionPhase0:
		return a.Phase0
	case spec.DataVersionAltair:
		return a.Altair
	case spec.DataVersionBellatrix:
		return a.Bellatrix
	case spec.DataVersionCapella:
		return a.Capella
	case spec.DataVersionDeneb:
		return a.Deneb
	}
	return nil
}

// requestIndex is the committee index attestation data is asked for:
// the committee's before Electra, 0 from Electra on (EIP-7549 moved the
// committee out of the signed data).
func requestIndex(version spec.DataVersion, committee phase0.CommitteeIndex) phase0.CommitteeIndex {
	if version >= spec.DataVersionElectra {
		return 0
	}
	return committee
}
