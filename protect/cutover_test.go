package protect_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

// A new member of a resharing starts from the merge of every continuing
// member's history and the cutover floors: a message conflicting with any
// old member's history is refused, and so is anything before the cutover
// epoch, while the duties from the cutover on (whose source lags the
// target) are signed.
func TestCutoverCarriesHistoryAndFloors(t *testing.T) {
	ctx := context.Background()
	var gvr protect.Root
	gvr[0] = 7
	k := key(1)
	member := func(blockSlot, source, target uint64, r int) *protect.Interchange {
		db := createDB(t, gvr, testConfig())
		if err := db.Register(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApproveBlock(ctx, gvr, k, protect.Block{Slot: blockSlot, SigningRoot: root(r)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApproveAttestation(ctx, gvr, k, protect.Attestation{Source: source, Target: target, SigningRoot: root(r)}); err != nil {
			t.Fatal(err)
		}
		ic, err := db.Export(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return ic
	}
	// Two old members that saw different duties (one was behind).
	a := member(300, 7, 8, 1)
	b := member(310, 8, 9, 2)
	const epoch, spe = 10, 32
	floors, err := protect.CutoverFloors(gvr, []protect.PublicKey{k}, epoch, spe)
	if err != nil {
		t.Fatal(err)
	}
	db := createDB(t, gvr, testConfig())
	for _, ic := range []*protect.Interchange{a, b, floors} {
		if _, err := db.Import(ctx, ic, protect.RaiseWatermarks()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		block *protect.Block
		att   *protect.Attestation
		want  error
	}{
		{"a block conflicting with member A's", &protect.Block{Slot: 300, SigningRoot: root(9)}, nil, protect.ErrRefused},
		{"a block conflicting with member B's", &protect.Block{Slot: 310, SigningRoot: root(9)}, nil, protect.ErrRefused},
		{"the last slot before the cutover", &protect.Block{Slot: epoch*spe - 1, SigningRoot: root(9)}, nil, protect.ErrRefused},
		{"an attestation before the cutover", nil, &protect.Attestation{Source: 8, Target: epoch - 1, SigningRoot: root(9)}, protect.ErrRefused},
		{"a surround of member B's vote", nil, &protect.Attestation{Source: 7, Target: 11, SigningRoot: root(9)}, protect.ErrRefused},
		{"the first slot of the cutover", &protect.Block{Slot: epoch * spe, SigningRoot: root(9)}, nil, nil},
		{"the cutover epoch's attestation, source two epochs behind", nil, &protect.Attestation{Source: 8, Target: epoch, SigningRoot: root(9)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.block != nil {
				_, err = db.ApproveBlock(ctx, gvr, k, *tc.block)
			} else {
				_, err = db.ApproveAttestation(ctx, gvr, k, *tc.att)
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCutoverFloorsRefusesEpochZero(t *testing.T) {
	if _, err := protect.CutoverFloors(protect.Root{}, []protect.PublicKey{key(1)}, 0, 32); err == nil {
		t.Fatal("a cutover at epoch 0 was accepted")
	}
	if _, err := protect.CutoverFloors(protect.Root{}, []protect.PublicKey{key(1)}, 1<<62, 32); err == nil {
		t.Fatal("an overflowing cutover slot was accepted")
	}
}
