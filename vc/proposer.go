package vc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	apiv1fulu "github.com/attestantio/go-eth2-client/api/v1/fulu"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/internal/signing"
)

// errBlockExists: another instance proposed for the slot already.
var errBlockExists = errors.New("a block for the slot exists already")

// propose performs a proposer duty: RANDAO reveal, block from the beacon
// node (produceBlockV3, full or blinded), checks, header signature
// (BLOCK_V2) and publication. A redundant instance (redundancy.instance k
// > 0) first waits k × proposal_delay and gives way if a block appeared.
func (c *Client) propose(ctx context.Context, d *apiv1.ProposerDuty) {
	s := d.Slot
	if k := c.cfg.Redundancy.Instance; k > 0 {
		if err := c.clock.sleepUntil(ctx, c.clock.start(s).Add(time.Duration(k)*c.cfg.Redundancy.ProposalDelay)); err != nil {
			return
		}
		if err := c.blockSeen(ctx, s); err != nil {
			c.log.Info("proposal left to another instance", "slot", uint64(s), "reason", err)
			return
		}
	}
	start := time.Now()
	epoch := c.clock.epochOf(s)
	reveal, err := c.signOne(ctx, dutyRandao, s, d.PubKey, &signing.Request{
		Type: signing.TypeRandaoReveal, ForkInfo: forkInfo(c.net, epoch), RandaoReveal: &signing.RandaoReveal{Epoch: epoch},
	})
	if err != nil {
		return
	}
	opts := &api.ProposalOpts{Slot: s, RandaoReveal: reveal, Graffiti: c.graffitiFor(d.PubKey)}
	boost := uint64(0)
	if c.cfg.Builder.Enabled {
		boost = c.cfg.Builder.BoostFactor
	}
	opts.BuilderBoostFactor = &boost
	p, err := c.bn.Proposal(ctx, opts)
	if err != nil {
		c.logFailure(dutyBlock, s, "proposal", err)
		return
	}
	header, err := c.checkProposal(p, d)
	if err != nil {
		c.logFailure(dutyBlock, s, "check", err)
		return
	}
	sig, err := c.signOne(ctx, dutyBlock, s, d.PubKey, &signing.Request{
		Type: signing.TypeBlockV2, ForkInfo: forkInfo(c.net, epoch),
		Block: &signing.BeaconBlock{Version: p.Version, Header: header},
	})
	if err != nil {
		return
	}
	if p.Blinded {
		var signed *api.VersionedSignedBlindedProposal
		if signed, err = signedBlinded(p, sig); err == nil {
			err = c.bn.SubmitBlindedProposal(ctx, signed)
		}
	} else {
		var signed *api.VersionedSignedProposal
		if signed, err = signedFull(p, sig); err == nil {
			err = c.bn.SubmitProposal(ctx, signed)
		}
	}
	c.m.publish(dutyBlock, err, 1, start)
	if err != nil {
		c.logFailure(dutyBlock, s, "publish", err)
		return
	}
	root, _ := p.Root()
	c.log.Info("block proposed", "slot", uint64(s), "validator", uint64(d.ValidatorIndex), "root", root.String(), "blinded", p.Blinded, "took", time.Since(start).String())
}

// blockSeen reports, as an error, that a block for slot s exists: the
// beacon nodes (healthy ones first; an execution-optimistic answer is not
// taken) know a block at that slot. A head event alone is not enough: any
// node may send one, a syncing node or one on a minority fork included.
func (c *Client) blockSeen(ctx context.Context, s phase0.Slot) error {
	if _, err := c.bn.BeaconBlockRoot(ctx, fmt.Sprint(uint64(s))); err == nil {
		return errBlockExists
	} else if !errors.Is(err, beacon.ErrRejected) {
		// Unsure: proposing risks only a refusal by the signers, which
		// keep a second block from being signed.
		c.log.Warn("could not learn whether a block exists; proposing", "slot", uint64(s), "err", err)
	}
	return nil
}

