package protect

import (
	"context"
	"fmt"
)

// ImportResult says what an import did for one validator.
type ImportResult struct {
	// Key is the validator.
	Key PublicKey
	// New is set when the key was not registered before; it is now, and
	// enabled.
	New bool
	// Blocks and Attestations count the records the file held for the key.
	Blocks, Attestations int
	// Conflicts counts records the database would have refused to sign as
	// new messages at that point of the import: slashable with respect to
	// the file itself or to what the database already held. They are kept
	// anyway, so they refuse everything they conflict with; a non-zero count
	// means the file's source signed something it should not have, or the
	// same history was imported twice without signing roots.
	Conflicts int
}

// Import merges an EIP-3076 document into the database in one durable
// commit. Merging only ever adds refusals: every record is kept as a record
// (records with the same slot, or source and target, but different or
// missing roots merge into one that matches nothing), subject to the same
// pruning as the database's own history (Config.HistoryEpochs). The first
// import that brings blocks (attestations) for a key sets its block
// (attestation) watermarks to the file's minima (EIP-3076 conditions 3 to
// 5); later imports add their records and leave the watermarks alone, so
// that the conditions hold over everything imported, as the complete
// strategy reads them (see importFloors in rules.go). A watermark never
// falls. Keys new to the database are registered and enabled; disabled
// keys stay disabled.
//
// Two cases read the document file by file instead, as a minimal database
// reads EIP-3076: its minima raise the key's watermarks (never lower them)
// even if an earlier import set them. [RaiseWatermarks] asks for it; use
// it for a file that may leave out what its source signed below its
// minima: a minimal export (one record per validator), or the export of a
// database that prunes, such as Rampart's own, covering a period this
// database did not see (a signer restored from a backup importing a
// healthy peer's history). And a key that is disabled here (removed by
// keymanager DELETE) has, if it comes back, signed elsewhere meanwhile, so
// its imports are always read file by file.
//
// The whole document is checked first and nothing changes if it fails: a
// document for another network fails with [ErrWrongNetwork], one holding a
// slot, source or target beyond [Config.Limit] with [ErrFuture] naming the
// first such record (data[i].signed_blocks[j] or
// data[i].signed_attestations[j]), and without a limit it fails with
// [ErrNoLimit].
//
// Results come one per distinct key, in order of first appearance.
func (db *DB) Import(ctx context.Context, ic *Interchange, opts ...ImportOption) ([]ImportResult, error) {
	var o importOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ic.GenesisValidatorsRoot != db.gvr {
		return nil, fmt.Errorf("%w: interchange for %v, database for %v", ErrWrongNetwork, ic.GenesisValidatorsRoot, db.gvr)
	}
	lim, err := db.limit()
	if err != nil {
		return nil, err
	}
	if err := lim.checkInterchange(ic, db.cfg.SlotsPerEpoch); err != nil {
		return nil, fmt.Errorf("protect: %w; nothing was imported", err)
	}
	groups := groupByKey(ic)

	if err := db.lockUsable(); err != nil {
		return nil, err
	}
	b := db.open
	results := make([]ImportResult, len(groups))
	for i, g := range groups {
		results[i] = db.importKeyLocked(b, g, o)
	}
	db.mu.Unlock()
	if err := db.wait(ctx, b); err != nil {
		return nil, err
	}
	return results, nil
}

// ImportOption changes how [DB.Import] applies a document.
type ImportOption func(*importOptions)

type importOptions struct {
	raise bool
}

// RaiseWatermarks makes the document's minima watermarks of its keys even
// where an earlier import set them (EIP-3076 conditions 3 to 5 read file by
// file); see [DB.Import].
func RaiseWatermarks() ImportOption { return func(o *importOptions) { o.raise = true } }

// keyImport is everything one document says about one key.
type keyImport struct {
	key    PublicKey
	blocks []SignedBlock
	atts   []SignedAttestation
}

