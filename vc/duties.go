package vc

import (
	"context"
	"sort"
	"sync"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// epochDuties are this client's duties in one epoch, with the dependent
// roots they were computed from: a head event naming other roots means the
// chain reorganised across the boundary that decided them, and they are
// fetched again.
type epochDuties struct {
	attesterRoot phase0.Root
	attesters    []*apiv1.AttesterDuty // ours, sorted by slot
	hasAttesters bool
	proposerRoot phase0.Root
	proposers    []*apiv1.ProposerDuty // ours, sorted by slot
	hasProposers bool
}

// dutyStore holds the duties fetched so far, the aggregation selection
// proofs signed for them, and which fetches are under way.
type dutyStore struct {
	mu     sync.Mutex
	epochs map[phase0.Epoch]*epochDuties
	// sync holds the sync committee duties by sync committee period.
	sync map[uint64][]*apiv1.SyncCommitteeDuty
	// selection holds aggregation selection proofs by slot and validator.
	// A proof depends on the slot alone, so a refetch of the epoch's
	// duties after a reorganisation keeps it.
	selection map[phase0.Slot]map[phase0.ValidatorIndex]phase0.BLSSignature
	// fetching holds the fetches in flight, each with a channel closed
	// when it ends: a burst of head events starts one refetch, and a
	// caller that needs the duties now (an epoch's start) waits for the
	// fetch under way instead of going on without them.
	fetching map[fetchKey]chan struct{}
}

type fetchKey struct {
	kind  string
	epoch phase0.Epoch
}

func newDutyStore() *dutyStore {
	return &dutyStore{
		epochs:    map[phase0.Epoch]*epochDuties{},
		sync:      map[uint64][]*apiv1.SyncCommitteeDuty{},
		selection: map[phase0.Slot]map[phase0.ValidatorIndex]phase0.BLSSignature{},
		fetching:  map[fetchKey]chan struct{}{},
	}
}

func (d *dutyStore) epoch(e phase0.Epoch) *epochDuties {
	ed := d.epochs[e]
	if ed == nil {
		ed = &epochDuties{}
		d.epochs[e] = ed
	}
	return ed
}

// attestersAt returns the attester duties at slot s.
func (d *dutyStore) attestersAt(e phase0.Epoch, s phase0.Slot) []*apiv1.AttesterDuty {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*apiv1.AttesterDuty
	if ed := d.epochs[e]; ed != nil {
		for _, a := range ed.attesters {
			if a.Slot == s {
				out = append(out, a)
			}
		}
	}
	return out
}

// proposerAt returns our proposer duty at slot s, if any.
func (d *dutyStore) proposerAt(e phase0.Epoch, s phase0.Slot) *apiv1.ProposerDuty {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ed := d.epochs[e]; ed != nil {
		for _, p := range ed.proposers {
			if p.Slot == s {
				return p
			}
		}
	}
	return nil
}

func (d *dutyStore) has(e phase0.Epoch) (attesters, proposers bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ed := d.epochs[e]
	return ed != nil && ed.hasAttesters, ed != nil && ed.hasProposers
}

// begin marks a fetch as started and returns true; if one is already
// running it waits for that one to end (or ctx) and returns false.
func (d *dutyStore) begin(ctx context.Context, k fetchKey) bool {
	d.mu.Lock()
	running, ok := d.fetching[k]
	if !ok {
		d.fetching[k] = make(chan struct{})
	}
	d.mu.Unlock()
	if ok {
		select {
		case <-running:
		case <-ctx.Done():
		}
		return false
	}
	return true
}

func (d *dutyStore) end(k fetchKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.fetching[k])
	delete(d.fetching, k)
}

// prune forgets what concerns epochs before keep.
func (d *dutyStore) prune(keep phase0.Epoch, firstSlot phase0.Slot, epochsPerPeriod uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for e := range d.epochs {
		if e < keep {
			delete(d.epochs, e)
		}
	}
	for s := range d.selection {
		if s < firstSlot {
			delete(d.selection, s)
		}
	}
	for p := range d.sync {
		if (p+1)*epochsPerPeriod <= uint64(keep) {
			delete(d.sync, p)
		}
	}
}

