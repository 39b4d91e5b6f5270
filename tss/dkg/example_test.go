package dkg_test

import (
	"crypto/rand"
	"fmt"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Example drives a 2-of-3 ceremony for one validator in one process. A
// signer does the same with each message carried over mutual TLS, a sealed
// snapshot persisted after every step, and Abort on timeout.
func Example() {
	cfg := dkg.Config{Participants: []tss.ID{1, 2, 3}, Threshold: 2, Validators: 1, Context: []byte("0x01...withdrawal credentials")}
	if _, err := rand.Read(cfg.Nonce[:]); err != nil {
		panic(err)
	}
	parts := map[tss.ID]*dkg.Participant{}
	type delivery struct {
		from, to tss.ID
		msg      dkg.Message
	}
	var queue []delivery
	send := func(from tss.ID, msgs []dkg.Message) {
		for _, m := range msgs {
			for _, to := range cfg.Participants {
				if to != from && (m.To == 0 || m.To == to) {
					queue = append(queue, delivery{from, to, m})
				}
			}
		}
	}
	for _, id := range cfg.Participants {
		p, err := dkg.New(cfg, id, rand.Reader)
		if err != nil {
			panic(err)
		}
		parts[id] = p
		send(id, p.Outbox())
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		out, err := parts[d.to].Deliver(d.from, d.msg.Bytes)
		if err != nil {
			panic(err)
		}
		send(d.to, out)
	}
	for _, id := range cfg.Participants {
		r, err := parts[id].Result()
		if err != nil {
			panic(err)
		}
		v := r.Validators[0]
		component, _ := v.Account.PublicKey(id)
		fmt.Printf("participant %s: %d qualified, share %s matches: %v\n", id, len(r.Qualified), v.Share, v.Share.PublicKey().Equal(component))
		r.Zero()
	}
	// Output:
	// participant 1: 3 qualified, share [REDACTED] matches: true
	// participant 2: 3 qualified, share [REDACTED] matches: true
	// participant 3: 3 qualified, share [REDACTED] matches: true
}
