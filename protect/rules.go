package protect

import (
	"cmp"
	"slices"
)

// minKeptBlocks is how many of a key's newest blocks survive pruning
// regardless of age. A validator proposes every few weeks on mainnet, so
// they cost nothing, and they keep exact repeats and gap-filling proposals
// possible after a long quiet spell.
const minKeptBlocks = 16

// blockRecord is a signed block. known is false when the signing root is
// unknown: imported without one, or two different roots merged. An unknown
// root never matches a request, so the slot is closed for good.
type blockRecord struct {
	slot  uint64
	root  Root
	known bool
}

// attRecord is a signed attestation; known as for blockRecord.
type attRecord struct {
	source, target uint64
	root           Root
	known          bool
}

// keyState is everything the database knows about one key: the kept history
// and the low watermarks below which nothing is signed.
//
// Invariants, restored by normalize after every change:
//   - blocks ascend by slot, one record per slot; atts ascend by (target,
//     source), one record per pair;
//   - no block is below the block watermark and no attestation has a source
//     below the source watermark or a target below the target watermark, so
//     the minima of an export are exactly the watermarks (see export.go).
type keyState struct {
	key      PublicKey
	disabled bool

	// The block and target watermarks refuse values at or below them
	// (EIP-3076 conditions 3 and 5), so they need a "set" flag; the source
	// watermark refuses values strictly below it (condition 4), where zero
	// already refuses nothing.
	blockFloor     uint64
	sourceFloor    uint64
	targetFloor    uint64
	blockFloorSet  bool
	targetFloorSet bool
	// blockImported and attImported record that an import has set the
	// block or attestation watermarks; later imports keep their records
	// but leave the watermarks alone (see importFloors).
	blockImported bool
	attImported   bool

	blocks []blockRecord
	atts   []attRecord

	// dirty marks a state changed since its snapshot was last written; see
	// checkpoint.go.
	dirty bool
}

// checkBlock decides a block request against the state. repeat reports an
// exact repeat of a kept record, which needs no new record. known is false
// only when an import asks whether a root-less record would conflict.
func (k *keyState) checkBlock(b Block, known bool) (repeat bool, err error) {
	i, found := k.findBlock(b.Slot)
	if found && known && k.blocks[i].known && k.blocks[i].root == b.SigningRoot {
		return true, nil
	}
	if k.blockFloorSet && b.Slot <= k.blockFloor {
		return false, refuse(k.key, ErrBelowWatermark, "slot %d <= block watermark %d", b.Slot, k.blockFloor)
	}
	if found {
		return false, conflict(refuse(k.key, ErrDoubleProposal, "slot %d already signed with %s", b.Slot, describeRoot(k.blocks[i].root, k.blocks[i].known)), k.blocks[i].root, k.blocks[i].known)
	}
	return false, nil
}

// checkAttestation decides an attestation request against the state.
func (k *keyState) checkAttestation(a Attestation, known bool) (repeat bool, err error) {
	if a.Source > a.Target {
		return false, refuse(k.key, ErrSourceAfterTarget, "source %d > target %d", a.Source, a.Target)
	}
	i, found := k.findAttestation(a.Source, a.Target)
	if found && known && k.atts[i].known && k.atts[i].root == a.SigningRoot {
		return true, nil
	}
	if a.Source < k.sourceFloor {
		return false, refuse(k.key, ErrBelowWatermark, "source %d < source watermark %d", a.Source, k.sourceFloor)
	}
	if k.targetFloorSet && a.Target <= k.targetFloor {
		return false, refuse(k.key, ErrBelowWatermark, "target %d <= target watermark %d", a.Target, k.targetFloor)
	}
	for _, r := range k.atts {
		switch {
		case r.target == a.Target:
			return false, conflict(refuse(k.key, ErrDoubleVote, "target %d already signed (source %d, %s)", r.target, r.source, describeRoot(r.root, r.known)), r.root, r.known)
		case a.Source < r.source && a.Target > r.target:
			return false, refuse(k.key, ErrSurroundVote, "%d->%d surrounds signed %d->%d", a.Source, a.Target, r.source, r.target)
		case a.Source > r.source && a.Target < r.target:
			return false, refuse(k.key, ErrSurroundVote, "%d->%d is surrounded by signed %d->%d", a.Source, a.Target, r.source, r.target)
		}
	}
	return false, nil
}

