package tss

import (
	"fmt"
	"slices"

	"github.com/rampart-signer/rampart/internal/bls"
)

// Component is one participant's public part of an account: its id and its
// component public key f(id)·G1.
type Component struct {
	ID        ID
	PublicKey *bls.PublicKey
}

// Account is the public description of a threshold account, the same at
// every participant: the composite (validator) key f(0)·G1, the threshold,
// and every participant's component key.
type Account struct {
	// Composite is the validator public key.
	Composite *bls.PublicKey
	// Threshold is the number of partial signatures a signature needs.
	Threshold int
	// Components lists every participant's component key in ascending id
	// order.
	Components []Component
}

// Validate checks the account: a composite key, a threshold allowed for the
// number of participants ([CheckThreshold]), distinct non-zero ids in
// ascending order, a key for each, and that every component key lies on
// one polynomial of degree threshold-1 whose value at zero is the composite
// key. A coordinator calls it on each account view it discovers, so that
// partials of mixed accounts can never be combined.
func (a *Account) Validate() error {
	if a.Composite == nil {
		return fmt.Errorf("%w: account has no composite key", ErrInvalidInput)
	}
	if err := CheckThreshold(a.Threshold, len(a.Components)); err != nil {
		return err
	}
	for i, c := range a.Components {
		if c.ID == 0 {
			return fmt.Errorf("%w: component %d has id zero", ErrInvalidID, i)
		}
		if c.PublicKey == nil {
			return fmt.Errorf("%w: component of participant %s has no public key", ErrInvalidInput, c.ID)
		}
		if i > 0 && c.ID == a.Components[i-1].ID {
			return fmt.Errorf("%w: %s", ErrDuplicateID, c.ID)
		}
		if i > 0 && c.ID < a.Components[i-1].ID {
			return fmt.Errorf("%w: components are not in ascending id order at participant %s", ErrInvalidInput, c.ID)
		}
	}
	base := a.Components[:a.Threshold]
	composite, err := interpolateKeys(base, bls.Scalar{})
	if err != nil || !composite.Equal(a.Composite) {
		return fmt.Errorf("%w: components of participants %s do not recover the composite key", ErrInconsistentKeys, joinIDs(componentIDs(base)))
	}
	for _, c := range a.Components[a.Threshold:] {
		at, err := interpolateKeys(base, c.ID.scalar())
		if err != nil || !at.Equal(c.PublicKey) {
			return fmt.Errorf("%w: component of participant %s is not on the account's polynomial", ErrInconsistentKeys, c.ID)
		}
	}
	return nil
}

// PublicKey returns the component key of participant id.
func (a *Account) PublicKey(id ID) (*bls.PublicKey, bool) {
	i, ok := slices.BinarySearchFunc(a.Components, id, func(c Component, id ID) int {
		switch {
		case c.ID < id:
			return -1
		case c.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil, false
	}
	return a.Components[i].PublicKey, true
}

// IDs returns the participant ids in ascending order.
func (a *Account) IDs() []ID { return componentIDs(a.Components) }

// RecoverPublicKey interpolates the G1 polynomial through the given
// component keys and returns its value at zero: with threshold many
// components of one account, the composite key. The ids must be distinct
// and non-zero.
func RecoverPublicKey(components []Component) (*bls.PublicKey, error) {
	if len(components) == 0 {
		return nil, fmt.Errorf("%w: no component keys", ErrInvalidInput)
	}
	ids := componentIDs(components)
	if err := CheckIDs(ids); err != nil {
		return nil, err
	}
	for _, c := range components {
		if c.PublicKey == nil {
			return nil, fmt.Errorf("%w: component of participant %s has no public key", ErrInvalidInput, c.ID)
		}
	}
	pk, err := interpolateKeys(components, bls.Scalar{})
	if err != nil {
		return nil, fmt.Errorf("tss: recovering public key: %w", err)
	}
	return pk, nil
}

// PublicKeyAt interpolates the G1 polynomial through the given component
// keys (exactly the threshold's number of them: more would be checked by
// nobody) and returns its value at id: the component key participant id
// holds on the same polynomial, such as a member whose shares are lost.
// The ids must be distinct and non-zero.
func PublicKeyAt(components []Component, id ID) (*bls.PublicKey, error) {
	if id == 0 {
		return nil, fmt.Errorf("%w: participant zero", ErrInvalidID)
	}
	if len(components) == 0 {
		return nil, fmt.Errorf("%w: no component keys", ErrInvalidInput)
	}
	if err := CheckIDs(componentIDs(components)); err != nil {
		return nil, err
	}
	for _, c := range components {
		if c.PublicKey == nil {
			return nil, fmt.Errorf("%w: component of participant %s has no public key", ErrInvalidInput, c.ID)
		}
	}
	pk, err := interpolateKeys(components, id.scalar())
	if err != nil {
		return nil, fmt.Errorf("tss: interpolating the public key of participant %s: %w", id, err)
	}
	return pk, nil
}

func componentIDs(cs []Component) []ID {
	ids := make([]ID, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}
