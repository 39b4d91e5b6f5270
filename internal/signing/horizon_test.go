package signing_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// atEpoch is a moment one second into mainnet epoch e.
func atEpoch(e uint64) time.Time {
	return network.Mainnet().GenesisTime().Add(time.Duration(e)*32*12*time.Second + time.Second)
}

// TestCheckFutureRefusesFarFutureMessages: the attack of issue 13, item 3
// (an attestation 150001 -> 2^64-2, a block at slot 2^64-1), and every
// bounded field one epoch past the horizon, are refused with ErrFuture
// naming the field, its value, the current epoch and the allowance; the
// last epoch of the horizon is accepted.
func TestCheckFutureRefusesFarFutureMessages(t *testing.T) {
	mainnet := network.Mainnet()
	now := atEpoch(420000)
	const maxU = "18446744073709551615"
	for _, tc := range []struct {
		name    string
		body    obj
		wantErr error // nil: accepted
		wantMsg string
	}{
		{name: "accepts an attestation of the current epoch", body: attestationRequest()},
		{name: "accepts an attestation at the allowance", body: with(attestationRequest(), "attestation", attestationData("13440032", "420000", "420001"))},
		{name: "refuses an attestation past the allowance", body: with(attestationRequest(), "attestation", attestationData("13440064", "420000", "420002")),
			wantErr: signing.ErrFuture, wantMsg: "attestation.target.epoch 420002 is after epoch 420001, the last this signer signs for now (current epoch 420000 + 1 epoch allowed ahead)"},
		{name: "refuses the far-future attestation of the review", body: with(attestationRequest(), "attestation", attestationData("13440000", "150001", "18446744073709551614")),
			wantErr: signing.ErrFuture, wantMsg: "attestation.target.epoch 18446744073709551614 is after epoch 420001"},
		{name: "refuses source after target with its own message", body: with(attestationRequest(), "attestation", attestationData("13440000", "420000", "419999")),
			wantErr: signing.ErrInvalidRequest, wantMsg: "attestation.source.epoch 420000 is after attestation.target.epoch 419999"},
		{name: "accepts a block of the current epoch", body: blockV2Request("FULU", "13440000", fuluInfo)},
		{name: "accepts a block in the last slot of the allowance", body: blockV2Request("FULU", "13440063", fuluInfo)},
		{name: "refuses a block in the first slot past it", body: blockV2Request("FULU", "13440064", fuluInfo),
			wantErr: signing.ErrFuture, wantMsg: "beacon_block.block_header.slot 13440064 is in epoch 420002, after epoch 420001"},
		{name: "refuses the far-future block of the review", body: blockV2Request("FULU", maxU, fuluInfo),
			wantErr: signing.ErrFuture, wantMsg: "beacon_block.block_header.slot " + maxU + " is in epoch 576460752303423487"},
		{name: "refuses a far-future phase0 BLOCK", body: obj{"type": "BLOCK", "fork_info": clone(fuluInfo), "block": phase0Block("13440064")},
			wantErr: signing.ErrFuture, wantMsg: "block.slot 13440064"},
		{name: "accepts an aggregate of the current epoch", body: aggregateV2("FULU", "0x01")},
		{name: "refuses an aggregate whose target is past the allowance", body: with(aggregateV2("FULU", "0x01"), "aggregate_and_proof.data.aggregate.data.target.epoch", "420002"),
			wantErr: signing.ErrFuture, wantMsg: "aggregate_and_proof.data.aggregate.data.target.epoch 420002"},
		{name: "refuses an aggregate whose slot is past the allowance", body: with(unversionedAggregate("FULU", fuluInfo), "aggregate_and_proof.aggregate.data.slot", "13440064"),
			wantErr: signing.ErrFuture, wantMsg: "aggregate_and_proof.aggregate.data.slot 13440064 is in epoch 420002"},
		{name: "refuses an aggregate with source after target", body: with(aggregateV2("FULU", "0x01"), "aggregate_and_proof.data.aggregate.data.source.epoch", "420001"),
			wantErr: signing.ErrInvalidRequest, wantMsg: "aggregate_and_proof.data.aggregate.data.source.epoch 420001 is after aggregate_and_proof.data.aggregate.data.target.epoch 420000"},
		{name: "leaves a voluntary exit for a future epoch alone", body: exitRequest("500000", fuluInfo)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := signing.ParseRequest(encode(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			err = req.CheckFuture(mainnet, now, 1)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, signing.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v\nwant %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
			if errors.Is(tc.wantErr, signing.ErrFuture) {
				return
			}
			if errors.Is(err, signing.ErrFuture) {
				t.Fatalf("source after target reported as a future message: %v", err)
			}
			// Source after target is refused by Verify too.
			if _, err := req.Verify(mainnet); !errors.Is(err, signing.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestHorizon(t *testing.T) {
	mainnet := network.Mainnet()
	h, err := signing.HorizonAt(mainnet, atEpoch(420000), 3)
	if err != nil || h.Current != 420000 || h.Last() != 420003 || h.String() != "current epoch 420000 + 3 epochs allowed ahead" {
		t.Fatalf("horizon %v (%d), %v", h, h.Last(), err)
	}
	if h, _ := signing.HorizonAt(mainnet, mainnet.GenesisTime().Add(-time.Hour), 1); h.Current != 0 || h.Last() != 1 {
		t.Fatalf("before genesis: %v", h)
	}
	if last := (signing.Horizon{Current: math.MaxUint64 - 1, Allowance: 5}).Last(); last != phase0.Epoch(math.MaxUint64) {
		t.Fatalf("Last does not saturate: %d", last)
	}

	// Without a genesis time nothing bounded is accepted.
	n, err := network.ParseConfig([]byte("PRESET_BASE: mainnet\nCONFIG_NAME: nogenesis\nGENESIS_FORK_VERSION: 0x10000038\nSECONDS_PER_SLOT: 12\n"), phase0.Root{1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.HorizonAt(n, time.Now(), 1); !errors.Is(err, signing.ErrUnknownGenesis) {
		t.Fatalf("horizon without genesis: %v", err)
	}
	req, err := signing.ParseRequest(encode(t, attestationRequest()))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckFuture(n, time.Now(), 1); !errors.Is(err, signing.ErrUnknownGenesis) || !errors.Is(err, signing.ErrInvalidRequest) {
		t.Fatalf("attestation without genesis: %v", err)
	}

	// A custom config's bound counts from MIN_GENESIS_TIME, the earliest
	// genesis: a genesis estimated later would refuse honest messages.
	custom, err := network.ParseConfig([]byte("PRESET_BASE: mainnet\nCONFIG_NAME: late\nMIN_GENESIS_TIME: 1700000000\nGENESIS_DELAY: 3840\nGENESIS_FORK_VERSION: 0x10000038\nSECONDS_PER_SLOT: 12\n"), phase0.Root{1})
	if err != nil {
		t.Fatal(err)
	}
	h, _ = signing.HorizonAt(custom, time.Unix(1700000000+384*50, 0), 1)
	if h.Current != 50 {
		t.Fatalf("custom network: current epoch %d, want 50 (from MIN_GENESIS_TIME, not 40 from MIN_GENESIS_TIME + GENESIS_DELAY)", h.Current)
	}
}
