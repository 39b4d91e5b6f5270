package beacon

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// AttestationData is the attestation data chosen for a slot and how the
// nodes answered.
type AttestationData struct {
	// Data is the chosen attestation data.
	Data *phase0.AttestationData
	// Node is the node whose answer was chosen.
	Node string
	// Asked is the number of nodes asked, Answered the number that gave a
	// valid answer in time, Agreeing the number whose answer was exactly
	// Data.
	Asked, Answered, Agreeing int
	// Disagreeing names the nodes whose valid answer differed from Data.
	// They are also logged and counted in
	// rampart_beacon_attestation_data_disagreements_total.
	Disagreeing []string
}

// answer is one node's valid attestation data.
type answer struct {
	node *node
	rank int // position in candidate order: lower is preferred
	data *phase0.AttestationData
	root phase0.Root
	head phase0.Slot
}

// AttestationData asks every healthy node (every usable one if none is
// healthy) for the attestation data of slot and committee at once, and
// chooses by this rule:
//
//  1. If more than half of the valid answers are identical, that data.
//  2. Otherwise, the (source, target) checkpoint pair given by the most
//     answers (more than half of them when there is such a pair; ties go to
//     the later target, then the later source), and among the answers with
//     that pair, the one from the node with the highest head slot (ties go
//     to the preferred node).
//
// An answer is valid if it is for the slot asked, carries the committee
// index the fork requires (0 from Electra on), targets the slot's epoch,
// and has a source no later than its target. The call waits for every
// node, but no longer than AttestationDataWait after the first valid
// answer, and stops as soon as more than half of the nodes asked have
// given identical answers (no later answer can change the outcome then).
// Nodes whose answer differs from the chosen data are reported.
func (c *Client) AttestationData(ctx context.Context, slot phase0.Slot, committeeIndex phase0.CommitteeIndex) (*AttestationData, error) {
	nodes := c.candidates()
	var healthy []*node
	for _, n := range nodes {
		if _, st := n.service(); st == StateHealthy || st == StateDegraded {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) > 0 {
		nodes = healthy
	}
	if len(nodes) == 0 {
		return nil, c.noNode()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		a   *answer
		err error
	}
	results := make(chan result, len(nodes))
	for i, n := range nodes {
		go func() {
			d, err := attempt(ctx, c, n, "attestation_data", func(ctx context.Context, s *ehttp.Service) (*phase0.AttestationData, error) {
				resp, err := s.AttestationData(ctx, &api.AttestationDataOpts{Slot: slot, CommitteeIndex: committeeIndex})
				if err != nil {
					return nil, err
				}
				return resp.Data, c.checkAttestationData(slot, committeeIndex, resp.Data)
			})
			if err != nil {
				results <- result{err: err}
				return
			}
			root, err := d.HashTreeRoot()
			if err != nil {
				results <- result{err: &NodeError{Node: n.name, Op: "attestation_data", Kind: ErrInvalidResponse, Err: err}}
				return
			}
			results <- result{a: &answer{node: n, rank: i, data: d, root: root, head: n.status().HeadSlot}}
		}()
	}

	var answers []*answer
	var errs []error
	counts := map[phase0.Root]int{}
	var grace <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
collect:
	for range nodes {
		select {
		case r := <-results:
			if r.err != nil {
				errs = append(errs, r.err)
				continue
			}
			answers = append(answers, r.a)
			counts[r.a.root]++
			if 2*counts[r.a.root] > len(nodes) {
				break collect
			}
			if timer == nil {
				timer = time.NewTimer(c.cfg.AttestationDataWait)
				grace = timer.C
			}
		case <-grace:
			break collect
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if len(answers) == 0 {
		return nil, errors.Join(errs...)
	}
	chosen := chooseAttestationData(answers)
	out := &AttestationData{Data: chosen.data, Node: chosen.node.name, Asked: len(nodes), Answered: len(answers)}
	for _, a := range answers {
		if a.root == chosen.root {
			out.Agreeing++
			continue
		}
		out.Disagreeing = append(out.Disagreeing, a.node.name)
		c.metrics.disagreement(a.node.name)
	}
	if len(out.Disagreeing) > 0 {
		c.log.Warn("beacon nodes disagree on attestation data",
			"slot", slot, "chosen_node", out.Node, "agreeing", out.Agreeing, "disagreeing", out.Disagreeing)
	}
	return out, nil
}

// chooseAttestationData applies the rule of AttestationData to valid
// answers (at least one).
func chooseAttestationData(answers []*answer) *answer {
	n := len(answers)
	byRoot := map[phase0.Root][]*answer{}
	for _, a := range answers {
		byRoot[a.root] = append(byRoot[a.root], a)
	}
	for _, group := range byRoot {
		if 2*len(group) > n {
			return best(group, func(a, b *answer) bool { return a.rank < b.rank })
		}
	}
	type pair struct{ source, target phase0.Checkpoint }
	byPair := map[pair][]*answer{}
	for _, a := range answers {
		k := pair{*a.data.Source, *a.data.Target}
		byPair[k] = append(byPair[k], a)
	}
	pairs := make([]pair, 0, len(byPair))
	for k := range byPair {
		pairs = append(pairs, k)
	}
	sort.Slice(pairs, func(i, j int) bool {
		pi, pj := pairs[i], pairs[j]
		if li, lj := len(byPair[pi]), len(byPair[pj]); li != lj {
			return li > lj
		}
		if pi.target.Epoch != pj.target.Epoch {
			return pi.target.Epoch > pj.target.Epoch
		}
		if pi.source.Epoch != pj.source.Epoch {
			return pi.source.Epoch > pj.source.Epoch
		}
		// Same size and epochs, different roots: a split. Most often one
		// node has not yet imported the block that starts the epoch and
		// still names the previous epoch's last block as the target: the
		// pair of the node that has seen the later head wins, so that
		// validator clients reading the same nodes at different moments
		// (redundant instances, each preferring its own) choose alike,
		// and a lagging node's stale target is not voted for. A head past
		// the slot attested counts as that slot: a node gains nothing by
		// claiming to be further ahead. Equal heads: a genuine fork; the
		// preferred node's pair wins, so the choice stays deterministic.
		if hi, hj := maxHead(byPair[pi]), maxHead(byPair[pj]); hi != hj {
			return hi > hj
		}
		return minRank(byPair[pi]) < minRank(byPair[pj])
	})
	return best(byPair[pairs[0]], func(a, b *answer) bool {
		if a.head != b.head {
			return a.head > b.head
		}
		return a.rank < b.rank
	})
}

func best(as []*answer, better func(a, b *answer) bool) *answer {
	out := as[0]
	for _, a := range as[1:] {
		if better(a, out) {
			out = a
		}
	}
	return out
}

func minRank(as []*answer) int {
	r := as[0].rank
	for _, a := range as[1:] {
		r = min(r, a.rank)
	}
	return r
}

// checkAttestationData refuses data that cannot be the attestation data of
// slot and committee.
func (c *Client) checkAttestationData(slot phase0.Slot, committee phase0.CommitteeIndex, d *phase0.AttestationData) error {
	if d == nil || d.Source == nil || d.Target == nil {
		return invalid("attestation data incomplete")
	}
	epoch := c.net.EpochAtSlot(slot)
	wantIndex := committee
	if c.net.ForkAtEpoch(epoch).Name >= spec.DataVersionElectra {
		wantIndex = 0
	}
	switch {
	case d.Slot != slot:
		return invalid("attestation data for slot %d, asked for %d", d.Slot, slot)
	case d.Index != wantIndex:
		return invalid("attestation data with committee index %d, want %d", d.Index, wantIndex)
	case d.Target.Epoch != epoch:
		return invalid("attestation data targets epoch %d, but slot %d is in epoch %d", d.Target.Epoch, slot, epoch)
	case d.Source.Epoch > d.Target.Epoch || (d.Source.Epoch == d.Target.Epoch && d.Target.Epoch != 0):
		return invalid("attestation data source epoch %d is not before target epoch %d", d.Source.Epoch, d.Target.Epoch)
	case d.BeaconBlockRoot == (phase0.Root{}) || d.Target.Root == (phase0.Root{}):
		return invalid("attestation data without a head or target root")
	}
	return nil
}

// maxHead is the highest head slot among answers, a head past the slot
// attested counting as that slot.
func maxHead(as []*answer) phase0.Slot {
	var h phase0.Slot
	for _, a := range as {
		h = max(h, min(a.head, a.data.Slot))
	}
	return h
}