// Fetch kinds.
const (
	fetchAttesters = "attester"
	fetchProposers = "proposer"
	fetchSync      = "sync"
)

// fetchAttesters fetches the attester duties of epoch e, then, in the
// background, signs the missing selection proofs and subscribes the beacon
// nodes to the committees (as aggregator where selected).
func (c *Client) fetchAttesters(ctx context.Context, e phase0.Epoch) error {
	k := fetchKey{fetchAttesters, e}
	if !c.duties.begin(ctx, k) {
		return nil
	}
	defer c.duties.end(k)
	indexed := c.validators.indexed()
	var duties []*apiv1.AttesterDuty
	var root phase0.Root
	if len(indexed) > 0 {
		got, err := c.bn.AttesterDuties(ctx, e, indexed)
		if err != nil {
			return err
		}
		duties, root = got.Duties, got.DependentRoot
	}
	c.duties.mu.Lock()
	ed := c.duties.epoch(e)
	ed.attesters, ed.attesterRoot, ed.hasAttesters = duties, root, true
	c.duties.mu.Unlock()
	c.log.Debug("attester duties", "epoch", uint64(e), "duties", len(duties), "dependent_root", root.String())
	if len(duties) > 0 {
		c.background(func() {
			c.selectionProofs(ctx, duties)
			c.subscribeCommittees(ctx, duties)
		})
	}
	return nil
}

// fetchProposers fetches the proposers of epoch e and keeps ours: the
// index must be one of our validators with the same key.
func (c *Client) fetchProposers(ctx context.Context, e phase0.Epoch) error {
	k := fetchKey{fetchProposers, e}
	if !c.duties.begin(ctx, k) {
		return nil
	}
	defer c.duties.end(k)
	got, err := c.bn.ProposerDuties(ctx, e)
	if err != nil {
		return err
	}
	ours := c.validators.indexed()
	var mine []*apiv1.ProposerDuty
	for _, p := range got.Duties {
		if key, ok := ours[p.ValidatorIndex]; ok && key == p.PubKey {
			mine = append(mine, p)
		}
	}
	c.duties.mu.Lock()
	ed := c.duties.epoch(e)
	ed.proposers, ed.proposerRoot, ed.hasProposers = mine, got.DependentRoot, true
	c.duties.mu.Unlock()
	for _, p := range mine {
		c.log.Info("proposer duty", "slot", uint64(p.Slot), "validator", uint64(p.ValidatorIndex))
	}
	return nil
}

// period is the sync committee period of epoch e.
func (c *Client) period(e phase0.Epoch) uint64 {
	return uint64(e) / c.net.Preset().EpochsPerSyncCommitteePeriod
}

// hasSyncCommittees reports whether sync committees exist at epoch e.
func (c *Client) hasSyncCommittees(e phase0.Epoch) bool {
	return c.net.ForkAtEpoch(e).Name >= spec.DataVersionAltair
}

// fetchSync fetches the sync committee duties of the period of epoch e.
func (c *Client) fetchSync(ctx context.Context, e phase0.Epoch) error {
	p := c.period(e)
	k := fetchKey{fetchSync, phase0.Epoch(p)}
	if !c.duties.begin(ctx, k) {
		return nil
	}
	defer c.duties.end(k)
	indexed := c.validators.indexed()
	var duties []*apiv1.SyncCommitteeDuty
	if len(indexed) > 0 {
		var err error
		if duties, err = c.bn.SyncCommitteeDuties(ctx, e, indexed); err != nil {
			return err
		}
	}
	sort.Slice(duties, func(i, j int) bool { return duties[i].ValidatorIndex < duties[j].ValidatorIndex })
	c.duties.mu.Lock()
	c.duties.sync[p] = duties
	c.duties.mu.Unlock()
	if len(duties) > 0 {
		c.log.Info("sync committee duties", "period", p, "validators", len(duties))
	}
	return nil
}

