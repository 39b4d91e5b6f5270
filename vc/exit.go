package vc

import (
	"context"
	"fmt"
	"slices"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// Exiter signs and publishes voluntary exits on request (`rampartctl
// exit`). An exit is irreversible: Prepare shows what would be signed,
// Exit signs and publishes it.
type Exiter struct {
	// Network is the chain.
	Network *network.Network
	// Beacon is a beacon client whose Run is running (Ready closed).
	Beacon *beacon.Client
	// Signer is the threshold cluster.
	Signer Signer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// PlannedExit is a voluntary exit checked against the chain, not signed.
type PlannedExit struct {
	// Exit is the message to sign.
	Exit *phase0.VoluntaryExit
	// PublicKey is the validator's key.
	PublicKey phase0.BLSPubKey
	// Validator is the validator as the chain knows it now.
	Validator *apiv1.Validator
}

// Prepare checks that the cluster holds key, that the chain knows the
// validator and that it is active and not exiting, and returns the exit
// for epoch (zero: the current epoch; a future epoch is refused, since
// beacon nodes reject such exits until then).
func (x *Exiter) Prepare(ctx context.Context, key phase0.BLSPubKey, epoch phase0.Epoch) (*PlannedExit, error) {
	now := x.Now
	if now == nil {
		now = time.Now
	}
	if err := x.Signer.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("discovering the cluster's accounts: %w", err)
	}
	if !slices.Contains(x.Signer.PublicKeys(), api.PublicKey(key)) {
		return nil, fmt.Errorf("%w: the cluster holds no account %s", ErrUnknownValidator, key)
	}
	found, err := x.Beacon.Validators(ctx, "head", []phase0.BLSPubKey{key})
	if err != nil {
		return nil, err
	}
	v := found[key]
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownValidator, key)
	}
	if v.Status != apiv1.ValidatorStateActiveOngoing {
		return nil, fmt.Errorf("%w: validator %d is %s; only an active validator that is not exiting can exit", ErrCannotExit, v.Index, v.Status)
	}
	clk := newClock(x.Network, x.Network.GenesisTime(), now)
	if clk.genesis.IsZero() {
		g, err := x.Beacon.Genesis(ctx)
		if err != nil {
			return nil, err
		}
		clk.genesis = g.GenesisTime
	}
	current := clk.currentEpoch()
	switch {
	case epoch == 0:
		epoch = current
	case epoch > current:
		return nil, fmt.Errorf("%w: epoch %d is in the future (the current epoch is %d); beacon nodes refuse the exit until then", ErrCannotExit, epoch, current)
	}
	return &PlannedExit{Exit: &phase0.VoluntaryExit{Epoch: epoch, ValidatorIndex: v.Index}, PublicKey: key, Validator: v}, nil
}

// Exit signs the planned exit through the cluster (VOLUNTARY_EXIT, whose
// domain from Deneb on is the Capella fork's, EIP-7044) and publishes it to
// every beacon node.
func (x *Exiter) Exit(ctx context.Context, p *PlannedExit) (*phase0.SignedVoluntaryExit, error) {
	req := &signing.Request{Type: signing.TypeVoluntaryExit, ForkInfo: forkInfo(x.Network, p.Exit.Epoch), VoluntaryExit: p.Exit}
	root, body, err := prepare(x.Network, req)
	if err != nil {
		return nil, err
	}
	sig, err := x.Signer.Sign(ctx, api.PublicKey(p.PublicKey), root, body)
	if err != nil {
		return nil, fmt.Errorf("signing the exit: %w", err)
	}
	signed := &phase0.SignedVoluntaryExit{Message: p.Exit, Signature: phase0.BLSSignature(sig.Bytes())}
	if err := x.Beacon.SubmitVoluntaryExit(ctx, signed); err != nil {
		return nil, fmt.Errorf("publishing the exit: %w", err)
	}
	return signed, nil
}
