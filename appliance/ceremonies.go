package appliance

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/ceremony"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// The wiring of the key-generation ceremonies (package ceremony): the
// signer's parts behind the interfaces the ceremonies declare. Nothing
// here decides anything; the guards of the ceremony routes are in
// authz.go.

// maxStatusWait bounds a ceremony status request that waits for a change.
const maxStatusWait = 30 * time.Second

// newCeremonies makes the ceremony service once the network, the sealing
// key, the peers, the audit log and the coordinator are there.
func (a *Appliance) newCeremonies() *ceremony.Service {
	var ids []tss.ID
	for _, p := range a.cfg.Cluster.Participants {
		ids = append(ids, tss.ID(p.ID))
	}
	return ceremony.New(ceremony.Config{
		Self:         tss.ID(a.cfg.Node.ID),
		AllowWeaker:  a.cfg.Accounts.AllowWeakerRedistribution,
		ClusterID:    a.cfg.ClusterID(),
		Participants: ids,
		Dir:          filepath.Join(a.cfg.DataDir, "ceremonies"),
		Network:      a.net,
		Rand:         a.opts.Rand,
		Log:          a.log,
		Clock:        clock{now: a.opts.Now, after: a.opts.After},
		MaxWait:      min(maxStatusWait, a.cfg.Listen.Limits.AdminTimeout/2),
	}, ceremony.Deps{
		Accounts:  ceremonyAccounts{a},
		Refreshes: ceremonyAccounts{a},
		Repairs:   ceremonyAccounts{a},
		Directory: directory{a},
		Sealer:    a.sealKey,
		Signer:    a.coord,
		Peers:     peerSet(a.peers),
		Audit:     auditor{a},
	})
}

// clock is Options.Now and Options.After.
type clock struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

func (c clock) Now() time.Time                         { return c.now() }
func (c clock) After(d time.Duration) <-chan time.Time { return c.after(d) }

// peerSet is the other signers' clients, as the ceremonies' Peers.
type peerSet map[tss.ID]*peer.Client

func (s peerSet) Peer(id tss.ID, relay *adminapi.Actor) ceremony.Peer {
	c := adminapi.NewClient(s[id])
	if relay != nil {
		return c.RelayFor(*relay)
	}
	return c
}

// auditor records the ceremonies' administrative actions.
type auditor struct{ a *Appliance }

func (au auditor) RecordAdmin(x adminapi.Actor, action string) error {
	if e := au.a.recordAdmin(x, action); e != nil {
		return e
	}
	return nil
}

// ceremonyAccounts is the account lifecycle (lifecycle.go) as the
// ceremonies use it.
type ceremonyAccounts struct{ a *Appliance }

func (c ceremonyAccounts) Stage(ctx context.Context, shares []ceremony.Share) ([]*bls.PublicKey, error) {
	items := make([]stageItem, len(shares))
	for i, s := range shares {
		items[i] = stageItem{composite: s.Composite, threshold: s.Threshold, share: s.Secret, members: s.Members, generation: s.Generation}
	}
	return c.a.stageAll(ctx, items)
}

func (c ceremonyAccounts) Activate(ctx context.Context, keys []api.PublicKey) error {
	return c.a.activateAll(ctx, keys)
}

func (c ceremonyAccounts) Discard(key api.PublicKey) { c.a.discard(key) }

func (c ceremonyAccounts) Remove(ctx context.Context, key api.PublicKey, why string) error {
	_, _, err := c.a.remove(ctx, key, adminapi.SystemActor(why))
	return err
}

func (c ceremonyAccounts) Held(_ context.Context, keys []api.PublicKey) ([]ceremony.Held, error) {
	held, err := c.a.heldShares(keys)
	if err != nil {
		return nil, err
	}
	out := make([]ceremony.Held, len(held))
	for i, h := range held {
		out[i] = ceremony.Held{Composite: h.composite, Component: h.component, Threshold: h.threshold, Secret: h.secret}
	}
	return out, nil
}