// checkProposal checks a proposal is ours before its header is signed:
// our validator index (the slot and RANDAO reveal were checked by package
// beacon), and a fee recipient other than ours is reported. It returns the
// header to sign, whose root is the block's.
func (c *Client) checkProposal(p *api.VersionedProposal, d *apiv1.ProposerDuty) (*phase0.BeaconBlockHeader, error) {
	proposer, err := p.ProposerIndex()
	if err != nil {
		return nil, err
	}
	if proposer != d.ValidatorIndex {
		return nil, fmt.Errorf("block for proposer %d, not validator %d", proposer, d.ValidatorIndex)
	}
	if p.Version >= spec.DataVersionBellatrix {
		if fr, err := p.FeeRecipient(); err == nil && fr != c.feeRecipientFor(d.PubKey) {
			want := c.feeRecipientFor(d.PubKey)
			c.log.Warn("block pays another fee recipient than configured", "slot", uint64(d.Slot), "fee_recipient", fr.String(), "configured", want.String())
		}
	}
	h := &phase0.BeaconBlockHeader{Slot: d.Slot, ProposerIndex: proposer}
	if h.ParentRoot, err = p.ParentRoot(); err != nil {
		return nil, err
	}
	if h.StateRoot, err = p.StateRoot(); err != nil {
		return nil, err
	}
	if h.BodyRoot, err = p.BodyRoot(); err != nil {
		return nil, err
	}
	return h, nil
}

// signedFull attaches the signature to a full proposal (blobs and proofs
// travel with the block from Deneb on).
func signedFull(p *api.VersionedProposal, sig phase0.BLSSignature) (*api.VersionedSignedProposal, error) {
	out := &api.VersionedSignedProposal{Version: p.Version}
	switch p.Version {
	case spec.DataVersionPhase0:
		out.Phase0 = &phase0.SignedBeaconBlock{Message: p.Phase0, Signature: sig}
	case spec.DataVersionAltair:
		out.Altair = &altair.SignedBeaconBlock{Message: p.Altair, Signature: sig}
	case spec.DataVersionBellatrix:
		out.Bellatrix = &bellatrix.SignedBeaconBlock{Message: p.Bellatrix, Signature: sig}
	case spec.DataVersionCapella:
		out.Capella = &capella.SignedBeaconBlock{Message: p.Capella, Signature: sig}
	case spec.DataVersionDeneb:
		out.Deneb = &apiv1deneb.SignedBlockContents{
			SignedBlock: &deneb.SignedBeaconBlock{Message: p.Deneb.Block, Signature: sig},
			KZGProofs:   p.Deneb.KZGProofs, Blobs: p.Deneb.Blobs,
		}
	case spec.DataVersionElectra:
		out.Electra = &apiv1electra.SignedBlockContents{
			SignedBlock: &electra.SignedBeaconBlock{Message: p.Electra.Block, Signature: sig},
			KZGProofs:   p.Electra.KZGProofs, Blobs: p.Electra.Blobs,
		}
	case spec.DataVersionFulu:
		out.Fulu = &apiv1fulu.SignedBlockContents{
			SignedBlock: &electra.SignedBeaconBlock{Message: p.Fulu.Block, Signature: sig},
			KZGProofs:   p.Fulu.KZGProofs, Blobs: p.Fulu.Blobs,
		}
	default:
		return nil, fmt.Errorf("cannot publish a %s block", p.Version)
	}
	return out, nil
}

// signedBlinded attaches the signature to a blinded proposal.
func signedBlinded(p *api.VersionedProposal, sig phase0.BLSSignature) (*api.VersionedSignedBlindedProposal, error) {
	out := &api.VersionedSignedBlindedProposal{Version: p.Version}
	switch p.Version {
	case spec.DataVersionBellatrix:
		out.Bellatrix = &apiv1bellatrix.SignedBlindedBeaconBlock{Message: p.BellatrixBlinded, Signature: sig}
	case spec.DataVersionCapella:
		out.Capella = &apiv1capella.SignedBlindedBeaconBlock{Message: p.CapellaBlinded, Signature: sig}
	case spec.DataVersionDeneb:
		out.Deneb = &apiv1deneb.SignedBlindedBeaconBlock{Message: p.DenebBlinded, Signature: sig}
	case spec.DataVersionElectra:
		out.Electra = &apiv1electra.SignedBlindedBeaconBlock{Message: p.ElectraBlinded, Signature: sig}
	case spec.DataVersionFulu:
		out.Fulu = &apiv1electra.SignedBlindedBeaconBlock{Message: p.FuluBlinded, Signature: sig}
	default:
		return nil, fmt.Errorf("cannot publish a blinded %s block", p.Version)
	}
	return out, nil
}
