package protect_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

var testGVR = protect.Root{0x04, 0x5b}

// action is one step of a scenario: a block or an attestation to sign, or
// an import. Every action in a scenario's history must succeed.
type action struct {
	block   *protect.Block
	att     *protect.Attestation
	import_ *protect.InterchangeValidator
}

func blk(slot uint64, r int) action {
	return action{block: &protect.Block{Slot: slot, SigningRoot: root(r)}}
}

func att(source, target uint64, r int) action {
	return action{att: &protect.Attestation{Source: source, Target: target, SigningRoot: root(r)}}
}

// imp imports blocks (slots) and attestations (source, target pairs)
// without signing roots, as many clients export them.
func imp(slots []uint64, pairs ...[2]uint64) action {
	v := &protect.InterchangeValidator{PublicKey: key(1)}
	for _, s := range slots {
		v.SignedBlocks = append(v.SignedBlocks, protect.SignedBlock{Slot: s})
	}
	for _, p := range pairs {
		v.SignedAttestations = append(v.SignedAttestations, protect.SignedAttestation{SourceEpoch: p[0], TargetEpoch: p[1]})
	}
	return action{import_: v}
}

// impRoot imports one attestation with its signing root.
func impRoot(source, target uint64, r int) action {
	return action{import_: &protect.InterchangeValidator{
		PublicKey:          key(1),
		SignedAttestations: []protect.SignedAttestation{{SourceEpoch: source, TargetEpoch: target, SigningRoot: root(r), HasSigningRoot: true}},
	}}
}

func (a action) run(ctx context.Context, db *protect.DB) error {
	switch {
	case a.block != nil:
		_, err := db.ApproveBlock(ctx, testGVR, key(1), *a.block)
		return err
	case a.att != nil:
		_, err := db.ApproveAttestation(ctx, testGVR, key(1), *a.att)
		return err
	}
	_, err := db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: testGVR, Data: []protect.InterchangeValidator{*a.import_}})
	return err
}

// withHistory is a database in which key(1) is registered and every
// action of history succeeded.
func withHistory(t *testing.T, history []action) (context.Context, *protect.DB) {
	t.Helper()
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	for i, a := range history {
		if err := a.run(ctx, db); err != nil {
			t.Fatalf("history step %d: %v", i, err)
		}
	}
	return ctx, db
}

