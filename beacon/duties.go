package beacon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// errOptimistic: the node answered from a head its execution client has
// not verified; duties from it could be for a chain that is not there. The
// next node is asked.
var errOptimistic = fmt.Errorf("%w: answer is execution-optimistic", ErrUnavailable)

// AttesterDuties are the attester duties of an epoch.
type AttesterDuties struct {
	// DependentRoot is the block root the duties were computed from: when
	// a head event or reorg changes it, the duties must be fetched again.
	DependentRoot phase0.Root
	// Duties has at most one duty per validator, sorted by slot.
	Duties []*apiv1.AttesterDuty
}

// ProposerDuties are the proposers of an epoch's slots.
type ProposerDuties struct {
	// DependentRoot is the block root the duties were computed from.
	DependentRoot phase0.Root
	// Duties has at most one proposer per slot, sorted by slot, for every
	// validator (callers pick their own).
	Duties []*apiv1.ProposerDuty
}

// readAgreed reads an epoch's duties from every healthy node at once (any
// usable one when none is healthy) and chooses by their dependent root:
// the root most nodes agree on; on a split, the root of the chain
// justified last (fork choice starts from the justified checkpoint: a
// node cut off from most validators keeps an old one, however many blocks
// it is given meanwhile), then that of the node with the latest head (a
// node that missed blocks computes its shuffling from an older chain),
// then the preferred node's. Two validator clients reading the same
// nodes, each preferring its own, then follow the same shuffling: with
// different ones each attests its validators at other slots, and the
// signers, refusing a second vote for a target, sign only the first,
// maybe on a chain that drops it. After the first answer the others get
// AttestationDataWait to arrive.
func readAgreed[T any](ctx context.Context, c *Client, op string, epoch phase0.Epoch, rootOf func(T) phase0.Root, f func(context.Context, *ehttp.Service) (T, error)) (T, error) {
	var zero T
	nodes := c.candidates()
	var healthy []*node
	for _, n := range nodes {
		if _, st := n.service(); st == StateHealthy || st == StateDegraded {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) < 2 {
		return read(ctx, c, op, f)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v         T
		root      phase0.Root
		rank      int
		head      phase0.Slot
		justified phase0.Epoch
		n         *node
		err       error
	}
	results := make(chan result, len(healthy))
	for i, n := range healthy {
		go func() {
			v, err := attempt(ctx, c, n, op, f)
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{v: v, root: rootOf(v), rank: i, head: n.status().HeadSlot, n: n}
		}()
	}
	var answers []result
	var errs []error
	var grace <-chan time.Time
	for pending := len(healthy); pending > 0; {
		select {
		case r := <-results:
			pending--
			if r.err != nil {
				errs = append(errs, r.err)
				continue
			}
			answers = append(answers, r)
			if grace == nil {
				t := time.NewTimer(c.cfg.AttestationDataWait)
				defer t.Stop()
				grace = t.C
			}
		case <-grace:
			pending = 0 // the others are late: choose among the answers
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
	if len(answers) == 0 {
		allRejected := true
		for _, err := range errs {
			allRejected = allRejected && errors.Is(err, ErrRejected)
		}
		if ctx.Err() == nil && !allRejected {
			return read(ctx, c, op, f) // every healthy node failed: any usable one
		}
		return zero, errors.Join(errs...)
	}
	split := slices.ContainsFunc(answers, func(a result) bool { return a.root != answers[0].root })
	knowJustified := true
	if split {
		// A split: fork choice starts from the justified checkpoint, so the
		// chain justified later is the one the network follows; a node cut
		// off from most validators keeps an old one, however many blocks
		// it is given meanwhile (by this very client, say).
		var wg sync.WaitGroup
		failed := make([]bool, len(answers))
		for i := range answers {
			wg.Go(func() {
				f, err := attempt(ctx, c, answers[i].n, "finality", func(ctx context.Context, s *ehttp.Service) (*apiv1.Finality, error) {
					resp, err := s.Finality(ctx, &api.FinalityOpts{State: "head"})
					if err != nil {
						return nil, err
					}
					if resp.Data == nil || resp.Data.Justified == nil {
						return nil, invalid("finality checkpoints missing")
					}
					return resp.Data, nil
				})
				if err != nil {
					failed[i] = true
					return
				}
				answers[i].justified = f.Justified.Epoch
			})
		}
		wg.Wait()
		// A node that did not say is not taken for one justified at 0:
		// without every node's checkpoint the step is skipped.
		knowJustified = !slices.Contains(failed, true)
	}
	// Each root is judged by what its nodes together show (how many, the
	// latest justified checkpoint and head among them, the most preferred
	// of them), so the choice does not depend on the order of the
	// answers; the chosen root's most preferred node's answer is taken.
	type group struct {
		best      result
		count     int
		justified phase0.Epoch
		head      phase0.Slot
	}
	groups := map[phase0.Root]*group{}
	var order []phase0.Root
	for _, a := range answers {
		g := groups[a.root]
		if g == nil {
			g = &group{best: a}
			groups[a.root] = g
			order = append(order, a.root)
		}
		g.count++
		g.justified = max(g.justified, a.justified)
		g.head = max(g.head, a.head)
		if a.rank < g.best.rank {
			g.best = a
		}
	}
	better := func(a, b *group) bool {
		switch {
		case a.count != b.count:
			return a.count > b.count
		case knowJustified && a.justified != b.justified:
			return a.justified > b.justified
		case a.head != b.head:
			return a.head > b.head
		}
		return a.best.rank < b.best.rank
	}
	win := groups[order[0]]
	for _, r := range order[1:] {
		if better(groups[r], win) {
			win = groups[r]
		}
	}
	chosen := win.best
	if split {
		var others []string
		for _, a := range answers {
			if a.root != chosen.root {
				others = append(others, a.n.name)
			}
		}
		c.log.Warn("beacon nodes disagree on the duties' dependent root: the chain justified last, else the latest head's, is followed",
			"duties", op, "epoch", epoch, "chosen_node", chosen.n.name, "dependent_root", chosen.root.String(), "justified_epoch", chosen.justified, "head_slot", chosen.head, "disagreeing", others)
	}
	return chosen.v, nil
}

// AttesterDuties returns the attester duties in epoch of the given
// validators (index to public key). The answer is refused if it names a
// validator not asked for or with another key, gives a validator two
// duties, puts a duty outside the epoch, or describes a committee that
// cannot exist (index beyond the committees of the slot, position beyond
// the committee's length, sizes beyond the preset's limits).
func (c *Client) AttesterDuties(ctx context.Context, epoch phase0.Epoch, validators map[phase0.ValidatorIndex]phase0.BLSPubKey) (*AttesterDuties, error) {
	indices, err := sortedIndices(validators)
	if err != nil {
		return nil, err
	}
	return readAgreed(ctx, c, "attester_duties", epoch, func(d *AttesterDuties) phase0.Root { return d.DependentRoot }, func(ctx context.Context, s *ehttp.Service) (*AttesterDuties, error) {
		resp, err := s.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil {
			return nil, err
		}
		root, err := dutyMetadata(resp.Metadata)
		if err != nil {
			return nil, err
		}
		if err := c.checkAttesterDuties(epoch, validators, resp.Data); err != nil {
			return nil, err
		}
		duties := append([]*apiv1.AttesterDuty(nil), resp.Data...)
		sort.SliceStable(duties, func(i, j int) bool { return duties[i].Slot < duties[j].Slot })
		return &AttesterDuties{DependentRoot: root, Duties: duties}, nil
	})
}

func (c *Client) checkAttesterDuties(epoch phase0.Epoch, validators map[phase0.ValidatorIndex]phase0.BLSPubKey, duties []*apiv1.AttesterDuty) error {
	p := c.net.Preset()
	seen := map[phase0.ValidatorIndex]bool{}
	for _, d := range duties {
		if d == nil {
			return invalid("null attester duty")
		}
		pk, asked := validators[d.ValidatorIndex]
		switch {
		case !asked:
			return invalid("attester duty for validator %d, which was not asked for", d.ValidatorIndex)
		case d.PubKey != pk:
			return invalid("attester duty for validator %d names key %#x, not %#x", d.ValidatorIndex, d.PubKey, pk)
		case seen[d.ValidatorIndex]:
			return invalid("two attester duties for validator %d in epoch %d", d.ValidatorIndex, epoch)
		case c.net.EpochAtSlot(d.Slot) != epoch:
			return invalid("attester duty for validator %d at slot %d, outside epoch %d", d.ValidatorIndex, d.Slot, epoch)
		case d.CommitteesAtSlot == 0 || d.CommitteesAtSlot > p.MaxCommitteesPerSlot:
			return invalid("attester duty for validator %d: %d committees at slot %d (1 to %d possible)", d.ValidatorIndex, d.CommitteesAtSlot, d.Slot, p.MaxCommitteesPerSlot)
		case uint64(d.CommitteeIndex) >= d.CommitteesAtSlot:
			return invalid("attester duty for validator %d: committee %d of %d", d.ValidatorIndex, d.CommitteeIndex, d.CommitteesAtSlot)
		case d.CommitteeLength == 0 || d.CommitteeLength > p.MaxValidatorsPerCommittee:
			return invalid("attester duty for validator %d: committee length %d (1 to %d possible)", d.ValidatorIndex, d.CommitteeLength, p.MaxValidatorsPerCommittee)
		case d.ValidatorCommitteeIndex >= d.CommitteeLength:
			return invalid("attester duty for validator %d: position %d in a committee of %d", d.ValidatorIndex, d.ValidatorCommitteeIndex, d.CommitteeLength)
		}
		seen[d.ValidatorIndex] = true
	}
	return nil
}

// ProposerDuties returns the proposers of epoch's slots. The answer is
// refused if a duty is outside the epoch or two duties share a slot.
func (c *Client) ProposerDuties(ctx context.Context, epoch phase0.Epoch) (*ProposerDuties, error) {
	return readAgreed(ctx, c, "proposer_duties", epoch, func(d *ProposerDuties) phase0.Root { return d.DependentRoot }, func(ctx context.Context, s *ehttp.Service) (*ProposerDuties, error) {
		resp, err := s.ProposerDuties(ctx, &api.ProposerDutiesOpts{Epoch: epoch})
		if err != nil {
			return nil, err
		}
		root, err := dutyMetadata(resp.Metadata)
		if err != nil {
			return nil, err
		}
		if err := c.checkProposerDuties(epoch, resp.Data); err != nil {
			return nil, err
		}
		duties := append([]*apiv1.ProposerDuty(nil), resp.Data...)
		sort.SliceStable(duties, func(i, j int) bool { return duties[i].Slot < duties[j].Slot })
		return &ProposerDuties{DependentRoot: root, Duties: duties}, nil
	})
}

func (c *Client) checkProposerDuties(epoch phase0.Epoch, duties []*apiv1.ProposerDuty) error {
	seen := map[phase0.Slot]bool{}
	for _, d := range duties {
		switch {
		case d == nil:
			return invalid("null proposer duty")
		case c.net.EpochAtSlot(d.Slot) != epoch:
			return invalid("proposer duty at slot %d, outside epoch %d", d.Slot, epoch)
		case seen[d.Slot]:
			return invalid("two proposers for slot %d", d.Slot)
		case d.PubKey == (phase0.BLSPubKey{}):
			return invalid("proposer duty at slot %d without a public key", d.Slot)
		}
		seen[d.Slot] = true
	}
	return nil
}

// SyncCommitteeDuties returns the sync committee duties of the given
// validators for the sync committee period of epoch. The answer is refused
// if it names a validator not asked for or with another key, repeats one,
// or gives a position outside the sync committee.
func (c *Client) SyncCommitteeDuties(ctx context.Context, epoch phase0.Epoch, validators map[phase0.ValidatorIndex]phase0.BLSPubKey) ([]*apiv1.SyncCommitteeDuty, error) {
	indices, err := sortedIndices(validators)
	if err != nil {
		return nil, err
	}
	return read(ctx, c, "sync_duties", func(ctx context.Context, s *ehttp.Service) ([]*apiv1.SyncCommitteeDuty, error) {
		resp, err := s.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil {
			return nil, err
		}
		if optimistic(resp.Metadata) {
			return nil, errOptimistic
		}
		size := c.net.Preset().SyncCommitteeSize
		seen := map[phase0.ValidatorIndex]bool{}
		for _, d := range resp.Data {
			if d == nil {
				return nil, invalid("null sync committee duty")
			}
			pk, asked := validators[d.ValidatorIndex]
			switch {
			case !asked:
				return nil, invalid("sync committee duty for validator %d, which was not asked for", d.ValidatorIndex)
			case d.PubKey != pk:
				return nil, invalid("sync committee duty for validator %d names key %#x, not %#x", d.ValidatorIndex, d.PubKey, pk)
			case seen[d.ValidatorIndex]:
				return nil, invalid("two sync committee duties for validator %d", d.ValidatorIndex)
			case len(d.ValidatorSyncCommitteeIndices) == 0:
				return nil, invalid("sync committee duty for validator %d without positions", d.ValidatorIndex)
			}
			for _, i := range d.ValidatorSyncCommitteeIndices {
				if uint64(i) >= size {
					return nil, invalid("sync committee duty for validator %d at position %d of a committee of %d", d.ValidatorIndex, i, size)
				}
			}
			seen[d.ValidatorIndex] = true
		}
		return resp.Data, nil
	})
}

// dutyMetadata reads the dependent root of a duties answer and refuses an
// execution-optimistic one.
func dutyMetadata(meta map[string]any) (phase0.Root, error) {
	if optimistic(meta) {
		return phase0.Root{}, errOptimistic
	}
	root, ok := meta["dependent_root"].(phase0.Root)
	if !ok {
		return phase0.Root{}, invalid("duties without dependent_root")
	}
	return root, nil
}

func optimistic(meta map[string]any) bool {
	v, _ := meta["execution_optimistic"].(bool)
	return v
}

// sortedIndices checks the validators asked about and lists their indices
// in order (stable requests make node answers comparable in logs).
func sortedIndices(validators map[phase0.ValidatorIndex]phase0.BLSPubKey) ([]phase0.ValidatorIndex, error) {
	if len(validators) == 0 {
		return nil, badRequest("no validators")
	}
	out := make([]phase0.ValidatorIndex, 0, len(validators))
	for i, pk := range validators {
		if pk == (phase0.BLSPubKey{}) {
			return nil, badRequest("validator %d has a zero public key", i)
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
