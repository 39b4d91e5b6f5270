package reshare

import (
	"crypto/rand"
	"testing"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Keys made by distributed key generation reshare like any other: run a
// 3-of-5 DKG with package dkg, then redistribute its accounts to 5-of-7
// and refresh the result.
func TestReshareKeysFromDKG(t *testing.T) {
	members := idsOf(1, 2, 3, 4, 5)
	cfg := dkg.Config{Participants: members, Threshold: 3, Validators: 2, Context: []byte("deposits")}
	if _, err := rand.Read(cfg.Nonce[:]); err != nil {
		t.Fatal(err)
	}
	parts := map[tss.ID]*dkg.Participant{}
	type env struct {
		from, to tss.ID
		b        []byte
	}
	var queue []env
	send := func(from tss.ID, msgs []dkg.Message) {
		for _, m := range msgs {
			for _, to := range members {
				if to != from && (m.To == 0 || m.To == to) {
					queue = append(queue, env{from, to, m.Bytes})
				}
			}
		}
	}
	for _, id := range members {
		p, err := dkg.New(cfg, id, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		parts[id] = p
	}
	for _, id := range members {
		send(id, parts[id].Outbox())
	}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		out, err := parts[e.to].Deliver(e.from, e.b)
		if err != nil {
			t.Fatalf("dkg: %s from %s: %v", e.to, e.from, err)
		}
		send(e.to, out)
	}
	c := &current{shares: map[tss.ID][]*tss.Share{}}
	for _, id := range members {
		r, err := parts[id].Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, val := range r.Validators {
			if id == members[0] {
				c.accounts = append(c.accounts, val.Account)
				c.keys = append(c.keys, val.Account.Composite)
			}
			c.shares[id] = append(c.shares[id], val.Share)
		}
	}
	redistribute := c.config(t, ModeRedistribute, idsOf(1, 3, 5), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
	s := newSession(t, redistribute, c)
	s.run()
	res := s.results()
	shares := newShares(t, redistribute, res)
	checkSigning(t, c.keys, shares, 5)

	next := &current{keys: c.keys, shares: map[tss.ID][]*tss.Share{}}
	for v := range c.keys {
		next.accounts = append(next.accounts, res[1].Validators[v].Account)
		for _, sh := range shares[v] {
			next.shares[sh.ID()] = append(next.shares[sh.ID()], sh)
		}
	}
	refresh := next.config(t, ModeRefresh, idsOf(1, 2, 3, 4, 5, 6, 7), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
	s = newSession(t, refresh, next)
	s.run()
	checkSigning(t, c.keys, newShares(t, refresh, s.results()), 5)
}