func TestRules(t *testing.T) {
	const maxU = math.MaxUint64
	for _, tc := range []struct {
		name    string
		history []action
		request action
		want    error // nil: a valid permit
	}{
		{name: "accepts a first block", request: blk(10, 1)},
		{name: "accepts an exact repeat of a signed block", history: []action{blk(10, 1)}, request: blk(10, 1)},
		{name: "refuses a double proposal", history: []action{blk(10, 1)}, request: blk(10, 2), want: protect.ErrDoubleProposal},
		{name: "accepts a block below the newest when no watermark forbids it", history: []action{blk(10, 1)}, request: blk(5, 2)},
		{name: "refuses a block at the imported watermark", history: []action{imp([]uint64{10, 20})}, request: blk(10, 1), want: protect.ErrBelowWatermark},
		{name: "refuses a block below the imported watermark", history: []action{imp([]uint64{10})}, request: blk(9, 1), want: protect.ErrBelowWatermark},
		{name: "accepts a gap above the imported watermark", history: []action{imp([]uint64{10, 20})}, request: blk(15, 1)},
		{name: "refuses a slot imported without a root", history: []action{imp([]uint64{10, 20})}, request: blk(20, 1), want: protect.ErrDoubleProposal},
		{name: "accepts the largest slot", request: blk(maxU, 1)},

		{name: "accepts a first attestation", request: att(1, 2, 1)},
		{name: "accepts the genesis attestation", request: att(0, 0, 1)},
		{name: "refuses source after target", request: att(3, 2, 1), want: protect.ErrSourceAfterTarget},
		{name: "accepts an exact repeat", history: []action{att(1, 2, 1)}, request: att(1, 2, 1)},
		{name: "refuses a double vote", history: []action{att(1, 2, 1)}, request: att(1, 2, 2), want: protect.ErrDoubleVote},
		{name: "refuses a double vote with another source", history: []action{att(1, 3, 1)}, request: att(2, 3, 1), want: protect.ErrDoubleVote},
		{name: "refuses a surrounding vote", history: []action{att(3, 4, 1)}, request: att(2, 5, 2), want: protect.ErrSurroundVote},
		{name: "refuses a surrounded vote", history: []action{att(2, 5, 1)}, request: att(3, 4, 2), want: protect.ErrSurroundVote},
		{name: "accepts votes sharing a source", history: []action{att(2, 5, 1)}, request: att(2, 4, 2)},
		{name: "accepts an older vote filling a gap", history: []action{att(1, 2, 1), att(4, 5, 1)}, request: att(2, 3, 2)},
		{name: "refuses a source below the source watermark", history: []action{imp(nil, [2]uint64{5, 6})}, request: att(4, 7, 1), want: protect.ErrBelowWatermark},
		{name: "accepts a source at the source watermark", history: []action{imp(nil, [2]uint64{5, 6})}, request: att(5, 7, 1)},
		{name: "refuses a target at the target watermark", history: []action{imp(nil, [2]uint64{5, 6})}, request: att(6, 6, 1), want: protect.ErrBelowWatermark},
		{name: "accepts an exact repeat at the watermark when the root is known", history: []action{impRoot(5, 6, 7)}, request: att(5, 6, 7)},
		{name: "refuses a repeat of an attestation imported without root", history: []action{imp(nil, [2]uint64{5, 6}, [2]uint64{6, 8})}, request: att(6, 8, 0), want: protect.ErrDoubleVote},
		{name: "accepts the largest epochs", request: att(maxU, maxU, 1)},

		{
			name:    "never lowers a watermark on a second import",
			history: []action{imp([]uint64{40}), imp([]uint64{20})},
			request: blk(30, 1), want: protect.ErrBelowWatermark,
		},
		{
			name:    "a second import with older attestations keeps the higher watermarks",
			history: []action{imp(nil, [2]uint64{12, 13}), imp(nil, [2]uint64{10, 11})},
			request: att(11, 14, 1), want: protect.ErrBelowWatermark,
		},
		{
			// EIP-3076 complete strategy (suite case
			// multiple_interchanges_single_validator_single_message_gap):
			// the watermarks hold over everything imported, so a second
			// file does not raise them to its own minimum.
			name:    "accepts a block in the gap between two imports",
			history: []action{imp([]uint64{40}), imp([]uint64{50})},
			request: blk(45, 1),
		},
		{
			name:    "accepts an attestation in the gap between two imports",
			history: []action{imp(nil, [2]uint64{2, 30}), imp(nil, [2]uint64{10, 50})},
			request: att(3, 31, 1),
		},
		{
			name:    "still refuses the second import's own records",
			history: []action{imp([]uint64{40}), imp([]uint64{50})},
			request: blk(50, 1), want: protect.ErrDoubleProposal,
		},
		{
			name:    "still refuses what surrounds the second import's records",
			history: []action{imp(nil, [2]uint64{2, 30}), imp(nil, [2]uint64{10, 50})},
			request: att(9, 51, 1), want: protect.ErrSurroundVote,
		},
		{
			name:    "a first import with blocks only leaves the attestation watermarks to a later one",
			history: []action{imp([]uint64{40}), imp(nil, [2]uint64{10, 50})},
			request: att(9, 51, 1), want: protect.ErrBelowWatermark,
		},
		{
			name:    "merging imports of conflicting attestations refuses both",
			history: []action{impRoot(2, 3, 1), impRoot(2, 3, 2)},
			request: att(2, 3, 1), want: protect.ErrBelowWatermark,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, db := withHistory(t, tc.history)
			err := tc.request.run(ctx, db)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			case tc.want != nil && !errors.Is(err, protect.ErrRefused):
				t.Fatalf("refusal %v does not match ErrRefused", err)
			}
		})
	}
}

func TestRefusalErrorNamesKeyReasonAndValues(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 3, Target: 4}); err != nil {
		t.Fatal(err)
	}
	_, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 2, Target: 5})
	var re *protect.RefusalError
	if !errors.As(err, &re) {
		t.Fatalf("got %T %v, want *RefusalError", err, err)
	}
	if re.Key != key(1) || re.Reason != protect.ErrSurroundVote {
		t.Fatalf("got key %v reason %v", re.Key, re.Reason)
	}
	want := fmt.Sprintf("refused by slashing protection for %v: surround vote: 2->5 surrounds signed 3->4", key(1))
	if err.Error() != want {
		t.Fatalf("message\n got %q\nwant %q", err.Error(), want)
	}
}

