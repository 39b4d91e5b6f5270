package protect_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

// TestImportedHistoryIsBoundedByPruning: a file with a long history, and
// one full of conflicting records, leaves each key with at most what
// pruning keeps: 2*HistoryEpochs attestations and 16+HistoryEpochs*
// SlotsPerEpoch blocks, the rest folded into the watermarks (which then
// refuse everything the folded records refused).
func TestImportedHistoryIsBoundedByPruning(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.HistoryEpochs = 4
	cfg.SlotsPerEpoch = 2
	db := createDB(t, testGVR, cfg)
	long := protect.InterchangeValidator{PublicKey: key(1)}
	for e := uint64(1); e <= 10_000; e++ {
		long.SignedAttestations = append(long.SignedAttestations, protect.SignedAttestation{SourceEpoch: e - 1, TargetEpoch: e})
		long.SignedBlocks = append(long.SignedBlocks, protect.SignedBlock{Slot: 2 * e})
	}
	conflicting := protect.InterchangeValidator{PublicKey: key(2)}
	for s := uint64(0); s < 1000; s++ {
		conflicting.SignedAttestations = append(conflicting.SignedAttestations, protect.SignedAttestation{SourceEpoch: s, TargetEpoch: 1000})
	}
	if _, err := db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: testGVR, Data: []protect.InterchangeValidator{long, conflicting}}); err != nil {
		t.Fatal(err)
	}
	ic, err := db.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ic.Data {
		// The export adds at most one record for the watermarks.
		if n := len(v.SignedAttestations); n > 2*4+1 {
			t.Errorf("%v keeps %d attestations", v.PublicKey, n)
		}
		if n := len(v.SignedBlocks); n > 16+4*2+1 {
			t.Errorf("%v keeps %d blocks", v.PublicKey, n)
		}
	}
	for _, tc := range []struct {
		k    protect.PublicKey
		a    protect.Attestation
		want error
	}{
		{key(1), protect.Attestation{Source: 5000, Target: 5001}, protect.ErrBelowWatermark},
		{key(1), protect.Attestation{Source: 10_000, Target: 10_001}, nil},
		{key(2), protect.Attestation{Source: 0, Target: 1001}, protect.ErrBelowWatermark}, // surrounds folded 1->1000
		{key(2), protect.Attestation{Source: 999, Target: 1000}, protect.ErrBelowWatermark},
		{key(2), protect.Attestation{Source: 1000, Target: 1001}, nil},
	} {
		_, err := db.ApproveAttestation(ctx, testGVR, tc.k, tc.a)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%v %+v: got %v, want %v", tc.k, tc.a, err, tc.want)
		}
	}
}

// TestImportWatermarksSurviveReopen: whether an import has set a key's
// watermarks is durable, from the journal and from a snapshot, so a later
// import after a restart still only adds records.
func TestImportWatermarksSurviveReopen(t *testing.T) {
	for _, checkpoint := range []bool{false, true} {
		ctx := context.Background()
		path := t.TempDir() + "/p.db"
		cfg := testConfig()
		db, err := protect.Create(ctx, path, testGVR, cfg)
		if err != nil {
			t.Fatal(err)
		}
		imp := func(slot uint64, pair [2]uint64) {
			t.Helper()
			if _, err := db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: testGVR, Data: []protect.InterchangeValidator{{
				PublicKey:          key(1),
				SignedBlocks:       []protect.SignedBlock{{Slot: slot}},
				SignedAttestations: []protect.SignedAttestation{{SourceEpoch: pair[0], TargetEpoch: pair[1]}},
			}}}); err != nil {
				t.Fatal(err)
			}
		}
		imp(40, [2]uint64{2, 30})
		if checkpoint {
			if err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if db, err = protect.Open(ctx, path, cfg); err != nil {
			t.Fatal(err)
		}
		imp(50, [2]uint64{10, 50})
		if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 45, SigningRoot: root(1)}); err != nil {
			t.Errorf("checkpoint %v: block 45: %v", checkpoint, err)
		}
		if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 3, Target: 31, SigningRoot: root(1)}); err != nil {
			t.Errorf("checkpoint %v: attestation 3->31: %v", checkpoint, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportsReadFileByFile: with RaiseWatermarks, and always for a key
// disabled here (it has signed elsewhere since), an import's minima become
// watermarks even after an earlier import: the second file may be a
// minimal or pruned export leaving out what was signed below its minima.
func TestImportsReadFileByFile(t *testing.T) {
	ctx := context.Background()
	file := func(slot uint64, pair [2]uint64) *protect.Interchange {
		return &protect.Interchange{GenesisValidatorsRoot: testGVR, Data: []protect.InterchangeValidator{{
			PublicKey:          key(1),
			SignedBlocks:       []protect.SignedBlock{{Slot: slot}},
			SignedAttestations: []protect.SignedAttestation{{SourceEpoch: pair[0], TargetEpoch: pair[1]}},
		}}}
	}
	check := func(t *testing.T, db *protect.DB) {
		t.Helper()
		if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 45, SigningRoot: root(1)}); !errors.Is(err, protect.ErrBelowWatermark) {
			t.Errorf("block 45: %v", err)
		}
		if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 3, Target: 31, SigningRoot: root(1)}); !errors.Is(err, protect.ErrBelowWatermark) {
			t.Errorf("attestation 3->31: %v", err)
		}
		if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 51, SigningRoot: root(1)}); err != nil {
			t.Errorf("block 51: %v", err)
		}
	}
	t.Run("RaiseWatermarks", func(t *testing.T) {
		db := createDB(t, testGVR, testConfig())
		if _, err := db.Import(ctx, file(40, [2]uint64{2, 30})); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Import(ctx, file(50, [2]uint64{10, 50}), protect.RaiseWatermarks()); err != nil {
			t.Fatal(err)
		}
		check(t, db)
		// Lower minima never lower them.
		if _, err := db.Import(ctx, file(20, [2]uint64{1, 2}), protect.RaiseWatermarks()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 49, SigningRoot: root(2)}); !errors.Is(err, protect.ErrBelowWatermark) {
			t.Errorf("block 49 after a file with lower minima: %v", err)
		}
	})
	t.Run("a disabled key", func(t *testing.T) {
		db := createDB(t, testGVR, testConfig())
		if _, err := db.Import(ctx, file(40, [2]uint64{2, 30})); err != nil {
			t.Fatal(err)
		}
		if err := db.Disable(ctx, key(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Import(ctx, file(50, [2]uint64{10, 50})); err != nil {
			t.Fatal(err)
		}
		if err := db.Enable(ctx, key(1)); err != nil {
			t.Fatal(err)
		}
		check(t, db)
	})
}