// conflict adds the signing root already signed to a refusal, if known.
func conflict(err error, r Root, known bool) error {
	if known {
		err.(*RefusalError).Signed = &r
	}
	return err
}

func describeRoot(r Root, known bool) string {
	if !known {
		return "unknown signing root"
	}
	return "signing root " + r.String()
}

func (k *keyState) findBlock(slot uint64) (int, bool) {
	return slices.BinarySearchFunc(k.blocks, slot, func(r blockRecord, s uint64) int { return cmp.Compare(r.slot, s) })
}

func (k *keyState) findAttestation(source, target uint64) (int, bool) {
	return slices.BinarySearchFunc(k.atts, [2]uint64{target, source}, func(r attRecord, t [2]uint64) int {
		if c := cmp.Compare(r.target, t[0]); c != 0 {
			return c
		}
		return cmp.Compare(r.source, t[1])
	})
}

// addBlock merges a record into the history. Two different roots for one
// slot (possible only through imports) merge into an unknown root, which
// refuses every request for that slot.
func (k *keyState) addBlock(slot uint64, root Root, known bool) {
	i, found := k.findBlock(slot)
	if found {
		r := &k.blocks[i]
		if !(r.known && known && r.root == root) {
			r.known, r.root = false, Root{}
		}
		return
	}
	k.blocks = insertAt(k.blocks, i, blockRecord{slot: slot, root: root, known: known}, minKeptBlocks+1)
}

// addAttestation merges a record as addBlock does.
func (k *keyState) addAttestation(source, target uint64, root Root, known bool, h horizon) {
	i, found := k.findAttestation(source, target)
	if found {
		r := &k.atts[i]
		if !(r.known && known && r.root == root) {
			r.known, r.root = false, Root{}
		}
		return
	}
	limit := int(min(h.epochs, 1<<16)) + 1
	k.atts = insertAt(k.atts, i, attRecord{source: source, target: target, root: root, known: known}, limit)
}

