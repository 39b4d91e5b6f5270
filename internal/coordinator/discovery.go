package coordinator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/parallel"
	"github.com/rampart-signer/rampart/tss"
)

// view is one participant's answer to discovery.
type view struct {
	p        Participant
	accounts []api.Account
	err      error
}

// Refresh asks every participant for its accounts and rebuilds the
// coordinator's account map. Component keys learned earlier are kept for
// participants that do not answer this time, so a participant that is
// briefly down stays usable; a participant that changes its component key
// for an account is dropped from that account and reported. It returns an
// error only when no participant answered; per-account problems are logged
// and leave that account out.
func (c *Coordinator) Refresh(ctx context.Context) error {
	views := make([]view, len(c.participants))
	var wg sync.WaitGroup
	for i, p := range c.participants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			as, err := p.Accounts(cctx)
			views[i] = view{p: p, accounts: as, err: err}
		}()
	}
	wg.Wait()

	answered := 0
	for _, v := range views {
		if v.err != nil {
			c.log.Warn("discovery: participant did not answer", "participant", v.p.ID(), "err", v.err)
			continue
		}
		answered++
	}
	if answered == 0 {
		return fmt.Errorf("%w: no participant answered discovery", ErrDiscovery)
	}

	c.mu.RLock()
	previous := c.accounts
	c.mu.RUnlock()
	next := c.buildAccounts(views, previous)

	c.mu.Lock()
	c.accounts = next
	c.mu.Unlock()
	return nil
}

// Invalidate makes the next RefreshIfOlder run discovery whatever its age:
// a caller that knows accounts changed (it activated one) calls it.
func (c *Coordinator) Invalidate() { c.onDemand.invalidate() }

// observed is what the participants said about one composite key.
type observed struct {
	threshold  int
	members    []api.Participant
	components map[tss.ID]api.PublicKey
	bad        error
}

func (c *Coordinator) buildAccounts(views []view, previous map[api.PublicKey]*account) map[api.PublicKey]*account {
	// Each account's views are grouped by configuration (threshold and
	// members): all agree but during a resharing's cutover, when some
	// members already advertise the new configuration.
	seen := map[api.PublicKey][]*observed{}
	answered := map[tss.ID]bool{}
	listed := map[api.PublicKey]map[tss.ID]bool{}
	for _, v := range views {
		if v.err != nil {
			continue
		}
		answered[v.p.ID()] = true
		dup := map[api.PublicKey]bool{}
		for _, a := range v.accounts {
			if dup[a.CompositePublicKey] {
				c.log.Warn("discovery: participant lists an account twice", "participant", v.p.ID(), "account", a.CompositePublicKey)
				continue
			}
			dup[a.CompositePublicKey] = true
			if listed[a.CompositePublicKey] == nil {
				listed[a.CompositePublicKey] = map[tss.ID]bool{}
			}
			listed[a.CompositePublicKey][v.p.ID()] = true
			var o *observed
			for _, g := range seen[a.CompositePublicKey] {
				if g.threshold == int(a.SigningThreshold) && sameParticipants(g.members, a.Participants) {
					o = g
				}
			}
			if o == nil {
				o = &observed{threshold: int(a.SigningThreshold), members: a.Participants, components: map[tss.ID]api.PublicKey{}}
				seen[a.CompositePublicKey] = append(seen[a.CompositePublicKey], o)
			}
			if o.bad != nil {
				continue
			}
			if err := c.checkView(v.p, a, o); err != nil {
				o.bad = err
				continue
			}
			o.components[v.p.ID()] = a.PublicKey
		}
	}

	keys := make([]api.PublicKey, 0, len(seen))
	chosen := make(map[api.PublicKey]*observed, len(seen))
	kept := map[api.PublicKey]*account{}
	for key, groups := range seen {
		o := c.chooseConfiguration(key, groups, previous[key], func(id tss.ID) bool { return answered[id] && !listed[key][id] })
		if o == nil {
			kept[key] = previous[key]
			continue
		}
		if o.bad != nil {
			c.log.Error("discovery: account refused", "account", key, "err", o.bad)
			continue
		}
		keys = append(keys, key)
		chosen[key] = o
	}
	// Decoding and checking new keys costs a subgroup check per key and an
	// interpolation per account: thousands of accounts at start-up, so
	// they are built over the CPUs.
	built := make([]*account, len(keys))
	parallel.For(len(keys), func(i int) {
		key, o := keys[i], chosen[keys[i]]
		prev := previous[key]
		if prev != nil && (prev.threshold != o.threshold || !sameMembers(prev.members, c.membersOf(o))) {
			prev = nil // the account changed shape: start over
		}
		acc, err := c.buildAccount(key, o, prev)
		if err != nil {
			c.log.Error("discovery: account refused", "account", key, "err", err)
			return
		}
		built[i] = acc
	})
	out := make(map[api.PublicKey]*account, len(keys)+len(kept))
	for i, acc := range built {
		if acc != nil {
			out[keys[i]] = acc
		}
	}
	for key, acc := range kept {
		out[key] = acc
	}
	return out
}