func (c ceremonyAccounts) StageRefresh(ctx context.Context, shares []ceremony.Share) ([]*bls.PublicKey, error) {
	items := make([]stageItem, len(shares))
	for i, s := range shares {
		items[i] = stageItem{composite: s.Composite, threshold: s.Threshold, share: s.Secret, members: s.Members, generation: s.Generation}
	}
	return c.a.stageRefresh(ctx, items)
}

func (c ceremonyAccounts) DiscardRefresh(key api.PublicKey) { c.a.discardRefresh(key) }

func (c ceremonyAccounts) Leave(ctx context.Context, key api.PublicKey) error {
	return c.a.leave(ctx, key)
}

func (c ceremonyAccounts) Purge(ctx context.Context, key api.PublicKey) error {
	return c.a.purgeJoined(ctx, key)
}

func (c ceremonyAccounts) Suspend(ctx context.Context, keys []api.PublicKey) error {
	return c.a.suspendLeaving(ctx, keys)
}

func (c ceremonyAccounts) Unsuspend(ctx context.Context, keys []api.PublicKey) error {
	return c.a.resumeLeaving(ctx, keys)
}

func (c ceremonyAccounts) ActivateRefresh(ctx context.Context, key api.PublicKey) error {
	return c.a.activateRefresh(ctx, key)
}

func (c ceremonyAccounts) RollBackRefresh(ctx context.Context, key api.PublicKey) error {
	return c.a.rollBackRefresh(ctx, key)
}

func (c ceremonyAccounts) FinishRefresh(_ context.Context, key api.PublicKey) error {
	return c.a.finishRefresh(key)
}

// directory is the accounts' public configuration as this signer's
// coordinator discovers it.
type directory struct{ a *Appliance }

func (d directory) Keys() []api.PublicKey { return d.a.accounts.keys() }

// clusterIDs lists the cluster's participants, ascending.
func (d directory) clusterIDs() []tss.ID {
	ids := d.a.cfg.participantIDs()
	out := make([]tss.ID, len(ids))
	for i, id := range ids {
		out[i] = tss.ID(id)
	}
	return out
}

func (d directory) Configuration(keys []api.PublicKey) []ceremony.Held {
	out := make([]ceremony.Held, len(keys))
	for i, key := range keys {
		acc, ok := d.a.accounts.get(key)
		if !ok {
			continue
		}
		h := ceremony.Held{Holds: true, Threshold: acc.threshold, Generation: acc.generation, Members: make([]tss.ID, len(acc.members))}
		for k, m := range acc.members {
			h.Members[k] = tss.ID(m)
		}
		out[i] = h
	}
	return out
}

func (d directory) Generation(keys []api.PublicKey) (uint64, error) {
	var g uint64
	for i, key := range keys {
		acc, ok := d.a.accounts.get(key)
		if !ok {
			return 0, fmt.Errorf("[%d]: %s is not an active account of this signer", i, key)
		}
		if i > 0 && acc.generation != g {
			return 0, fmt.Errorf("[%d]: %s is at configuration generation %d, [0] at %d: reshare the accounts of one generation at a time (--accounts; rampartctl shares list shows each share's)", i, key, acc.generation, g)
		}
		g = acc.generation
	}
	return g, nil
}

