package chaos

import (
	"fmt"
)

// ChainFacts is what the beacon chain says about the run: the judge reads
// nothing else to decide whether duties were done.
type ChainFacts struct {
	SlotsPerEpoch uint64
	// Cluster holds the validators the cluster signs for; only their
	// duties are judged (nil: every validator's).
	Cluster map[uint64]bool
	// Others, when set, judges the validators not in Cluster instead:
	// the control group, whose keys sit in Prysm's validator client beside
	// beacon node 2, untouched by any fault (see Control).
	Others bool
	// Proposers holds each slot's proposer, from the proposer duties.
	Proposers map[uint64]uint64
	// Blocks holds the canonical block of each slot that has one.
	Blocks map[uint64]BlockFact
	// Attesters holds each epoch's attester duties.
	Attesters map[uint64][]AttesterDuty
	// Rewards holds each epoch's attestation rewards by validator index.
	Rewards map[uint64]map[uint64]AttestationReward
	// SyncCommittee is the current sync committee, seat by seat.
	SyncCommittee []uint64
	// Slashed lists the validators the head state says are slashed.
	Slashed []uint64
	// Justified and Finalized are the head state's checkpoints' epochs at
	// the end of the run.
	Justified, Finalized uint64
	// PoolSlashings counts the slashings waiting in the beacon nodes'
	// pools at the end.
	PoolSlashings int
}

// BlockFact is one canonical block.
type BlockFact struct {
	Slot     uint64
	Proposer uint64
	Graffiti string
	// SyncBits is the block's sync aggregate: which seats signed the
	// previous slot's head.
	SyncBits []byte
	// Slashings is the number of proposer and attester slashings it
	// carries.
	Slashings int
}

// AttesterDuty is one validator's attestation duty.
type AttesterDuty struct {
	Validator uint64
	Slot      uint64
}

// AttestationReward is what one validator earned for its attestation of
// an epoch. A validator that missed the source or target flag is
// penalised (a negative value); one that earned it gets a positive reward,
// or nothing at all while the chain is in an inactivity leak (more than
// four epochs without finality), when flags earn no reward but missing
// them is still penalised. So a flag was earned exactly when its value is
// not negative. The head flag carries no penalty: it shows only outside a
// leak (positive).
type AttestationReward struct {
	Head, Source, Target int64
}

// Tally counts the duties of a window of slots and how many the chain
// shows done.
type Tally struct {
	Proposals, ProposalsIncluded int
	// Attestations counts attestation duties; AttestationsIncluded those
	// included with the correct target (the timely target flag);
	// SourceTimely and HeadTimely the finer flags, for the record.
	Attestations, AttestationsIncluded int
	SourceTimely, HeadTimely           int
	// SyncMessages counts sync committee messages that a block could
	// include (the next slot has a block; a missing block is already a
	// missed proposal); SyncIncluded those whose bits it carries.
	SyncMessages, SyncIncluded int
	// Slashings in the window's blocks.
	Slashings int
	// Unknown counts duties whose outcome the beacon node did not serve
	// (an epoch's rewards, a slot's proposer): neither included nor missed.
	Unknown int
}

// Duties is the total of duties in the tally.
func (t Tally) Duties() int { return t.Proposals + t.Attestations + t.SyncMessages }

// Included is the total of duties done.
func (t Tally) Included() int { return t.ProposalsIncluded + t.AttestationsIncluded + t.SyncIncluded }

// Missed is the duties not done.
func (t Tally) Missed() int { return t.Duties() - t.Included() }

// MissedShare is Missed over Duties (0 without duties).
func (t Tally) MissedShare() float64 {
	if t.Duties() == 0 {
		return 0
	}
	return float64(t.Missed()) / float64(t.Duties())
}

// Add sums two tallies.
func (t Tally) Add(o Tally) Tally {
	return Tally{
		Proposals: t.Proposals + o.Proposals, ProposalsIncluded: t.ProposalsIncluded + o.ProposalsIncluded,
		Attestations: t.Attestations + o.Attestations, AttestationsIncluded: t.AttestationsIncluded + o.AttestationsIncluded,
		SourceTimely: t.SourceTimely + o.SourceTimely, HeadTimely: t.HeadTimely + o.HeadTimely,
		SyncMessages: t.SyncMessages + o.SyncMessages, SyncIncluded: t.SyncIncluded + o.SyncIncluded,
		Slashings: t.Slashings + o.Slashings, Unknown: t.Unknown + o.Unknown,
	}
}

