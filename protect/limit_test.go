package protect_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

// limitedConfig is testConfig with the last allowed epoch at 100 and 32
// slots per epoch.
func limitedConfig() protect.Config {
	c := testConfig()
	c.Limit = func() protect.Limit {
		return protect.Limit{Epoch: 100, Why: "current epoch 99 + 1 epoch allowed ahead"}
	}
	return c
}

// TestAttackFarFutureAttestationCannotPoisonTheDatabase: the attack of
// issue 13, item 3, against the database itself. An attestation 150001 ->
// 2^64-2 is refused with ErrFuture (not a slashing refusal) and leaves no
// record, so the validator's next normal attestation still signs; the same
// for a block at slot 2^64-1.
func TestAttackFarFutureAttestationCannotPoisonTheDatabase(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, limitedConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	_, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 150001, Target: math.MaxUint64 - 1, SigningRoot: root(1)})
	if !errors.Is(err, protect.ErrFuture) || errors.Is(err, protect.ErrRefused) {
		t.Fatalf("far-future attestation: %v", err)
	}
	for _, want := range []string{"target epoch 18446744073709551614", "epoch 100 (current epoch 99 + 1 epoch allowed ahead)", key(1).String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	_, err = db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: math.MaxUint64, SigningRoot: root(1)})
	if !errors.Is(err, protect.ErrFuture) || !strings.Contains(err.Error(), "block slot 18446744073709551615 is in epoch 576460752303423487") {
		t.Fatalf("far-future block: %v", err)
	}
	if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 98, Target: 99, SigningRoot: root(2)}); err != nil {
		t.Fatalf("normal attestation after the far-future one: %v", err)
	}
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 99*32 + 5, SigningRoot: root(2)}); err != nil {
		t.Fatalf("normal block after the far-future one: %v", err)
	}
	ic, err := db.Export(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	if v := ic.Data[0]; len(v.SignedBlocks) != 1 || len(v.SignedAttestations) != 1 {
		t.Fatalf("history holds more than the two normal messages: %+v", v)
	}
}

func TestLimitIsInclusiveAndAppliesPerBatchItem(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, limitedConfig())
	if err := db.Register(ctx, key(1), key(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 101*32 - 1, SigningRoot: root(1)}); err != nil {
		t.Fatalf("last slot of the last allowed epoch: %v", err)
	}
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 101 * 32, SigningRoot: root(1)}); !errors.Is(err, protect.ErrFuture) {
		t.Fatalf("first slot after it: %v", err)
	}
	vs, err := db.ApproveAttestations(ctx, testGVR, []protect.AttestationRequest{
		{Key: key(1), Attestation: protect.Attestation{Source: 99, Target: 100, SigningRoot: root(1)}},
		{Key: key(2), Attestation: protect.Attestation{Source: 99, Target: 101, SigningRoot: root(1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Err != nil || !vs[0].Permit.Valid() {
		t.Errorf("target at the limit: %v", vs[0].Err)
	}
	if !errors.Is(vs[1].Err, protect.ErrFuture) || vs[1].Permit.Valid() {
		t.Errorf("target after the limit: %v", vs[1].Err)
	}
}

func TestWithoutALimitNothingIsApprovedOrImported(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Limit = nil
	db := createDB(t, testGVR, cfg)
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatalf("Register needs no limit: %v", err)
	}
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 1}); !errors.Is(err, protect.ErrNoLimit) {
		t.Errorf("block: %v", err)
	}
	if _, err := db.ApproveAttestations(ctx, testGVR, []protect.AttestationRequest{{Key: key(1)}}); !errors.Is(err, protect.ErrNoLimit) {
		t.Errorf("batch: %v", err)
	}
	if _, err := db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: testGVR}); !errors.Is(err, protect.ErrNoLimit) {
		t.Errorf("import: %v", err)
	}
	if _, err := db.Export(ctx); err != nil {
		t.Errorf("Export needs no limit: %v", err)
	}
}

// TestAttackFarFutureImportIsRefusedWhole: an interchange file with one
// record beyond the limit (target 2^64-2, as a poisoned export would carry)
// is refused with an error naming the record, and nothing of the file is
// imported.
func TestAttackFarFutureImportIsRefusedWhole(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		bad  protect.InterchangeValidator
		want string
	}{
		{"target", protect.InterchangeValidator{PublicKey: key(3), SignedAttestations: []protect.SignedAttestation{{SourceEpoch: 1, TargetEpoch: 2}, {SourceEpoch: 150001, TargetEpoch: math.MaxUint64 - 1}}},
			"data[1].signed_attestations[1] (validator " + key(3).String() + "): target epoch 18446744073709551614 is beyond the last epoch allowed now: epoch 100 (current epoch 99 + 1 epoch allowed ahead)"},
		{"source", protect.InterchangeValidator{PublicKey: key(3), SignedAttestations: []protect.SignedAttestation{{SourceEpoch: 101, TargetEpoch: 5}}},
			"data[1].signed_attestations[0] (validator " + key(3).String() + "): source epoch 101 is beyond"},
		{"slot", protect.InterchangeValidator{PublicKey: key(3), SignedBlocks: []protect.SignedBlock{{Slot: 3}, {Slot: 101 * 32}}},
			"data[1].signed_blocks[1] (validator " + key(3).String() + "): slot 3232 is in epoch 101, beyond"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := createDB(t, testGVR, limitedConfig())
			if err := db.Register(ctx, key(1)); err != nil {
				t.Fatal(err)
			}
			before := mustExport(t, db)
			ic := &protect.Interchange{GenesisValidatorsRoot: testGVR, Data: []protect.InterchangeValidator{
				{PublicKey: key(1), SignedBlocks: []protect.SignedBlock{{Slot: 5}}},
				tc.bad,
			}}
			_, err := db.Import(ctx, ic)
			if !errors.Is(err, protect.ErrFuture) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant it to contain %q", err, tc.want)
			}
			if after := mustExport(t, db); !bytes.Equal(before, after) {
				t.Fatal("a refused import changed the database")
			}
			if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 4, SigningRoot: root(1)}); err != nil {
				t.Fatalf("the refused file's watermark took effect: %v", err)
			}
		})
	}
}