func groupByKey(ic *Interchange) []*keyImport {
	var groups []*keyImport
	at := make(map[PublicKey]*keyImport, len(ic.Data))
	for _, v := range ic.Data {
		g := at[v.PublicKey]
		if g == nil {
			g = &keyImport{key: v.PublicKey}
			at[v.PublicKey] = g
			groups = append(groups, g)
		}
		g.blocks = append(g.blocks, v.SignedBlocks...)
		g.atts = append(g.atts, v.SignedAttestations...)
	}
	return groups
}

// fileFloors are the watermarks EIP-3076 derives from one document: the
// minimum slot, source and target it holds for the key.
func (g *keyImport) fileFloors() floors {
	var f floors
	for i, b := range g.blocks {
		if i == 0 || b.Slot < f.block {
			f.block = b.Slot
		}
		f.blockSet = true
	}
	for i, a := range g.atts {
		if i == 0 || a.SourceEpoch < f.source {
			f.source = a.SourceEpoch
		}
		if i == 0 || a.TargetEpoch < f.target {
			f.target = a.TargetEpoch
		}
		f.targetSet = true
	}
	return f
}

// importKeyLocked counts conflicts on a copy of the key's state, then
// queues the operations and applies them exactly as replay will.
func (db *DB) importKeyLocked(b *batch, g *keyImport, opts importOptions) ImportResult {
	res := ImportResult{Key: g.key, Blocks: len(g.blocks), Attestations: len(g.atts)}
	cur := db.keys[g.key]
	var sim *keyState
	if cur == nil {
		res.New = true
		sim = &keyState{key: g.key}
	} else {
		sim = cur.clone()
	}
	// Records are checked before the file's watermarks apply, as if each
	// were being signed now: a record below the file's own minimum is not a
	// conflict, one below the database's is.
	for _, r := range g.blocks {
		if _, err := sim.checkBlock(Block{Slot: r.Slot, SigningRoot: r.SigningRoot}, r.HasSigningRoot); err != nil {
			res.Conflicts++
		}
		sim.addBlock(r.Slot, r.SigningRoot, r.HasSigningRoot)
	}
	for _, r := range g.atts {
		a := Attestation{Source: r.SourceEpoch, Target: r.TargetEpoch, SigningRoot: r.SigningRoot}
		if _, err := sim.checkAttestation(a, r.HasSigningRoot); err != nil {
			res.Conflicts++
		}
		sim.addAttestation(r.SourceEpoch, r.TargetEpoch, r.SigningRoot, r.HasSigningRoot, db.h)
	}

	var o op
	apply := func() {
		b.reserve()
		switch o.kind {
		case opRegister:
			b.buf = appendKeyOp(b.buf, opRegister, o.key)
		case opBlock:
			b.buf = appendBlockOp(b.buf, o.key, o.a, o.root, o.known)
		case opAttestation:
			b.buf = appendAttestationOp(b.buf, o.key, o.a, o.b, o.root, o.known)
		case opFloors, opImportFloors:
			b.buf = appendFloorsOp(b.buf, o.kind, o.key, o.floors)
		}
		// Cannot fail: the key is registered first and the kinds are known.
		_ = db.applyLocked(&o)
	}
	if res.New {
		o = op{kind: opRegister, key: g.key}
		apply()
	}
	for _, r := range g.blocks {
		o = op{kind: opBlock, key: g.key, a: r.Slot, known: r.HasSigningRoot}
		if r.HasSigningRoot {
			o.root = r.SigningRoot
		}
		apply()
	}
	for _, r := range g.atts {
		o = op{kind: opAttestation, key: g.key, a: r.SourceEpoch, b: r.TargetEpoch, known: r.HasSigningRoot}
		if r.HasSigningRoot {
			o.root = r.SigningRoot
		}
		apply()
	}
	if f := g.fileFloors(); f.blockSet || f.targetSet {
		kind := opImportFloors
		if opts.raise || (cur != nil && cur.disabled) {
			kind = opFloors
		}
		o = op{kind: kind, key: g.key, floors: f}
		apply()
	}
	return res
}
