package protect

import "fmt"

// CutoverFloors returns the EIP-3076 document that raises the watermarks
// of keys to a configuration change (a resharing, docs/resharing.md)
// activated at epoch: no block below the epoch's first slot, no
// attestation with a target below the epoch. A member of the new
// configuration imports, in this order and each with [RaiseWatermarks],
// the exported history of every continuing member of the old
// configuration (merged record by record: every record any of them holds
// refuses what it conflicts with) and then this document, so that it can
// never sign below what any old member signed nor anything before the
// cutover.
//
// The source watermark is not raised: the next attestations' source is the
// last justified checkpoint, usually one or two epochs behind the target,
// and a source watermark at the cutover epoch would refuse them. The
// document's two records per key carry no signing root and sit below the
// floors they set (a block at the last slot before the cutover, an
// attestation from source 0 to the target before it), so they refuse
// nothing the floors allow. Import it once the cutover epoch has begun
// (before, its slot may be beyond [Config.Limit]).
func CutoverFloors(gvr Root, keys []PublicKey, epoch, slotsPerEpoch uint64) (*Interchange, error) {
	if epoch == 0 {
		return nil, fmt.Errorf("protect: cutover at epoch 0 has nothing below it to refuse")
	}
	if slotsPerEpoch == 0 || epoch > ^uint64(0)/slotsPerEpoch {
		return nil, fmt.Errorf("protect: cutover epoch %d with %d slots per epoch is out of range", epoch, slotsPerEpoch)
	}
	ic := &Interchange{GenesisValidatorsRoot: gvr, Data: make([]InterchangeValidator, 0, len(keys))}
	for _, k := range keys {
		ic.Data = append(ic.Data, InterchangeValidator{
			PublicKey:          k,
			SignedBlocks:       []SignedBlock{{Slot: epoch*slotsPerEpoch - 1}},
			SignedAttestations: []SignedAttestation{{SourceEpoch: 0, TargetEpoch: epoch - 1}},
		})
	}
	return ic, nil
}
