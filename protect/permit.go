package protect

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
)

// Permit is the only way to a partial signature over a block or an
// attestation: the database hands one out only after the record of that
// message is durably committed, and [Permit.Sign] is what produces the
// signature. Its fields are unexported, so a Permit cannot be made outside
// this package; the zero Permit signs nothing.
type Permit struct {
	key   PublicKey
	root  Root
	valid bool
}

// Key is the validator the permit is for.
func (p Permit) Key() PublicKey { return p.key }

// SigningRoot is the exact root the permit allows signing, for audit logs.
func (p Permit) SigningRoot() Root { return p.root }

// Valid reports whether the permit came from a durable commit.
func (p Permit) Valid() bool { return p.valid }

// Sign signs the permitted root with share, the signer's share of the
// permit's validator key. Deterministic BLS makes a second use return the
// same signature, so using a permit twice releases nothing new.
func (p Permit) Sign(share *bls.SecretKey) (*bls.Signature, error) {
	if !p.valid {
		return nil, ErrNoPermit
	}
	if share == nil {
		return nil, fmt.Errorf("protect: signing for %v: no key share", p.key)
	}
	return share.Sign(p.root), nil
}

// Verdict is the answer to one item of a batch: a valid Permit, or an error
// saying why not. Items are independent: one refusal does not affect others.
type Verdict struct {
	Permit Permit
	Err    error
}