// chooseConfiguration picks, among the configurations (threshold and
// members) the participants advertise for one account, the one to sign
// with; nil keeps the account as it was known (prev). All participants
// advertise one configuration but during a resharing's cutover, when
// members that activated the new configuration advertise it while others
// still advertise the old one, and members that left list the account no
// more.
//
// The configuration known before stays until at least its threshold of
// its own members endorse another: by advertising it, or by answering
// without the account (they left it). Then an honest member activated it
// or left (under the threshold model at most t-1 members lie), so a
// compromised minority cannot move a coordinator to a configuration of
// its making, even when it alone answers. Without a configuration known
// before, conflicting views are refused, as the distributed signing
// profile requires (a coordinator started during a cutover signs for the
// account once the views agree). Groups found bad are skipped, unless the
// known configuration's is.
func (c *Coordinator) chooseConfiguration(key api.PublicKey, groups []*observed, prev *account, left func(tss.ID) bool) *observed {
	if prev == nil {
		if len(groups) == 1 {
			return groups[0]
		}
		return &observed{bad: fmt.Errorf("%w: participants disagree on threshold or participant set (%d configurations advertised)", ErrDiscovery, len(groups))}
	}
	var current, best *observed
	bestVotes := 0
	for _, g := range groups {
		if g.threshold == prev.threshold && sameMemberIDs(prev.members, g.members) {
			current = g
			continue
		}
		if g.bad != nil {
			continue
		}
		votes := 0
		for _, m := range prev.members {
			if _, ok := g.components[m.ID()]; ok || left(m.ID()) {
				votes++
			}
		}
		if votes >= prev.threshold && votes > bestVotes {
			best, bestVotes = g, votes
		}
	}
	switch {
	case best != nil:
		c.log.Info("discovery: a quorum of the account's members endorse a new configuration (a resharing); it replaces the current one", "account", key,
			"threshold", best.threshold, "members", len(best.members), "endorsed_by", bestVotes)
		return best
	case current != nil:
		if len(groups) > 1 {
			c.log.Info("discovery: some participants advertise another configuration of the account, not endorsed by a quorum of its current members; the current one stays", "account", key)
		}
		return current
	}
	c.log.Warn("discovery: the participants that answered advertise another configuration of the account, not endorsed by a quorum of its current members; the account stays as it was known", "account", key)
	return nil
}

// sameMemberIDs reports whether an account's members and a view's
// participant list name the same ids (without looking them up: a bad view
// may name participants this coordinator does not know).
func sameMemberIDs(ms []Participant, ps []api.Participant) bool {
	if len(ms) != len(ps) {
		return false
	}
	for _, p := range ps {
		if !slices.ContainsFunc(ms, func(m Participant) bool { return m.ID() == tss.ID(p.ID) }) {
			return false
		}
	}
	return true
}

func (c *Coordinator) membersOf(o *observed) []Participant {
	ms := make([]Participant, 0, len(o.members))
	for _, m := range o.members {
		ms = append(ms, c.byID[tss.ID(m.ID)])
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID() < ms[j].ID() })
	return ms
}

// buildAccount builds an account from what discovery observed, reusing the
// keys already decoded and validated in prev (the same account as
// discovered before): a refresh of an unchanged cluster decodes no point
// and interpolates nothing. A member whose component key changed is
// excluded and reported; members that did not answer keep the key they
// gave before.
//
// Component keys that change together are a resharing (a refresh, or a
// new configuration): when the keys the participants give now, taken
// alone, lie on one polynomial through the composite key, they replace the
// ones known before. A participant whose key changed alone still cannot
// take over its place: its new key does not fit the others'.
func (c *Coordinator) buildAccount(key api.PublicKey, o *observed, prev *account) (*account, error) {
	acc, rekeyed, err := c.buildFrom(key, o, prev)
	if rekeyed && prev != nil && len(o.components) >= o.threshold {
		if fresh, _, ferr := c.buildFrom(key, o, nil); ferr == nil && len(fresh.components) >= fresh.threshold {
			c.log.Info("discovery: the participants' component keys changed together (a resharing); the new ones replace the old", "account", key, "participants", len(fresh.components))
			return fresh, nil
		}
		c.log.Error("discovery: participant changed its component key, and the keys do not fit together; excluded from the account", "account", key)
	}
	return acc, err
}

