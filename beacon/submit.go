package beacon

import (
	"context"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// SyncCommitteeContribution returns the node's aggregate of the sync
// committee messages for blockRoot at slot in one subcommittee. The
// answer is refused unless it is for exactly that slot, subcommittee and
// root, with aggregation bits of the subcommittee's size.
func (c *Client) SyncCommitteeContribution(ctx context.Context, slot phase0.Slot, subcommittee uint64, blockRoot phase0.Root) (*altair.SyncCommitteeContribution, error) {
	if subcommittee >= network.SyncCommitteeSubnetCount {
		return nil, badRequest("subcommittee %d of %d", subcommittee, network.SyncCommitteeSubnetCount)
	}
	if blockRoot == (phase0.Root{}) {
		return nil, badRequest("zero block root")
	}
	bits := c.net.Preset().SyncCommitteeSize / network.SyncCommitteeSubnetCount
	return read(ctx, c, "sync_contribution", func(ctx context.Context, s *ehttp.Service) (*altair.SyncCommitteeContribution, error) {
		resp, err := s.SyncCommitteeContribution(ctx, &api.SyncCommitteeContributionOpts{Slot: slot, SubcommitteeIndex: subcommittee, BeaconBlockRoot: blockRoot})
		if err != nil {
			return nil, err
		}
		sc := resp.Data
		switch {
		case sc == nil:
			return nil, invalid("no contribution")
		case sc.Slot != slot || sc.SubcommitteeIndex != subcommittee || sc.BeaconBlockRoot != blockRoot:
			return nil, invalid("contribution for slot %d, subcommittee %d, root %#x; asked for %d, %d, %#x",
				sc.Slot, sc.SubcommitteeIndex, sc.BeaconBlockRoot, slot, subcommittee, blockRoot)
		case sc.AggregationBits.Len() != bits:
			return nil, invalid("contribution has %d aggregation bits, want %d", sc.AggregationBits.Len(), bits)
		}
		return sc, nil
	})
}

// SubmitSyncCommitteeMessages publishes sync committee messages to every
// node.
func (c *Client) SubmitSyncCommitteeMessages(ctx context.Context, msgs []*altair.SyncCommitteeMessage) error {
	if len(msgs) == 0 {
		return badRequest("no sync committee messages")
	}
	for i, m := range msgs {
		if m == nil || m.BeaconBlockRoot == (phase0.Root{}) {
			return badRequest("sync committee message %d: empty or without a block root", i)
		}
	}
	return broadcast(ctx, c, "submit_sync_messages", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitSyncCommitteeMessages(ctx, msgs)
	})
}

// SubmitSyncCommitteeContributions publishes signed contribution-and-proofs
// to every node.
func (c *Client) SubmitSyncCommitteeContributions(ctx context.Context, cs []*altair.SignedContributionAndProof) error {
	if len(cs) == 0 {
		return badRequest("no contributions")
	}
	for i, sc := range cs {
		if sc == nil || sc.Message == nil || sc.Message.Contribution == nil {
			return badRequest("contribution %d: incomplete", i)
		}
	}
	return broadcast(ctx, c, "submit_sync_contributions", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitSyncCommitteeContributions(ctx, cs)
	})
}

// SubmitSyncCommitteeSubscriptions asks every node to join the sync
// committee subnets of the given validators.
func (c *Client) SubmitSyncCommitteeSubscriptions(ctx context.Context, subs []*apiv1.SyncCommitteeSubscription) error {
	if len(subs) == 0 {
		return badRequest("no subscriptions")
	}
	for i, s := range subs {
		if s == nil || len(s.SyncCommitteeIndices) == 0 {
			return badRequest("sync committee subscription %d: empty", i)
		}
	}
	return broadcast(ctx, c, "submit_sync_subscriptions", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitSyncCommitteeSubscriptions(ctx, subs)
	})
}

// SubmitBeaconCommitteeSubscriptions asks every node to join the attestation
// subnets of upcoming duties (and to aggregate where IsAggregator is set).
func (c *Client) SubmitBeaconCommitteeSubscriptions(ctx context.Context, subs []*apiv1.BeaconCommitteeSubscription) error {
	if len(subs) == 0 {
		return badRequest("no subscriptions")
	}
	for i, s := range subs {
		if s == nil || s.CommitteesAtSlot == 0 || uint64(s.CommitteeIndex) >= s.CommitteesAtSlot {
			return badRequest("beacon committee subscription %d: empty or committee index beyond the slot's committees", i)
		}
	}
	return broadcast(ctx, c, "submit_committee_subscriptions", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitBeaconCommitteeSubscriptions(ctx, subs)
	})
}

// SubmitValidatorRegistrations sends signed builder registrations (fee
// recipient, gas limit) to every node, which passes them to its builders.
func (c *Client) SubmitValidatorRegistrations(ctx context.Context, regs []*api.VersionedSignedValidatorRegistration) error {
	if len(regs) == 0 {
		return badRequest("no registrations")
	}
	for i, r := range regs {
		if r == nil || r.V1 == nil || r.V1.Message == nil {
			return badRequest("registration %d: incomplete", i)
		}
	}
	return broadcast(ctx, c, "submit_registrations", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitValidatorRegistrations(ctx, regs)
	})
}

// SubmitProposalPreparations tells every node the fee recipient of each
// validator, for the blocks it builds.
func (c *Client) SubmitProposalPreparations(ctx context.Context, preps []*apiv1.ProposalPreparation) error {
	if len(preps) == 0 {
		return badRequest("no preparations")
	}
	for i, p := range preps {
		if p == nil {
			return badRequest("preparation %d: empty", i)
		}
	}
	return broadcast(ctx, c, "submit_preparations", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitProposalPreparations(ctx, preps)
	})
}

// SubmitVoluntaryExit publishes a signed voluntary exit to every node.
func (c *Client) SubmitVoluntaryExit(ctx context.Context, exit *phase0.SignedVoluntaryExit) error {
	if exit == nil || exit.Message == nil {
		return badRequest("no voluntary exit")
	}
	if exit.Signature == (phase0.BLSSignature{}) {
		return badRequest("voluntary exit without a signature")
	}
	return broadcast(ctx, c, "submit_voluntary_exit", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitVoluntaryExit(ctx, exit)
	})
}