// Judge tallies the slots [from, to).
func (f *ChainFacts) Judge(from, to uint64) Tally {
	var t Tally
	for slot := from; slot < to; slot++ {
		b, ok := f.Blocks[slot]
		if ok {
			t.Slashings += b.Slashings
		}
		proposer, known := f.Proposers[slot]
		switch {
		case f.Cluster == nil || known && f.judged(proposer):
			t.Proposals++
			if ok {
				t.ProposalsIncluded++
			}
		case !known:
			t.Unknown++
		}
		// Messages of this slot ride in the next slot's block.
		if next, ok := f.Blocks[slot+1]; ok && len(f.SyncCommittee) > 0 {
			signed := map[uint64]bool{}
			members := map[uint64]bool{}
			for seat, v := range f.SyncCommittee {
				if !f.judged(v) {
					continue
				}
				members[v] = true
				if bit(next.SyncBits, seat) {
					signed[v] = true
				}
			}
			t.SyncMessages += len(members)
			t.SyncIncluded += len(signed)
		}
	}
	if f.SlotsPerEpoch == 0 {
		return t
	}
	for e := from / f.SlotsPerEpoch; e*f.SlotsPerEpoch < to; e++ {
		rewards := f.Rewards[e]
		for _, d := range f.Attesters[e] {
			if d.Slot < from || d.Slot >= to || !f.judged(d.Validator) {
				continue
			}
			r, ok := rewards[d.Validator]
			if !ok {
				t.Unknown++
				continue
			}
			t.Attestations++
			if r.Target >= 0 {
				t.AttestationsIncluded++
			}
			if r.Source >= 0 {
				t.SourceTimely++
			}
			if r.Head > 0 {
				t.HeadTimely++
			}
		}
	}
	return t
}

// judged reports whether validator v's duties are judged.
func (f *ChainFacts) judged(v uint64) bool { return f.Cluster == nil || f.Cluster[v] != f.Others }

// Control returns the same facts judging the control group: every
// validator the cluster does not hold. Their keys are local to Prysm's
// validator client, which no fault touches, on the same chain and the
// same machine: what they miss in a window is what the machine and the
// chain cost any validator then, not what Rampart cost.
func (f *ChainFacts) Control() *ChainFacts {
	c := *f
	c.Others = true
	return &c
}

// EpochTally tallies one whole epoch.
func (f *ChainFacts) EpochTally(e uint64) Tally {
	return f.Judge(e*f.SlotsPerEpoch, (e+1)*f.SlotsPerEpoch)
}

// bit reads bit i of an SSZ bitvector (little-endian within bytes).
func bit(b []byte, i int) bool {
	if i/8 >= len(b) {
		return false
	}
	return b[i/8]&(1<<(uint(i)%8)) != 0
}

// Verdict is a scenario's outcome against the bar.
type Verdict struct {
	Pass    bool
	Reasons []string
}

// MaxMissedShare is the bar for a scenario within the cluster's tolerance:
// at most 1% of its duties missed beyond what the control group missed.
const MaxMissedShare = 0.01

// Decide applies the bar: no slashing ever; no lost approval; and, for a
// scenario that affects at most tolerance signers, at most MaxMissedShare
// of its duties missed beyond the control group's missed share in the
// same window (control: the validators with local keys, see
// ChainFacts.Control; a zero Tally when there is none). On a machine that
// keeps up with the chain the control group misses nothing and the bar is
// the plain 1%; on a machine so loaded that validators with local keys
// miss duties too, only the cluster's excess counts against Rampart. A
// scenario beyond tolerance (or a window with duties whose outcome is
// unknown) is reported, not failed, on its misses.
func Decide(t, control Tally, affected, tolerance int, slashed, lostApprovals int) Verdict {
	v := Verdict{Pass: true}
	if t.Slashings > 0 || slashed > 0 {
		v.Pass = false
		v.Reasons = append(v.Reasons, fmt.Sprintf("slashings: %d in blocks, %d validators slashed", t.Slashings, slashed))
	}
	if lostApprovals > 0 {
		v.Pass = false
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d approvals lost", lostApprovals))
	}
	if affected <= tolerance && t.MissedShare() > control.MissedShare()+MaxMissedShare {
		v.Pass = false
		v.Reasons = append(v.Reasons, fmt.Sprintf("missed %d of %d duties (%.2f%%; control group %.2f%%; bar: control + %.0f%%) with %d of at most %d signers affected",
			t.Missed(), t.Duties(), 100*t.MissedShare(), 100*control.MissedShare(), 100*MaxMissedShare, affected, tolerance))
	}
	if t.Duties() == 0 {
		v.Pass = false
		v.Reasons = append(v.Reasons, "no duties observed in the window")
	}
	return v
}