// buildFrom is buildAccount without a resharing; it also reports whether
// some participant gave another component key than in prev.
func (c *Coordinator) buildFrom(key api.PublicKey, o *observed, prev *account) (*account, bool, error) {
	rekeyed := false
	acc := &account{key: key, threshold: o.threshold, members: c.membersOf(o), components: map[tss.ID]*bls.PublicKey{}, raw: map[tss.ID]api.PublicKey{}}
	if prev != nil {
		acc.composite = prev.composite
	} else {
		composite, err := bls.PublicKeyFromBytes(key[:])
		if err != nil {
			return nil, false, err
		}
		acc.composite = composite
	}
	changed := prev == nil
	for id, raw := range o.components {
		if prev != nil {
			if old, ok := prev.raw[id]; ok {
				if old != raw {
					rekeyed = true
					continue
				}
				acc.components[id], acc.raw[id] = prev.components[id], raw
				continue
			}
		}
		k, err := bls.PublicKeyFromBytes(raw[:])
		if err != nil {
			c.log.Error("discovery: malformed component key; participant excluded from the account", "account", key, "participant", id, "err", err)
			continue
		}
		acc.components[id], acc.raw[id] = k, raw
		changed = true
	}
	if prev != nil {
		for id, k := range prev.components {
			if _, ok := acc.raw[id]; !ok {
				if _, answered := o.components[id]; !answered {
					acc.components[id], acc.raw[id] = k, prev.raw[id]
				}
			}
		}
	}
	if changed || len(acc.components) != len(prev.components) {
		if err := validate(acc); err != nil {
			return nil, rekeyed, err
		}
	}
	return acc, rekeyed, nil
}

// checkView checks one participant's account object against the
// configuration and against what others said about the same account.
func (c *Coordinator) checkView(p Participant, a api.Account, o *observed) error {
	if tss.ID(a.ParticipantID) != p.ID() {
		return fmt.Errorf("%w: participant %s answered as participant %d", ErrDiscovery, p.ID(), a.ParticipantID)
	}
	if int(a.SigningThreshold) != o.threshold || !sameParticipants(a.Participants, o.members) {
		return fmt.Errorf("%w: participant %s disagrees on threshold or participant set", ErrDiscovery, p.ID())
	}
	ids := make([]tss.ID, 0, len(a.Participants))
	endpoints := map[string]bool{}
	member := false
	for _, m := range a.Participants {
		id := tss.ID(m.ID)
		ids = append(ids, id)
		if endpoints[m.Endpoint] {
			return fmt.Errorf("%w: endpoint %s listed twice", ErrDiscovery, m.Endpoint)
		}
		endpoints[m.Endpoint] = true
		conf, ok := c.byID[id]
		if !ok {
			return fmt.Errorf("%w: participant %s is not in this coordinator's configuration", ErrDiscovery, id)
		}
		if hp, ok := conf.(interface{ Endpoint() string }); ok && hp.Endpoint() != m.Endpoint {
			return fmt.Errorf("%w: participant %s is advertised at %s, configured at %s", ErrDiscovery, id, m.Endpoint, hp.Endpoint())
		}
		if id == p.ID() {
			member = true
		}
	}
	if err := tss.CheckIDs(ids); err != nil {
		return fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	if err := tss.CheckThreshold(int(a.SigningThreshold), len(ids)); err != nil {
		return fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	if !member {
		return fmt.Errorf("%w: participant %s is not a member of the account it holds", ErrDiscovery, p.ID())
	}
	return nil
}

// validate checks that the known component keys and the composite key lie
// on one polynomial of the account's degree.
func validate(a *account) error {
	if len(a.components) < a.threshold {
		// Too few keys to check; the account cannot sign yet either, but
		// stays listed so discovery can complete it later.
		return nil
	}
	comps := make([]tss.Component, 0, len(a.components))
	for id, k := range a.components {
		comps = append(comps, tss.Component{ID: id, PublicKey: k})
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].ID < comps[j].ID })
	ta := tss.Account{Composite: a.composite, Threshold: a.threshold, Components: comps}
	if err := ta.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	return nil
}

func sameParticipants(a, b []api.Participant) bool {
	if len(a) != len(b) {
		return false
	}
	x := slices.Clone(a)
	y := slices.Clone(b)
	less := func(p, q api.Participant) int { return cmp.Compare(p.ID, q.ID) }
	slices.SortFunc(x, less)
	slices.SortFunc(y, less)
	return slices.Equal(x, y)
}

func sameMembers(a, b []Participant) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID() != b[i].ID() {
			return false
		}
	}
	return true
}
