package vc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/signing"
)

// Two instances serving one cluster may read different attestation data
// for a slot (one node had the slot's block, the other not yet). Each
// signer signs the first request it gets for a validator's target and
// refuses the other, so with a signer slow, unreachable or down the
// signers can split between the two data and neither reaches the
// threshold: the duty is lost, though never slashable. Two measures keep
// them together:
//
//   - instance k reads the data when the first does (at the slot's head)
//     and waits k × redundancy.attestation_delay before it asks the
//     signers, so that the first instance's requests reach every signer
//     first;
//   - a signer refusing a double vote names what it signed instead
//     (api.Conflict: the signing root and the data), and an instance whose
//     own data was refused signs that data instead (adopt), which the
//     signers that signed it sign again (an exact repeat is no double
//     vote) and the others sign if it conflicts with nothing.
//
// The data adopted must be for the same slot, committee index and target
// epoch, hash to the root the signers named, and be named by at least t
// signers: the threshold model allows up to t-1 compromised signers, so t
// namers include an honest one, which signed the data for one of the
// operator's own clients. (2t-n namers would not do: 2t-n <= t-1, and a
// compromised minority naming data of its choice could make the honest
// signers sign a wrong head, target or source.) Adoption only ever follows
// a refusal of the client's own data, so it never costs a duty that would
// otherwise succeed; it matters when the first instance got its t
// signatures but may not publish (its beacon node, its own failure).

// attestationDelay is how long this instance waits after the slot's head
// before it asks the signers for attestations: instance k waits k steps.
func (c *Client) attestationDelay() time.Duration {
	k := c.cfg.Redundancy.Instance
	if k == 0 {
		return 0
	}
	step := c.cfg.Redundancy.AttestationDelay
	if step == 0 {
		step = c.clock.slot / 12
	}
	// Whatever the instance and the step, an attestation still goes out
	// in time: at most a quarter of a slot after the head.
	return min(time.Duration(k)*step, c.clock.slot/4)
}

// adoption is data named by the signers' refusals, checked, and the
// validators of a group refused for it.
type adoption struct {
	data *phase0.AttestationData
	root phase0.Root
	// at are positions in the group.
	at []int
}

// adoptable looks through the refusals of a group's signing request for
// own data and returns the data the signers named most, if it passes the
// checks above, with the validators refused for it.
func (c *Client) adoptable(own *phase0.AttestationData, errs []error) (*adoption, error) {
	byKey := map[string]*adoption{} // nil: checked and refused
	var best *adoption
	var firstErr error
	for i, err := range errs {
		var short *coordinator.ShortfallError
		if !errors.As(err, &short) || short.Code() != 412 {
			continue
		}
		need := max(1, short.Threshold)
		for _, nc := range short.Conflicts() {
			if len(nc.By) < need || len(nc.AttestationData) == 0 {
				continue
			}
			key := string(nc.SigningRoot[:]) + string(nc.AttestationData)
			a, seen := byKey[key]
			if !seen {
				d, err := c.checkNamed(own, phase0.Root(nc.SigningRoot), nc.AttestationData)
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					a = &adoption{data: d, root: phase0.Root(nc.SigningRoot)}
				}
				byKey[key] = a
			}
			if a == nil {
				continue
			}
			a.at = append(a.at, i)
			if best == nil || len(a.at) > len(best.at) {
				best = a
			}
			break
		}
	}
	return best, firstErr
}

// checkNamed decodes the data a signer named and checks it against the
// client's own for the same duty.
func (c *Client) checkNamed(own *phase0.AttestationData, root phase0.Root, raw []byte) (*phase0.AttestationData, error) {
	d := new(phase0.AttestationData)
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("the attestation data a signer named does not decode: %w", err)
	}
	if d.Source == nil || d.Target == nil {
		return nil, errors.New("the attestation data a signer named lacks its checkpoints")
	}
	if d.Target.Epoch == own.Target.Epoch && d.Slot != own.Slot {
		return nil, fmt.Errorf("the signers signed target %d for slot %d, this client's duty is at slot %d: its beacon nodes and another instance's disagree on the duties (a fork with another shuffling); only one of the two attestations can be signed",
			d.Target.Epoch, d.Slot, own.Slot)
	}
	if d.Slot != own.Slot || d.Index != own.Index || d.Target.Epoch != own.Target.Epoch {
		return nil, fmt.Errorf("the attestation data a signer named is for slot %d, index %d, target %d; this duty is slot %d, index %d, target %d",
			d.Slot, d.Index, d.Target.Epoch, own.Slot, own.Index, own.Target.Epoch)
	}
	req := &signing.Request{Type: signing.TypeAttestation, ForkInfo: forkInfo(c.net, d.Target.Epoch), Attestation: d}
	got, _, err := prepare(c.net, req)
	if err != nil {
		return nil, err
	}
	if got != root {
		return nil, fmt.Errorf("the attestation data a signer named has signing root %#x, not the %#x it named", got, root)
	}
	return d, nil
}

// adopt signs, for the validators of a group refused for own data, the
// data the signers named instead (adoptable), and puts the signatures
// obtained in sigs, errs and used (the data each signature is over). It
// returns the data adopted and for how many validators, or nil.
func (c *Client) adopt(ctx context.Context, s phase0.Slot, keys []phase0.BLSPubKey, own *phase0.AttestationData, sigs []phase0.BLSSignature, errs []error, used []*phase0.AttestationData) (*phase0.AttestationData, int) {
	a, err := c.adoptable(own, errs)
	if a == nil {
		if err != nil {
			c.log.Warn("attestation data named by the signers not adopted", "slot", uint64(s), "err", err)
		}
		return nil, 0
	}
	sub := make([]phase0.BLSPubKey, len(a.at))
	for n, i := range a.at {
		sub[n] = keys[i]
	}
	req := &signing.Request{Type: signing.TypeAttestation, ForkInfo: forkInfo(c.net, a.data.Target.Epoch), Attestation: a.data}
	got, gotErrs := c.askBatch(ctx, sub, req)
	ok := 0
	for n, i := range a.at {
		if gotErrs[n] != nil {
			continue
		}
		sigs[i], errs[i], used[i] = got[n], nil, a.data
		ok++
	}
	c.m.adopt(ok)
	c.log.Info("attestation data adopted: the signers had signed another instance's for this slot",
		"slot", uint64(s), "validators", ok, "of", len(a.at), "head", fmt.Sprintf("%#x", a.data.BeaconBlockRoot), "own_head", fmt.Sprintf("%#x", own.BeaconBlockRoot))
	return a.data, ok
}
