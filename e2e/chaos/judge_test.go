package chaos

import (
	"strings"
	"testing"
)

// facts builds two epochs of 4 slots with 4 validators, one attester per
// slot, each validator holding two of the eight sync seats.
func facts() *ChainFacts {
	f := &ChainFacts{SlotsPerEpoch: 4, Blocks: map[uint64]BlockFact{}, Attesters: map[uint64][]AttesterDuty{}, Rewards: map[uint64]map[uint64]AttestationReward{},
		SyncCommittee: []uint64{0, 1, 2, 3, 0, 1, 2, 3}}
	for slot := uint64(0); slot < 9; slot++ {
		f.Blocks[slot] = BlockFact{Slot: slot, SyncBits: []byte{0xff}}
	}
	for e := uint64(0); e < 2; e++ {
		f.Rewards[e] = map[uint64]AttestationReward{}
		for v := uint64(0); v < 4; v++ {
			f.Attesters[e] = append(f.Attesters[e], AttesterDuty{Validator: v, Slot: e*4 + v})
			f.Rewards[e][v] = AttestationReward{Head: 1, Source: 1, Target: 1}
		}
	}
	return f
}

func TestJudgeCountsEveryDutyOfAPerfectWindow(t *testing.T) {
	tl := facts().Judge(0, 8)
	if tl.Proposals != 8 || tl.ProposalsIncluded != 8 || tl.Attestations != 8 || tl.AttestationsIncluded != 8 || tl.SyncMessages != 32 || tl.SyncIncluded != 32 {
		t.Fatalf("tally %+v", tl)
	}
	if tl.Missed() != 0 || tl.Duties() != 48 {
		t.Errorf("missed %d of %d", tl.Missed(), tl.Duties())
	}
}

func TestJudgeCountsMissedBlocksAttestationsAndSyncMessages(t *testing.T) {
	f := facts()
	delete(f.Blocks, 5)                                                   // a missed proposal; slot 4's sync messages had no block to ride
	f.Rewards[0][2] = AttestationReward{Head: -1, Source: -1, Target: -1} // validator 2 missed epoch 0
	f.Rewards[1][3] = AttestationReward{Head: -1, Source: 1, Target: 1}   // late head: still included
	b := f.Blocks[3]
	b.SyncBits = []byte{0xff &^ (1 << 1) &^ (1 << 5)} // validator 1 signed neither seat for slot 2
	f.Blocks[3] = b
	tl := f.Judge(0, 8)
	if tl.ProposalsIncluded != 7 {
		t.Errorf("blocks %d/8, want 7", tl.ProposalsIncluded)
	}
	if tl.AttestationsIncluded != 7 || tl.HeadTimely != 6 {
		t.Errorf("attestations %d/8 (head %d), want 7 and 6", tl.AttestationsIncluded, tl.HeadTimely)
	}
	if tl.SyncMessages != 28 || tl.SyncIncluded != 27 {
		t.Errorf("sync %d/%d, want 27/28 (slot 4 has no next block)", tl.SyncIncluded, tl.SyncMessages)
	}
	if tl.Missed() != 3 {
		t.Errorf("missed %d, want 3", tl.Missed())
	}
}

func TestJudgeCountsFlagsEarnedDuringAnInactivityLeak(t *testing.T) {
	// Without finality for more than four epochs, earned flags pay 0 and
	// missed ones are penalised: a 0 is an attestation included.
	f := facts()
	for v := uint64(0); v < 4; v++ {
		f.Rewards[1][v] = AttestationReward{Head: 0, Source: 0, Target: 0}
	}
	f.Rewards[1][2] = AttestationReward{Head: 0, Source: -5, Target: -9}
	tl := f.Judge(4, 8)
	if tl.AttestationsIncluded != 3 || tl.SourceTimely != 3 {
		t.Errorf("in a leak: %d included, %d timely source; want 3 and 3", tl.AttestationsIncluded, tl.SourceTimely)
	}
}

func TestJudgeCountsOnlyTheClustersValidators(t *testing.T) {
	// The cluster holds validators 0 and 1; 2 and 3 sign elsewhere.
	f := facts()
	f.Cluster = map[uint64]bool{0: true, 1: true}
	f.Proposers = map[uint64]uint64{}
	for slot := uint64(0); slot < 9; slot++ {
		f.Proposers[slot] = slot % 4
	}
	delete(f.Blocks, 2)                                                   // validator 2's missed block is not the cluster's
	delete(f.Blocks, 5)                                                   // validator 1's is
	f.Rewards[0][3] = AttestationReward{Head: -1, Source: -1, Target: -1} // not the cluster's
	tl := f.Judge(0, 8)
	if tl.Proposals != 4 || tl.ProposalsIncluded != 3 {
		t.Errorf("blocks %d/%d, want 3/4", tl.ProposalsIncluded, tl.Proposals)
	}
	if tl.Attestations != 4 || tl.AttestationsIncluded != 4 {
		t.Errorf("attestations %d/%d, want 4/4", tl.AttestationsIncluded, tl.Attestations)
	}
	// Six slots have a next block (those of slots 2 and 5 are missing):
	// two members each.
	if tl.SyncMessages != 2*6 {
		t.Errorf("sync messages %d, want 12", tl.SyncMessages)
	}
	delete(f.Proposers, 4)
	if tl := f.Judge(0, 8); tl.Unknown != 1 || tl.Proposals != 3 {
		t.Errorf("a slot without a known proposer: %d unknown, %d judged; want 1 and 3", tl.Unknown, tl.Proposals)
	}
}

