package tss

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
)

// Partial is one participant's partial signature as a coordinator collected
// it, bound to the component key the coordinator learned for that
// participant at discovery (never to a key the response itself claims).
type Partial struct {
	ID        ID
	PublicKey *bls.PublicKey
	Signature *bls.Signature
}

// Result is a recovered signature and how it was made.
type Result struct {
	// Signature is the recovered signature; it verified under the composite
	// key and the signing root.
	Signature *bls.Signature
	// Used lists the threshold many participants whose partials were
	// combined, in the order given.
	Used []ID
	// Bad lists the participants whose partial was checked and did not
	// verify under its component key. Partials are checked only when the
	// optimistic attempt fails, so a bad partial that was never needed is
	// not listed.
	Bad []ID
}

// Recover returns the signature of root under composite from partial
// signatures of a threshold account. It recovers optimistically from the
// first threshold partials, in the order given (a coordinator passes them
// in arrival order), and verifies the result once against composite. Only
// if that fails does it verify the partials it used one by one, exclude the
// invalid ones and recover again from the next partials in order; a
// replacement is checked through the new signature's verification, and one
// by one only if that fails too.
//
// Errors: [ErrInvalidInput], [ErrThreshold], [ErrInvalidID] or
// [ErrDuplicateID] for malformed arguments; a [*ShortfallError]
// ([ErrNotEnoughShares]) when fewer than threshold valid partials remain;
// [ErrInconsistentKeys] when threshold valid partials still do not
// recover a valid signature (component keys of another account, or a wrong
// threshold). No error ever comes with a signature.
func Recover(root [32]byte, composite *bls.PublicKey, threshold int, partials []Partial) (*Result, error) {
	out := RecoverBatch([]Request{{Root: root, Composite: composite, Threshold: threshold, Partials: partials}})
	return out[0].Result, out[0].Err
}

// checkRequest validates the arguments of one recovery.
func checkRequest(composite *bls.PublicKey, threshold int, partials []Partial) error {
	if composite == nil {
		return fmt.Errorf("%w: no composite public key", ErrInvalidInput)
	}
	if threshold < 1 {
		return fmt.Errorf("%w: threshold %d is below 1", ErrThreshold, threshold)
	}
	seen := make(map[ID]struct{}, len(partials))
	for i, p := range partials {
		switch {
		case p.ID == 0:
			return fmt.Errorf("%w: partial %d has participant id zero", ErrInvalidID, i)
		case p.PublicKey == nil:
			return fmt.Errorf("%w: partial of participant %s has no component public key", ErrInvalidInput, p.ID)
		case p.Signature == nil:
			return fmt.Errorf("%w: partial of participant %s has no signature", ErrInvalidInput, p.ID)
		}
		if _, dup := seen[p.ID]; dup {
			return fmt.Errorf("%w: two partials from participant %s", ErrDuplicateID, p.ID)
		}
		seen[p.ID] = struct{}{}
	}
	if len(partials) < threshold {
		return &ShortfallError{Threshold: threshold, Valid: len(partials)}
	}
	return nil
}

// combine recovers the signature at zero from partials by Lagrange
// interpolation in G2, without verifying anything.
func combine(partials []Partial) (*bls.Signature, error) {
	ids := make([]ID, len(partials))
	sigs := make([]*bls.Signature, len(partials))
	for i, p := range partials {
		ids[i], sigs[i] = p.ID, p.Signature
	}
	lambdas, err := lagrangeAtZero(ids)
	if err != nil {
		return nil, err
	}
	return bls.SignatureLinearCombination(sigs, lambdas)
}
