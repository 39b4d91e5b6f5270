package vc

import (
	"context"
	"sort"
	"sync"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// targetAggregatorsPerSyncSubcommittee is
// TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE of the Altair validator
// specification.
const targetAggregatorsPerSyncSubcommittee = 16

// isSyncAggregator is is_sync_committee_aggregator of the Altair validator
// specification.
func isSyncAggregator(p network.Preset, proof phase0.BLSSignature) bool {
	return selected(proof, max(1, p.SyncCommitteeSize/network.SyncCommitteeSubnetCount/targetAggregatorsPerSyncSubcommittee))
}

// subcommittees returns the distinct sync subcommittees of a member's
// positions in the committee.
func subcommittees(p network.Preset, d *apiv1.SyncCommitteeDuty) []uint64 {
	size := p.SyncCommitteeSize / network.SyncCommitteeSubnetCount
	seen := map[uint64]bool{}
	var out []uint64
	for _, pos := range d.ValidatorSyncCommitteeIndices {
		sub := uint64(pos) / size
		if !seen[sub] {
			seen[sub] = true
			out = append(out, sub)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// syncAggregator is one member selected to aggregate a subcommittee.
type syncAggregator struct {
	duty         *apiv1.SyncCommitteeDuty
	subcommittee uint64
	proof        phase0.BLSSignature
}

// syncSelections signs the selection proofs of slot s for every member and
// subcommittee it sits in, one batch per subcommittee (the request is the
// same for all its members), and returns the selected aggregators. With
// the mainnet preset's 512 seats these are most of a slot's signatures.
func (c *Client) syncSelections(ctx context.Context, s phase0.Slot, duties []*apiv1.SyncCommitteeDuty) []syncAggregator {
	p := c.net.Preset()
	bySub := map[uint64][]*apiv1.SyncCommitteeDuty{}
	for _, d := range duties {
		for _, sub := range subcommittees(p, d) {
			bySub[sub] = append(bySub[sub], d)
		}
	}
	var mu sync.Mutex
	var out []syncAggregator
	var wg sync.WaitGroup
	for sub, members := range bySub {
		wg.Go(func() {
			keys := keysOf(members, syncMemberKey)
			req := &signing.Request{
				Type: signing.TypeSyncCommitteeSelectionProof, ForkInfo: forkInfo(c.net, c.clock.epochOf(s)),
				SyncAggregatorSelectionData: &altair.SyncAggregatorSelectionData{Slot: s, SubcommitteeIndex: sub},
			}
			sigs, errs := c.signBatch(ctx, dutySyncSelection, s, keys, req)
			mu.Lock()
			defer mu.Unlock()
			for i, d := range members {
				if errs[i] == nil && isSyncAggregator(p, sigs[i]) {
					out = append(out, syncAggregator{duty: d, subcommittee: sub, proof: sigs[i]})
				}
			}
		})
	}
	wg.Wait()
	return out
}

// syncMessages signs the head block root for every member (one batch) and
// publishes the messages. It returns the root signed, for the
// contributions, and false if none was.
//
// The root is the beacon_block_root of the slot's attestation data, which
// every healthy node is asked for and the most advanced node's answer
// wins (beacon.Client.AttestationData), not the head of the first node
// alone: a node that has not yet imported the slot's block would name its
// parent, and a network keeps only the first message of a validator for a
// slot, so a redundant instance reading a lagging node would make every
// member's message count for the wrong block.
func (c *Client) syncMessages(ctx context.Context, s phase0.Slot, duties []*apiv1.SyncCommitteeDuty, start time.Time) (phase0.Root, bool) {
	ad, err := c.bn.AttestationData(ctx, s, 0)
	if err != nil {
		c.logFailure(dutySyncMessage, s, "head block root", err)
		return phase0.Root{}, false
	}
	root := ad.Data.BeaconBlockRoot
	keys := keysOf(duties, syncMemberKey)
	req := &signing.Request{
		Type: signing.TypeSyncCommitteeMessage, ForkInfo: forkInfo(c.net, c.clock.epochOf(s)),
		SyncCommitteeMessage: &signing.SyncCommitteeMessage{BeaconBlockRoot: root, Slot: s},
	}
	sigs, errs := c.signBatch(ctx, dutySyncMessage, s, keys, req)
	var msgs []*altair.SyncCommitteeMessage
	for i, d := range duties {
		if errs[i] == nil {
			msgs = append(msgs, &altair.SyncCommitteeMessage{Slot: s, BeaconBlockRoot: root, ValidatorIndex: d.ValidatorIndex, Signature: sigs[i]})
		}
	}
	if len(msgs) == 0 {
		return root, true
	}
	err = c.bn.SubmitSyncCommitteeMessages(ctx, msgs)
	c.m.publish(dutySyncMessage, err, len(msgs), start)
	if err != nil {
		c.logFailure(dutySyncMessage, s, "publish", err)
	}
	return root, true
}

// contribute publishes the contributions of the selected sync aggregators
// for the root the members signed, two thirds into the slot.
func (c *Client) contribute(ctx context.Context, s phase0.Slot, aggs []syncAggregator, root phase0.Root) {
	if len(aggs) == 0 {
		return
	}
	start := time.Now()
	var mu sync.Mutex
	contributions := map[uint64]*altair.SyncCommitteeContribution{}
	var out []*altair.SignedContributionAndProof
	forEach(len(aggs), concurrentSigns, func(i int) {
		a := aggs[i]
		mu.Lock()
		sc := contributions[a.subcommittee]
		mu.Unlock()
		if sc == nil {
			got, err := c.bn.SyncCommitteeContribution(ctx, s, a.subcommittee, root)
			if err != nil {
				c.logFailure(dutyContribution, s, "contribution", err, "subcommittee", a.subcommittee)
				return
			}
			sc = got
			mu.Lock()
			contributions[a.subcommittee] = sc
			mu.Unlock()
		}
		if sc.AggregationBits.Count() == 0 {
			// The node has no message of this subcommittee for the root
			// (not even ours): nothing to aggregate, nothing to sign.
			c.log.Debug("no sync committee messages to aggregate", "slot", uint64(s), "subcommittee", a.subcommittee)
			return
		}
		cp := &altair.ContributionAndProof{AggregatorIndex: a.duty.ValidatorIndex, Contribution: sc, SelectionProof: a.proof}
		sig, err := c.signOne(ctx, dutyContribution, s, a.duty.PubKey, &signing.Request{
			Type: signing.TypeSyncCommitteeContributionAndProof, ForkInfo: forkInfo(c.net, c.clock.epochOf(s)), ContributionAndProof: cp,
		})
		if err != nil {
			return
		}
		mu.Lock()
		out = append(out, &altair.SignedContributionAndProof{Message: cp, Signature: sig})
		mu.Unlock()
	})
	if len(out) == 0 {
		return
	}
	err := c.bn.SubmitSyncCommitteeContributions(ctx, out)
	c.m.publish(dutyContribution, err, len(out), start)
	if err != nil {
		c.logFailure(dutyContribution, s, "publish", err)
	}
}

// subscribeSync asks the beacon nodes to join the sync committee subnets
// of the members of the period of epoch e, until that period ends.
func (c *Client) subscribeSync(ctx context.Context, e phase0.Epoch) {
	p := c.period(e)
	c.duties.mu.Lock()
	duties := c.duties.sync[p]
	c.duties.mu.Unlock()
	if len(duties) == 0 {
		return
	}
	until := phase0.Epoch((p + 1) * c.net.Preset().EpochsPerSyncCommitteePeriod)
	subs := make([]*apiv1.SyncCommitteeSubscription, len(duties))
	for i, d := range duties {
		subs[i] = &apiv1.SyncCommitteeSubscription{ValidatorIndex: d.ValidatorIndex, SyncCommitteeIndices: d.ValidatorSyncCommitteeIndices, UntilEpoch: until}
	}
	if err := c.bn.SubmitSyncCommitteeSubscriptions(ctx, subs); err != nil && ctx.Err() == nil {
		c.log.Warn("sync committee subscriptions failed", "period", p, "err", err)
	}
}