func TestJudgeWindowsFollowSlotsNotEpochs(t *testing.T) {
	tl := facts().Judge(2, 6)
	if tl.Proposals != 4 || tl.Attestations != 4 {
		t.Errorf("slots 2-5: %d proposals and %d attestations, want 4 and 4", tl.Proposals, tl.Attestations)
	}
	f := facts()
	delete(f.Rewards, 1)
	if tl := f.Judge(0, 8); tl.Unknown != 4 || tl.Attestations != 4 {
		t.Errorf("without epoch 1's rewards: %d unknown, %d judged; want 4 and 4", tl.Unknown, tl.Attestations)
	}
}

func TestDecideAppliesTheBar(t *testing.T) {
	perfect := Tally{Proposals: 100, ProposalsIncluded: 100, Attestations: 100, AttestationsIncluded: 100}
	onePercent := perfect
	onePercent.AttestationsIncluded = 98 // 2 of 200
	over := perfect
	over.AttestationsIncluded = 97 // 3 of 200
	slashing := perfect
	slashing.Slashings = 1
	for _, tc := range []struct {
		name                    string
		t                       Tally
		affected, slashed, lost int
		pass                    bool
		reason                  string
	}{
		{"nothing missed", perfect, 2, 0, 0, true, ""},
		{"exactly 1% missed within tolerance", onePercent, 1, 0, 0, true, ""},
		{"over 1% missed within tolerance fails", over, 2, 0, 0, false, "missed 3 of 200"},
		{"over 1% missed beyond tolerance is reported only", over, 3, 0, 0, true, ""},
		{"a slashing in a block fails", slashing, 0, 0, 0, false, "slashings"},
		{"a slashed validator fails", perfect, 0, 1, 0, false, "slashings"},
		{"a lost approval fails", perfect, 0, 0, 1, false, "approvals lost"},
		{"an empty window fails", Tally{}, 0, 0, 0, false, "no duties"},
	} {
		v := Decide(tc.t, Tally{}, tc.affected, 2, tc.slashed, tc.lost)
		if v.Pass != tc.pass || (tc.reason != "" && !strings.Contains(strings.Join(v.Reasons, ";"), tc.reason)) {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
}

func TestControlJudgesTheValidatorsTheClusterDoesNotHold(t *testing.T) {
	f := facts()
	f.Cluster = map[uint64]bool{0: true, 1: true}
	f.Rewards[0][2] = AttestationReward{Target: -1} // a control validator missed its target
	f.Blocks[3] = BlockFact{Slot: 3, Proposer: 3, SyncBits: []byte{0x33}}
	f.Proposers = map[uint64]uint64{}
	for slot := uint64(0); slot < 8; slot++ {
		f.Proposers[slot] = slot % 4
	}
	cl, co := f.Judge(0, 4), f.Control().Judge(0, 4)
	if cl.Attestations != 2 || cl.AttestationsIncluded != 2 || co.Attestations != 2 || co.AttestationsIncluded != 1 {
		t.Errorf("attestations: cluster %+v, control %+v", cl, co)
	}
	if cl.Proposals != 2 || co.Proposals != 2 {
		t.Errorf("proposals: cluster %d, control %d; want 2 and 2", cl.Proposals, co.Proposals)
	}
	// Slot 2's messages ride in block 3, whose bits 0x33 hold seats 0, 1,
	// 4 and 5: validators 0 and 1 signed, 2 and 3 did not.
	if cl.Missed() != 0 || co.SyncIncluded != co.SyncMessages-2 {
		t.Errorf("sync: cluster %+v, control %+v", cl, co)
	}
	if f.Others {
		t.Error("Control changed the facts it was called on")
	}
}

// A machine so loaded that validators with local keys miss duties too
// must not be blamed on Rampart; Rampart's own misses on top still are.
func TestDecideCountsOnlyMissesBeyondTheControlGroup(t *testing.T) {
	tally := func(missed int) Tally {
		return Tally{Attestations: 100, AttestationsIncluded: 100 - missed}
	}
	for _, tc := range []struct {
		name             string
		cluster, control Tally
		pass             bool
	}{
		{"the machine cost everyone 20%", tally(20), tally(20), true},
		{"1% beyond the control group", tally(21), tally(20), true},
		{"Rampart's own misses on top fail", tally(25), tally(20), false},
		{"an idle machine: the plain 1% bar", tally(2), Tally{}, false},
		{"a control group doing better does not lower the bar", tally(1), tally(0), true},
	} {
		v := Decide(tc.cluster, tc.control, 1, 2, 0, 0)
		if v.Pass != tc.pass {
			t.Errorf("%s: %+v", tc.name, v)
		}
		if !tc.pass && !strings.Contains(strings.Join(v.Reasons, ";"), "control group") {
			t.Errorf("%s: the reason does not name the control group: %v", tc.name, v.Reasons)
		}
	}
}