// insertAt inserts v at i. When the slice must grow it grows towards the
// steady-state length limit rather than doubling past it: with 100,000 keys
// a doubled history would waste most of the memory it takes.
func insertAt[T any](s []T, i int, v T, limit int) []T {
	if len(s) == cap(s) {
		n := max(2*cap(s), 4)
		if len(s) < limit && n > limit {
			n = limit
		}
		grown := make([]T, len(s), n)
		copy(grown, s)
		s = grown
	}
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// importFloors applies the watermarks of an import: EIP-3076 conditions 3
// to 5 refuse any block at or below the minimum slot, and any attestation
// with a source below the minimum source or a target at or below the
// minimum target, of the imported data. A database that keeps complete
// history reads "the imported data" as everything imported for the key so
// far, as the interchange test suite's should_succeed_complete
// expectations do: after one file with a block at slot 40 and another
// with one at 50, slot 45 conflicts with no record and may be signed. So
// the first import that brings blocks (attestations) for a key sets its
// block (attestation) watermarks, and later imports only add records: the
// minimum over every import is then at most the first one's, and keeping
// the first one's refuses at least as much. A watermark never falls; one
// that pruning raised higher stays where it is. Afterwards watermarks rise
// only by pruning (normalize).
func (k *keyState) importFloors(f floors) {
	if f.blockSet && !k.blockImported {
		k.foldBlock(f.block)
		k.blockImported = true
	}
	if f.targetSet && !k.attImported {
		k.sourceFloor = max(k.sourceFloor, f.source)
		if !k.targetFloorSet || f.target > k.targetFloor {
			k.targetFloor = f.target
		}
		k.targetFloorSet = true
		k.attImported = true
	}
}

// raiseFloors applies watermarks as schema 1 did for every import: each
// rises to the file's minimum if that is higher. Imports read file by file
// (RaiseWatermarks, disabled keys) apply it, and journal entries of schema
// 1 replay through it with the meaning they had. It leaves the import
// flags alone, so the key's next import raises the watermarks again: the
// conservative reading.
func (k *keyState) raiseFloors(f floors) {
	if f.blockSet {
		k.foldBlock(f.block)
	}
	k.sourceFloor = max(k.sourceFloor, f.source)
	if f.targetSet {
		if !k.targetFloorSet || f.target > k.targetFloor {
			k.targetFloor = f.target
		}
		k.targetFloorSet = true
	}
}

// floors is a set of watermarks as an import or the journal carries them.
type floors struct {
	block, source, target uint64
	blockSet, targetSet   bool
}

func (k *keyState) foldBlock(slot uint64) {
	if !k.blockFloorSet || slot > k.blockFloor {
		k.blockFloor = slot
	}
	k.blockFloorSet = true
}

// foldAttestation raises the watermarks so they refuse everything the record
// refused: a double vote on its target or anything surrounding or surrounded
// by it needs a source below its source or a target at or below its target.
func (k *keyState) foldAttestation(r attRecord) {
	k.sourceFloor = max(k.sourceFloor, r.source)
	if !k.targetFloorSet || r.target > k.targetFloor {
		k.targetFloor = r.target
	}
	k.targetFloorSet = true
}

// normalize prunes history older than the horizon into the watermarks and
// drops records the watermarks already cover, restoring the invariants.
// The result does not depend on the order records and watermarks arrived
// in, which is what lets the journal be replayed over a snapshot that
// already holds some of it.
func (k *keyState) normalize(h horizon) {
	if n := len(k.blocks); n > minKeptBlocks {
		newest := k.blocks[n-1].slot
		i := 0
		for i < n-minKeptBlocks && newest-k.blocks[i].slot >= h.slots {
			k.foldBlock(k.blocks[i].slot)
			i++
		}
		k.blocks = dropFront(k.blocks, i)
	}
	if k.blockFloorSet {
		i := 0
		for i < len(k.blocks) && k.blocks[i].slot < k.blockFloor {
			i++
		}
		k.blocks = dropFront(k.blocks, i)
	}
	if n := len(k.atts); n > 0 {
		newest := k.atts[n-1].target
		i := 0
		// Past the horizon, and beyond the cap on records per key: within
		// the horizon an honest validator has at most one record per
		// target, so only conflicting histories (imported double votes)
		// reach the cap, and folding their oldest records refuses nothing
		// honest that the records themselves did not refuse.
		for i < n && (newest-k.atts[i].target >= h.epochs || n-i > h.maxAtts) {
			k.foldAttestation(k.atts[i])
			i++
		}
		k.atts = dropFront(k.atts, i)
	}
	// Folding one record can raise a watermark above another; repeat until
	// nothing moves. Each pass removes a record, so this ends.
	for {
		kept := k.atts[:0]
		folded := false
		for _, r := range k.atts {
			if r.source < k.sourceFloor || (k.targetFloorSet && r.target < k.targetFloor) {
				k.foldAttestation(r)
				folded = true
				continue
			}
			kept = append(kept, r)
		}
		clear(k.atts[len(kept):])
		k.atts = kept
		if !folded {
			break
		}
	}
}

// dropFront removes the first i elements in place, keeping the backing
// array so the steady state allocates nothing.
func dropFront[T any](s []T, i int) []T {
	if i == 0 {
		return s
	}
	n := copy(s, s[i:])
	clear(s[n:])
	return s[:n]
}

// clone returns a deep copy, for dry runs that must not touch the state.
func (k *keyState) clone() *keyState {
	c := *k
	c.blocks = slices.Clone(k.blocks)
	c.atts = slices.Clone(k.atts)
	return &c
}
