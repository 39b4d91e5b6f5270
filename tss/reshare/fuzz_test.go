package reshare

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/tss"
)

// FuzzDeliver feeds arbitrary bytes to a member in the middle of a
// resharing: nothing panics, a refused message is refused with one of the
// package's errors and changes nothing, and the seeds (every message of a
// real session, for every round) are accepted.
func FuzzDeliver(f *testing.F) {
	c := newCurrent(f, 2, idsOf(1, 2, 3), 2)
	for _, mode := range []Mode{ModeRedistribute, ModeRefresh, ModeRepair} {
		dealers := idsOf(1, 2)
		cfg := c.config(f, mode, dealers, idsOf(1, 2, 3), 2)
		if mode == ModeRepair {
			cfg = c.config(f, mode, dealers, idsOf(3), 2)
		}
		s := newSession(f, cfg, c)
		s.tamper = func(from, to tss.ID, m Message) []byte {
			if to == 3 {
				f.Add(byte(mode), m.Bytes)
			}
			return m.Bytes
		}
		s.run()
		s.results()
	}
	cfgs := map[Mode]Config{}
	for _, mode := range []Mode{ModeRedistribute, ModeRefresh} {
		cfgs[mode] = c.config(f, mode, idsOf(1, 2), idsOf(1, 2, 3), 2)
	}
	cfgs[ModeRepair] = c.config(f, ModeRepair, idsOf(1, 2), idsOf(3), 2)
	f.Fuzz(func(t *testing.T, mode byte, b []byte) {
		cfg, ok := cfgs[Mode(mode)]
		if !ok {
			return
		}
		var old []*tss.Share
		if cfg.Mode == ModeRefresh {
			old = c.shares[3]
		}
		p, err := New(cfg, 3, old, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// Seeds carry another session's id: rebind them to this one, so
		// that the fuzzer reaches the bodies.
		if len(b) >= headerLen {
			b = slices.Clone(b)
			copy(b[6:38], p.session[:])
		}
		from := tss.ID(1)
		if len(b) >= headerLen {
			from = tss.ID(binary.BigEndian.Uint64(b[38:46]))
		}
		phase, waiting := p.Phase(), p.Waiting()
		_, err = p.Deliver(from, b)
		if err != nil {
			known := []error{ErrMalformed, ErrVersion, ErrWrongCeremony, ErrSender, ErrWrongRecipient, ErrConflict}
			if !slices.ContainsFunc(known, func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("unexpected error %v", err)
			}
			if p.Phase() != phase || !slices.Equal(p.Waiting(), waiting) {
				t.Fatalf("a refused message changed the state: %v", err)
			}
		}
	})
}
