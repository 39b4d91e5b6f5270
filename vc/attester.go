package vc

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/OffchainLabs/go-bitfield"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
)

// attest performs the attester duties of slot s: attestation data per
// request committee index (one for the whole slot from Electra on), one
// batch signing request per data, and one publication of every attestation
// obtained. It returns the data asked, by request committee index, for the
// aggregators.
func (c *Client) attest(ctx context.Context, s phase0.Slot, duties []*apiv1.AttesterDuty, start time.Time) map[phase0.CommitteeIndex]*phase0.AttestationData {
	// A redundant instance reads the data when the first does, and asks
	// the signers a moment later (vc/adopt.go).
	signAt := c.clock.now().Add(c.attestationDelay())
	version := c.net.ForkAtEpoch(c.clock.epochOf(s)).Name
	groups := map[phase0.CommitteeIndex][]*apiv1.AttesterDuty{}
	for _, d := range duties {
		k := requestIndex(version, d.CommitteeIndex)
		groups[k] = append(groups[k], d)
	}
	keys := make([]phase0.CommitteeIndex, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })

	var mu sync.Mutex
	datas := map[phase0.CommitteeIndex]*phase0.AttestationData{}
	var atts []*spec.VersionedAttestation
	var wg sync.WaitGroup
	for _, k := range keys {
		group := groups[k]
		wg.Go(func() {
			got, err := c.bn.AttestationData(ctx, s, k)
			if err != nil {
				c.logFailure(dutyAttestation, s, "attestation data", err, "committee", uint64(k), "validators", len(group))
				return
			}
			data := got.Data
			mu.Lock()
			datas[k] = data
			mu.Unlock()
			if err := c.clock.sleepUntil(ctx, signAt); err != nil {
				return
			}
			pubkeys := keysOf(group, attesterKey)
			req := &signing.Request{Type: signing.TypeAttestation, ForkInfo: forkInfo(c.net, data.Target.Epoch), Attestation: data}
			sigs, errs := c.askBatch(ctx, pubkeys, req)
			used := make([]*phase0.AttestationData, len(group))
			for i := range used {
				used[i] = data
			}
			if alt, n := c.adopt(ctx, s, pubkeys, data, sigs, errs, used); 2*n > len(group) {
				// Most of the committee signed the other data: the
				// aggregators aggregate that one.
				mu.Lock()
				datas[k] = alt
				mu.Unlock()
			}
			c.outcomes(dutyAttestation, s, pubkeys, errs)
			var made []*spec.VersionedAttestation
			for i, d := range group {
				if errs[i] == nil {
					made = append(made, attestation(version, d, used[i], sigs[i]))
				}
			}
			mu.Lock()
			atts = append(atts, made...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(atts) > 0 {
		err := c.bn.SubmitAttestations(ctx, atts)
		c.m.publish(dutyAttestation, err, len(atts), start)
		if err != nil {
			c.logFailure(dutyAttestation, s, "publish", err, "attestations", len(atts))
		} else {
			c.log.Debug("attestations published", "slot", uint64(s), "attestations", len(atts), "of", len(duties), "took", time.Since(start).String())
		}
	}
	return datas
}

// attestation builds the attestation of one duty: before Electra a phase0
// attestation with the validator's bit in its committee; from Electra a
// single attestation (one bit, one committee bit, the attester's index).
func attestation(version spec.DataVersion, d *apiv1.AttesterDuty, data *phase0.AttestationData, sig phase0.BLSSignature) *spec.VersionedAttestation {
	bits := bitfield.NewBitlist(d.CommitteeLength)
	bits.SetBitAt(d.ValidatorCommitteeIndex, true)
	out := &spec.VersionedAttestation{Version: version}
	if version >= spec.DataVersionElectra {
		committees := bitfield.NewBitvector64()
		committees.SetBitAt(uint64(d.CommitteeIndex), true)
		a := &electra.Attestation{AggregationBits: bits, Data: data, Signature: sig, CommitteeBits: committees}
		index := d.ValidatorIndex
		out.ValidatorIndex = &index
		if version == spec.DataVersionFulu {
			out.Fulu = a
		} else {
			out.Electra = a
		}
		return out
	}
	a := &phase0.Attestation{AggregationBits: bits, Data: data, Signature: sig}
	switch version {
	case spec.DataVersionPhase0:
		out.Phase0 = a
	case spec.DataVersionAltair:
		out.Altair = a
	case spec.DataVersionBellatrix:
		out.Bellatrix = a
	case spec.DataVersionCapella:
		out.Capella = a
	case spec.DataVersionDeneb:
		out.Deneb = a
	}
	return out
}
