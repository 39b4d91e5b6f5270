package beacon

import (
	"context"
	"errors"

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

// submitAll checks a batch to submit (not empty, each item passing
// check, which names what is wrong) and broadcasts it with send, a
// go-eth2-client method.
func submitAll[T any](ctx context.Context, c *Client, op, what string, items []T, check func(T) error, send func(*ehttp.Service, context.Context, []T) error) error {
	if len(items) == 0 {
		return badRequest("no %s", what)
	}
	for i, it := range items {
		if err := check(it); err != nil {
			return badRequest("%s %d: %v", what, i, err)
		}
	}
	return broadcast(ctx, c, op, func(ctx context.Context, s *ehttp.Service) error { return send(s, ctx, items) })
}

var errIncomplete = errors.New("empty or incomplete")

// SubmitSyncCommitteeMessages publishes sync committee messages to every
// node.
func (c *Client) SubmitSyncCommitteeMessages(ctx context.Context, msgs []*altair.SyncCommitteeMessage) error {
	return submitAll(ctx, c, "submit_sync_messages", "sync committee messages", msgs, func(m *altair.SyncCommitteeMessage) error {
		if m == nil || m.BeaconBlockRoot == (phase0.Root{}) {
			return errors.New("empty or without a block root")
		}
		return nil
	}, (*ehttp.Service).SubmitSyncCommitteeMessages)
}

// SubmitSyncCommitteeContributions publishes signed contribution-and-proofs
// to every node.
func (c *Client) SubmitSyncCommitteeContributions(ctx context.Context, cs []*altair.SignedContributionAndProof) error {
	return submitAll(ctx, c, "submit_sync_contributions", "contributions", cs, func(sc *altair.SignedContributionAndProof) error {
		if sc == nil || sc.Message == nil || sc.Message.Contribution == nil {
			return errIncomplete
		}
		if sc.Message.Contribution.AggregationBits.Count() == 0 {
			// Gossip rejects a contribution without participants.
			return errors.New("contribution without participants")
		}
		return nil
	}, (*ehttp.Service).SubmitSyncCommitteeContributions)
}

// SubmitSyncCommitteeSubscriptions asks every node to join the sync
// committee subnets of the given validators.
func (c *Client) SubmitSyncCommitteeSubscriptions(ctx context.Context, subs []*apiv1.SyncCommitteeSubscription) error {
	return submitAll(ctx, c, "submit_sync_subscriptions", "sync committee subscriptions", subs, func(s *apiv1.SyncCommitteeSubscription) error {
		if s == nil || len(s.SyncCommitteeIndices) == 0 {
			return errIncomplete
		}
		return nil
	}, (*ehttp.Service).SubmitSyncCommitteeSubscriptions)
}

// SubmitBeaconCommitteeSubscriptions asks every node to join the attestation
// subnets of upcoming duties (and to aggregate where IsAggregator is set).
func (c *Client) SubmitBeaconCommitteeSubscriptions(ctx context.Context, subs []*apiv1.BeaconCommitteeSubscription) error {
	return submitAll(ctx, c, "submit_committee_subscriptions", "beacon committee subscriptions", subs, func(s *apiv1.BeaconCommitteeSubscription) error {
		if s == nil || s.CommitteesAtSlot == 0 || uint64(s.CommitteeIndex) >= s.CommitteesAtSlot {
			return errors.New("empty, or committee index beyond the slot's committees")
		}
		return nil
	}, (*ehttp.Service).SubmitBeaconCommitteeSubscriptions)
}

// SubmitValidatorRegistrations sends signed builder registrations (fee
// recipient, gas limit) to every node, which passes them to its builders.
func (c *Client) SubmitValidatorRegistrations(ctx context.Context, regs []*api.VersionedSignedValidatorRegistration) error {
	return submitAll(ctx, c, "submit_registrations", "registrations", regs, func(r *api.VersionedSignedValidatorRegistration) error {
		if r == nil || r.V1 == nil || r.V1.Message == nil {
			return errIncomplete
		}
		return nil
	}, (*ehttp.Service).SubmitValidatorRegistrations)
}

// SubmitProposalPreparations tells every node the fee recipient of each
// validator, for the blocks it builds.
func (c *Client) SubmitProposalPreparations(ctx context.Context, preps []*apiv1.ProposalPreparation) error {
	return submitAll(ctx, c, "submit_preparations", "preparations", preps, func(p *apiv1.ProposalPreparation) error {
		if p == nil {
			return errIncomplete
		}
		return nil
	}, (*ehttp.Service).SubmitProposalPreparations)
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
