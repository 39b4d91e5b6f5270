package protect

import (
	"fmt"
	"math"
)

// Limit is how far into the future the database lets a validator go. A
// block whose slot lies in an epoch after Epoch, an attestation whose target
// is after Epoch, and an interchange record with a slot, source or target
// beyond it are refused with [ErrFuture] and leave no record.
//
// Why it matters: a record is a promise never to sign anything that
// conflicts with it, and pruning folds old records into the low watermarks.
// One attestation with target 2^64-2, once signed, would make every honest
// attestation after it surrounded by it, and one imported far-future record
// would become a watermark above every honest message: the validator could
// never sign again. Nothing an honest validator signs lies beyond the
// current epoch of the wall clock, so the signer passes the current epoch
// plus a small allowance for clock skew (rampart-signer's
// slashing.future_epochs).
type Limit struct {
	// Epoch is the last epoch allowed.
	Epoch uint64
	// Why says where Epoch comes from, for error messages, e.g. "current
	// epoch 1234 + 1 epoch allowed ahead".
	Why string
}

// NoLimit allows every epoch. It is for tests and tools that handle
// histories of made-up networks; a signer always sets a real Limit.
func NoLimit() Limit { return Limit{Epoch: math.MaxUint64, Why: "no limit"} }

func (l Limit) String() string { return fmt.Sprintf("epoch %d (%s)", l.Epoch, l.Why) }

// limit returns the configured limit, or ErrNoLimit: without one the
// database neither approves nor imports (fail closed).
func (db *DB) limit() (Limit, error) {
	if db.cfg.Limit == nil {
		return Limit{}, ErrNoLimit
	}
	return db.cfg.Limit(), nil
}

// checkSlot refuses a slot in an epoch after the limit. what names the
// value for the message ("block slot", "data[2].signed_blocks[0] slot").
func (l Limit) checkSlot(what string, slot, slotsPerEpoch uint64) error {
	if e := slot / slotsPerEpoch; e > l.Epoch {
		return fmt.Errorf("%s %d is in epoch %d, %w: %v", what, slot, e, ErrFuture, l)
	}
	return nil
}

// checkEpoch refuses an epoch after the limit.
func (l Limit) checkEpoch(what string, epoch uint64) error {
	if epoch > l.Epoch {
		return fmt.Errorf("%s %d is %w: %v", what, epoch, ErrFuture, l)
	}
	return nil
}

// checkInterchange refuses a document holding any record beyond the limit,
// naming the first such record by its path and its validator.
func (l Limit) checkInterchange(ic *Interchange, slotsPerEpoch uint64) error {
	for i, v := range ic.Data {
		for j, b := range v.SignedBlocks {
			if err := l.checkSlot("slot", b.Slot, slotsPerEpoch); err != nil {
				return fmt.Errorf("data[%d].signed_blocks[%d] (validator %v): %w", i, j, v.PublicKey, err)
			}
		}
		for j, a := range v.SignedAttestations {
			err := l.checkEpoch("target epoch", a.TargetEpoch)
			if err == nil {
				err = l.checkEpoch("source epoch", a.SourceEpoch)
			}
			if err != nil {
				return fmt.Errorf("data[%d].signed_attestations[%d] (validator %v): %w", i, j, v.PublicKey, err)
			}
		}
	}
	return nil
}