// syncDutiesAt returns the sync committee members that act in slot s:
// those of the committee of the epoch of s+1, since their messages go into
// the next block (at a period's last slot, the next committee acts).
func (c *Client) syncDutiesAt(s phase0.Slot) ([]*apiv1.SyncCommitteeDuty, bool) {
	e := c.clock.epochOf(s + 1)
	if !c.hasSyncCommittees(c.clock.epochOf(s)) {
		return nil, true
	}
	c.duties.mu.Lock()
	defer c.duties.mu.Unlock()
	d, ok := c.duties.sync[c.period(e)]
	return d, ok
}

// checkDependentRoots compares a head event's dependent roots with those
// of the duties held and refetches what a reorganisation changed: the
// attester duties of the head's epoch depend on the previous dependent
// root, its proposer duties and the next epoch's attester duties on the
// current one, and the next epoch's proposer duties (when fetched ahead)
// on the head itself while it is in this epoch (the block at or before
// the epoch's last slot), so a late block there refreshes them.
func (c *Client) checkDependentRoots(ctx context.Context, h *apiv1.HeadEvent) {
	e := c.clock.epochOf(h.Slot)
	var stale []fetchKey
	c.duties.mu.Lock()
	if ed := c.duties.epochs[e]; ed != nil {
		if ed.hasAttesters && h.PreviousDutyDependentRoot != (phase0.Root{}) && ed.attesterRoot != h.PreviousDutyDependentRoot && len(ed.attesters) > 0 {
			stale = append(stale, fetchKey{fetchAttesters, e})
		}
		if ed.hasProposers && h.CurrentDutyDependentRoot != (phase0.Root{}) && ed.proposerRoot != h.CurrentDutyDependentRoot {
			stale = append(stale, fetchKey{fetchProposers, e})
		}
	}
	if ed := c.duties.epochs[e+1]; ed != nil {
		if ed.hasAttesters && h.CurrentDutyDependentRoot != (phase0.Root{}) && ed.attesterRoot != h.CurrentDutyDependentRoot && len(ed.attesters) > 0 {
			stale = append(stale, fetchKey{fetchAttesters, e + 1})
		}
		if ed.hasProposers && ed.proposerRoot != h.Block {
			stale = append(stale, fetchKey{fetchProposers, e + 1})
		}
	}
	c.duties.mu.Unlock()
	for _, k := range stale {
		c.log.Info("duties changed by a reorganisation; fetching them again", "kind", k.kind, "epoch", uint64(k.epoch))
		c.refetch(ctx, k)
	}
}

// refetch fetches duties again in the background.
func (c *Client) refetch(ctx context.Context, k fetchKey) {
	c.background(func() {
		var err error
		switch k.kind {
		case fetchAttesters:
			err = c.fetchAttesters(ctx, k.epoch)
		case fetchProposers:
			err = c.fetchProposers(ctx, k.epoch)
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("fetching duties failed", "kind", k.kind, "epoch", uint64(k.epoch), "err", err)
		}
	})
}

// ensureDuties makes sure the attester and proposer duties of epoch e are
// held, fetching what is missing now.
func (c *Client) ensureDuties(ctx context.Context, e phase0.Epoch) {
	att, prop := c.duties.has(e)
	var wg sync.WaitGroup
	if !att {
		wg.Go(func() {
			if err := c.fetchAttesters(ctx, e); err != nil && ctx.Err() == nil {
				c.log.Warn("fetching attester duties failed", "epoch", uint64(e), "err", err)
			}
		})
	}
	if !prop {
		wg.Go(func() {
			if err := c.fetchProposers(ctx, e); err != nil && ctx.Err() == nil {
				c.log.Warn("fetching proposer duties failed", "epoch", uint64(e), "err", err)
			}
		})
	}
	wg.Wait()
}
