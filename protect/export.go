package protect

import (
	"context"
	"fmt"
)

// Export returns the history of the given keys (every key when none are
// given) as an EIP-3076 document: each kept record with its signing root
// where known, plus, where no kept record sits exactly on a low watermark,
// one record without a root that does. Importing the result into an empty
// database therefore yields the same watermarks and the same kept history,
// hence the same decisions; the extra record refuses nothing the watermark
// did not. Export includes disabled keys. An unknown key is an error.
func (db *DB) Export(ctx context.Context, keys ...PublicKey) (*Interchange, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		keys = db.Keys()
	}
	ic := &Interchange{GenesisValidatorsRoot: db.gvr, Data: make([]InterchangeValidator, 0, len(keys))}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.usableLocked(); err != nil {
		return nil, err
	}
	for _, key := range keys {
		k := db.keys[key]
		if k == nil {
			return nil, fmt.Errorf("%w: %v", ErrUnknownKey, key)
		}
		ic.Data = append(ic.Data, k.export())
	}
	return ic, nil
}

func (k *keyState) export() InterchangeValidator {
	v := InterchangeValidator{
		PublicKey:          k.key,
		SignedBlocks:       make([]SignedBlock, 0, len(k.blocks)+1),
		SignedAttestations: make([]SignedAttestation, 0, len(k.atts)+1),
	}
	// normalize keeps every record at or above the watermarks, so a
	// watermark is missing from the minima only if no record sits on it.
	if k.blockFloorSet && (len(k.blocks) == 0 || k.blocks[0].slot != k.blockFloor) {
		v.SignedBlocks = append(v.SignedBlocks, SignedBlock{Slot: k.blockFloor})
	}
	for _, r := range k.blocks {
		v.SignedBlocks = append(v.SignedBlocks, SignedBlock{Slot: r.slot, SigningRoot: r.root, HasSigningRoot: r.known})
	}
	if k.targetFloorSet {
		minSource, onTarget := ^uint64(0), false
		for _, r := range k.atts {
			minSource = min(minSource, r.source)
			onTarget = onTarget || r.target == k.targetFloor
		}
		if minSource != k.sourceFloor || !onTarget {
			v.SignedAttestations = append(v.SignedAttestations, SignedAttestation{SourceEpoch: k.sourceFloor, TargetEpoch: k.targetFloor})
		}
	}
	for _, r := range k.atts {
		v.SignedAttestations = append(v.SignedAttestations, SignedAttestation{SourceEpoch: r.source, TargetEpoch: r.target, SigningRoot: r.root, HasSigningRoot: r.known})
	}
	return v
}
