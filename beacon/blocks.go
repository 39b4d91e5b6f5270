package beacon

import (
	"context"
	"fmt"

	"github.com/attestantio/go-eth2-client/api"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Proposal asks for a block to propose at opts.Slot (produceBlockV3): the
// node decides between its own payload and a builder's, so the answer may
// be blinded (VersionedProposal.Blinded). The answer is refused unless it
// is of the slot's fork, for the slot asked, and carries the RANDAO reveal
// given (unless opts.SkipRandaoVerification).
func (c *Client) Proposal(ctx context.Context, opts *api.ProposalOpts) (*api.VersionedProposal, error) {
	if opts == nil {
		return nil, badRequest("no proposal options")
	}
	if opts.Slot == 0 {
		return nil, badRequest("slot 0 has no proposal (genesis)")
	}
	if !opts.SkipRandaoVerification && opts.RandaoReveal == (phase0.BLSSignature{}) {
		return nil, badRequest("no RANDAO reveal")
	}
	return read(ctx, c, "proposal", func(ctx context.Context, s *ehttp.Service) (*api.VersionedProposal, error) {
		resp, err := s.Proposal(ctx, opts)
		if err != nil {
			return nil, err
		}
		p := resp.Data
		if p == nil || p.IsEmpty() {
			return nil, invalid("no proposal")
		}
		if err := c.checkFork(p.Version, opts.Slot); err != nil {
			return nil, invalid("proposal: %v", err)
		}
		slot, err := p.Slot()
		if err != nil {
			return nil, invalid("proposal: %v", err)
		}
		if slot != opts.Slot {
			return nil, invalid("proposal for slot %d, asked for %d", slot, opts.Slot)
		}
		if !opts.SkipRandaoVerification {
			reveal, err := p.RandaoReveal()
			if err != nil || reveal != opts.RandaoReveal {
				return nil, invalid("proposal does not carry the RANDAO reveal given")
			}
		}
		return p, nil
	})
}

// SubmitProposal publishes a signed full block to every node (v2
// endpoint). It must be of its slot's fork and not blinded.
func (c *Client) SubmitProposal(ctx context.Context, p *api.VersionedSignedProposal) error {
	if p == nil {
		return badRequest("no proposal")
	}
	if p.Blinded {
		return badRequest("blinded proposal: use SubmitBlindedProposal")
	}
	if err := p.AssertPresent(); err != nil {
		return badRequest("proposal: %v", err)
	}
	slot, err := signedProposalSlot(p)
	if err != nil {
		return badRequest("proposal: %v", err)
	}
	if err := c.checkFork(p.Version, slot); err != nil {
		return badRequest("proposal: %v", err)
	}
	return broadcast(ctx, c, "submit_proposal", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitProposal(ctx, &api.SubmitProposalOpts{Proposal: p})
	})
}

// signedProposalSlot is the proposal's slot. go-eth2-client's
// VersionedSignedProposal.Slot knows no phase0 or Altair block, although
// its SubmitProposal sends them.
func signedProposalSlot(p *api.VersionedSignedProposal) (phase0.Slot, error) {
	switch {
	case p.Version == spec.DataVersionPhase0 && p.Phase0.Message != nil:
		return p.Phase0.Message.Slot, nil
	case p.Version == spec.DataVersionAltair && p.Altair.Message != nil:
		return p.Altair.Message.Slot, nil
	}
	return p.Slot()
}

// SubmitBlindedProposal publishes a signed blinded block to every node (v2
// endpoint); a node that knows the builder reveals the payload. It must be
// of its slot's fork.
func (c *Client) SubmitBlindedProposal(ctx context.Context, p *api.VersionedSignedBlindedProposal) error {
	if p == nil {
		return badRequest("no blinded proposal")
	}
	slot, err := p.Slot()
	if err != nil {
		return badRequest("blinded proposal: %v", err)
	}
	if err := c.checkFork(p.Version, slot); err != nil {
		return badRequest("blinded proposal: %v", err)
	}
	return broadcast(ctx, c, "submit_blinded_proposal", func(ctx context.Context, s *ehttp.Service) error {
		return s.SubmitBlindedProposal(ctx, &api.SubmitBlindedProposalOpts{Proposal: p})
	})
}

// checkFork refuses an object of another fork than the one the network
// schedules at slot: signed under the wrong fork version it would be
// invalid, and decoded as the wrong fork it would be garbage.
func (c *Client) checkFork(v spec.DataVersion, slot phase0.Slot) error {
	if want := c.net.ForkAtEpoch(c.net.EpochAtSlot(slot)).Name; v != want {
		return fmt.Errorf("fork %s at slot %d, want %s", v, slot, want)
	}
	return nil
}
