package appliance

import (
	"context"
	"path/filepath"
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
		ClusterID:    a.cfg.ClusterID(),
		Participants: ids,
		Dir:          filepath.Join(a.cfg.DataDir, "ceremonies"),
		Network:      a.net,
		Rand:         a.opts.Rand,
		Log:          a.log,
		Clock:        clock{now: a.opts.Now, after: a.opts.After},
		MaxWait:      min(maxStatusWait, a.cfg.Listen.Limits.AdminTimeout/2),
	}, ceremony.Deps{
		Accounts: ceremonyAccounts{a},
		Sealer:   a.sealKey,
		Signer:   a.coord,
		Peers:    peerSet(a.peers),
		Audit:    auditor{a},
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
		items[i] = stageItem{composite: s.Composite, threshold: s.Threshold, share: s.Secret}
	}
	return c.a.stageAll(ctx, items)
}

func (c ceremonyAccounts) Activate(ctx context.Context, key api.PublicKey) error {
	return c.a.activate(ctx, key)
}

func (c ceremonyAccounts) Discard(key api.PublicKey) { c.a.discard(key) }

func (c ceremonyAccounts) Remove(ctx context.Context, key api.PublicKey, why string) error {
	_, _, err := c.a.remove(ctx, key, adminapi.SystemActor(why))
	return err
}
