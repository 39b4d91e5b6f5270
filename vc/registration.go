package vc

import (
	"context"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
)

// registrations keeps the signed builder registrations: one signature per
// validator and settings, published again every epoch (builders expect
// them repeated; signing them anew would only load the signers).
type registrations struct {
	mu     sync.Mutex
	signed map[phase0.BLSPubKey]*api.VersionedSignedValidatorRegistration
}

func newRegistrations() *registrations {
	return &registrations{signed: map[phase0.BLSPubKey]*api.VersionedSignedValidatorRegistration{}}
}

// prepareProposers tells the beacon nodes every validator's fee recipient
// (prepare_beacon_proposer), from Bellatrix on, every epoch.
func (c *Client) prepareProposers(ctx context.Context, e phase0.Epoch) {
	if c.net.ForkAtEpoch(e).Name < spec.DataVersionBellatrix {
		return
	}
	indexed := c.validators.indexed()
	if len(indexed) == 0 {
		return
	}
	preps := make([]*apiv1.ProposalPreparation, 0, len(indexed))
	for idx, k := range indexed {
		preps = append(preps, &apiv1.ProposalPreparation{ValidatorIndex: idx, FeeRecipient: c.feeRecipientFor(k)})
	}
	if err := c.bn.SubmitProposalPreparations(ctx, preps); err != nil && ctx.Err() == nil {
		c.log.Warn("proposer preparations failed", "err", err)
	}
}

// register signs the missing builder registrations (VALIDATOR_REGISTRATION
// carries the validator's key, so each is its own request) and publishes
// all of them, with builders enabled, from Bellatrix on.
func (c *Client) register(ctx context.Context, e phase0.Epoch) {
	if !c.cfg.Builder.Enabled || c.net.ForkAtEpoch(e).Name < spec.DataVersionBellatrix {
		return
	}
	indexed := c.validators.indexed()
	var missing []phase0.BLSPubKey
	c.regs.mu.Lock()
	for _, k := range indexed {
		// Signed anew when missing or when the validator's settings
		// changed since (keymanager API).
		if r := c.regs.signed[k]; r == nil || r.V1.Message.FeeRecipient != c.feeRecipientFor(k) || r.V1.Message.GasLimit != c.gasLimitFor(k) {
			missing = append(missing, k)
		}
	}
	c.regs.mu.Unlock()
	slot := c.clock.currentSlot()
	now := time.Unix(c.clock.now().Unix(), 0)
	forEach(len(missing), concurrentSigns, func(i int) {
		reg := &apiv1.ValidatorRegistration{FeeRecipient: c.feeRecipientFor(missing[i]), GasLimit: c.gasLimitFor(missing[i]), Timestamp: now, Pubkey: missing[i]}
		sig, err := c.signOne(ctx, dutyRegistration, slot, missing[i], &signing.Request{Type: signing.TypeValidatorRegistration, ValidatorRegistration: reg})
		if err != nil {
			return
		}
		c.regs.mu.Lock()
		c.regs.signed[missing[i]] = &api.VersionedSignedValidatorRegistration{Version: spec.BuilderVersionV1, V1: &apiv1.SignedValidatorRegistration{Message: reg, Signature: sig}}
		c.regs.mu.Unlock()
	})
	var all []*api.VersionedSignedValidatorRegistration
	c.regs.mu.Lock()
	for _, k := range indexed {
		if r := c.regs.signed[k]; r != nil {
			all = append(all, r)
		}
	}
	c.regs.mu.Unlock()
	if len(all) == 0 {
		return
	}
	start := time.Now()
	err := c.bn.SubmitValidatorRegistrations(ctx, all)
	c.m.publish(dutyRegistration, err, len(all), start)
	if err != nil && ctx.Err() == nil {
		c.log.Warn("validator registrations failed", "err", err)
	}
}