// TestDoubleSigningRefusalNamesWhatWasSigned: a double vote or a double
// proposal names the signing root already signed when the database holds
// it (a second validator client signs the same data with it), and none
// when the record was imported without one.
func TestDoubleSigningRefusalNamesWhatWasSigned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []action
		request action
		want    *protect.Root
	}{
		{name: "double vote", history: []action{att(1, 2, 1)}, request: att(1, 2, 2), want: ptr(root(1))},
		{name: "double vote with another source", history: []action{att(1, 3, 1)}, request: att(2, 3, 1), want: ptr(root(1))},
		{name: "double proposal", history: []action{blk(10, 1)}, request: blk(10, 2), want: ptr(root(1))},
		{name: "vote imported without its root", history: []action{imp(nil, [2]uint64{5, 6}, [2]uint64{6, 8})}, request: att(6, 8, 1)},
		{name: "surround vote", history: []action{att(3, 4, 1)}, request: att(2, 5, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, db := withHistory(t, tc.history)
			var re *protect.RefusalError
			if err := tc.request.run(ctx, db); !errors.As(err, &re) {
				t.Fatalf("got %v, want a refusal", err)
			}
			switch {
			case tc.want == nil && re.Signed != nil:
				t.Errorf("names %s, want nothing", re.Signed)
			case tc.want != nil && (re.Signed == nil || *re.Signed != *tc.want):
				t.Errorf("names %v, want %s", re.Signed, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRequestsForAnotherNetworkAreRefused(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	other := protect.Root{0x99}
	if _, err := db.ApproveBlock(ctx, other, key(1), protect.Block{Slot: 1}); !errors.Is(err, protect.ErrWrongNetwork) {
		t.Errorf("block: got %v", err)
	}
	if _, err := db.ApproveAttestations(ctx, other, []protect.AttestationRequest{{Key: key(1)}}); !errors.Is(err, protect.ErrWrongNetwork) {
		t.Errorf("batch: got %v", err)
	}
	// The refused requests recorded nothing: the same messages pass on the
	// right network.
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 1, SigningRoot: root(2)}); err != nil {
		t.Errorf("after wrong-network request: %v", err)
	}
}

func TestUnknownKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if _, err := db.ApproveBlock(ctx, testGVR, key(9), protect.Block{Slot: 1}); !errors.Is(err, protect.ErrUnknownKey) {
		t.Fatalf("got %v", err)
	}
}

func TestBatchVerdictsAreIndependentAndInOrder(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1), key(2)); err != nil {
		t.Fatal(err)
	}
	reqs := []protect.AttestationRequest{
		{Key: key(1), Attestation: protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}},
		{Key: key(1), Attestation: protect.Attestation{Source: 1, Target: 2, SigningRoot: root(2)}}, // double vote with item 0
		{Key: key(3), Attestation: protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}}, // unknown key
		{Key: key(2), Attestation: protect.Attestation{Source: 5, Target: 4, SigningRoot: root(1)}}, // source after target
		{Key: key(2), Attestation: protect.Attestation{Source: 1, Target: 2, SigningRoot: root(3)}},
		{Key: key(1), Attestation: protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}}, // exact repeat of item 0
	}
	vs, err := db.ApproveAttestations(ctx, testGVR, reqs)
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, protect.ErrDoubleVote, protect.ErrUnknownKey, protect.ErrSourceAfterTarget, nil, nil}
	for i, v := range vs {
		switch {
		case want[i] == nil && (v.Err != nil || !v.Permit.Valid() || v.Permit.Key() != reqs[i].Key || v.Permit.SigningRoot() != reqs[i].SigningRoot):
			t.Errorf("item %d: got %v, permit valid %v", i, v.Err, v.Permit.Valid())
		case want[i] != nil && (!errors.Is(v.Err, want[i]) || v.Permit.Valid()):
			t.Errorf("item %d: got %v, want %v", i, v.Err, want[i])
		}
	}
}

func TestZeroPermitSignsNothing(t *testing.T) {
	var p protect.Permit
	if _, err := p.Sign(nil); !errors.Is(err, protect.ErrNoPermit) {
		t.Fatalf("got %v", err)
	}
}