func (d directory) PublicConfig(ctx context.Context, keys []api.PublicKey, q ceremony.ConfigQuery) ([]tss.Account, error) {
	lost := q.Lost
	if err := d.a.coord.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("discovering the accounts: %w", err)
	}
	out := make([]tss.Account, len(keys))
	for i, key := range keys {
		info, ok := d.a.coord.Account(key)
		if !ok {
			return nil, fmt.Errorf("[%d]: %s is not an account of this cluster (or a participant refused it: see the signer's log)", i, key)
		}
		if cluster := d.clusterIDs(); !q.Redistribution && !slices.Equal(info.Members, cluster) {
			return nil, fmt.Errorf("[%d]: %s belongs to a configuration of participants %v, not the cluster's %v: a refresh or a repair keeps an account's configuration, and its plan lists the cluster's", i, key, info.Members, cluster)
		}
		if lost != 0 && !slices.Contains(info.Members, lost) {
			return nil, fmt.Errorf("[%d]: %s: participant %s is not one of its members", i, key, lost)
		}
		if gone := missing(info.Members, info.Known); lost == 0 && !q.Redistribution && len(gone) > 0 {
			return nil, fmt.Errorf("[%d]: %s: the component keys of participants %v are unknown (down?): a refresh needs every participant", i, key, gone)
		}
		composite, err := bls.PublicKeyFromBytes(key[:])
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		acc := tss.Account{Composite: composite, Threshold: info.Threshold}
		for _, id := range info.Members {
			raw, ok := info.Components[id]
			if !ok || id == lost {
				continue
			}
			pk, err := bls.PublicKeyFromBytes(raw[:])
			if err != nil {
				return nil, fmt.Errorf("[%d]: component key of participant %s: %w", i, id, err)
			}
			acc.Components = append(acc.Components, tss.Component{ID: id, PublicKey: pk})
		}
		slices.SortFunc(acc.Components, func(x, y tss.Component) int { return cmp.Compare(x.ID, y.ID) })
		if lost != 0 || q.Redistribution {
			if len(acc.Components) < acc.Threshold {
				return nil, fmt.Errorf("[%d]: %s: %d component keys known besides participant %s's, fewer than the threshold %d", i, key, len(acc.Components), lost, acc.Threshold)
			}
			// The lost member's key, and those of members not heard from
			// (down: they do not take part in a repair), are where the
			// others' polynomial puts them; the account's validation then
			// checks every key.
			known := acc.Components[:acc.Threshold:acc.Threshold]
			for _, id := range missing(info.Members, componentIDs(acc.Components)) {
				pk, err := tss.PublicKeyAt(known, id)
				if err != nil {
					return nil, fmt.Errorf("[%d]: %s: %w", i, key, err)
				}
				acc.Components = append(acc.Components, tss.Component{ID: id, PublicKey: pk})
			}
			slices.SortFunc(acc.Components, func(x, y tss.Component) int { return cmp.Compare(x.ID, y.ID) })
		}
		if err := acc.Validate(); err != nil {
			return nil, fmt.Errorf("[%d]: %s: %w", i, key, err)
		}
		out[i] = acc
	}
	return out, nil
}

func missing(all, known []tss.ID) []tss.ID {
	var out []tss.ID
	for _, id := range all {
		if !slices.Contains(known, id) {
			out = append(out, id)
		}
	}
	return out
}

func (c ceremonyAccounts) ExportHistory(ctx context.Context, keys []api.PublicKey) ([]byte, error) {
	return c.a.exportHistory(ctx, keys)
}

func (c ceremonyAccounts) StageRepaired(ctx context.Context, shares []ceremony.Share, histories [][]byte) ([]*bls.PublicKey, error) {
	items := make([]stageItem, len(shares))
	for i, s := range shares {
		items[i] = stageItem{composite: s.Composite, threshold: s.Threshold, share: s.Secret, members: s.Members, generation: s.Generation}
	}
	return c.a.stageRepaired(ctx, items, histories)
}

func (c ceremonyAccounts) ImportHistories(ctx context.Context, keys []api.PublicKey, histories [][]byte) error {
	return c.a.importHistories(ctx, keys, histories)
}

func (c ceremonyAccounts) Cutover(ctx context.Context, keys []api.PublicKey) (uint64, error) {
	return c.a.repairCutover(ctx, keys)
}

func componentIDs(cs []tss.Component) []tss.ID {
	out := make([]tss.ID, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
