package reshare

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Every member restarts after every message it takes: resuming from its
// snapshot gives the same session, to the same new keys.
func TestResumeAfterEveryMessage(t *testing.T) {
	for _, mode := range []Mode{ModeRedistribute, ModeRefresh, ModeRepair} {
		t.Run(mode.String(), func(t *testing.T) {
			c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 1)
			cfg := c.config(t, mode, idsOf(1, 2, 4, 5), idsOf(1, 2, 3, 4, 5), 3)
			switch mode {
			case ModeRedistribute:
				cfg = c.config(t, mode, idsOf(1, 2, 4, 5), idsOf(2, 3, 4, 5, 6, 7, 8), 5)
			case ModeRepair:
				cfg = c.config(t, mode, idsOf(1, 2, 4, 5), idsOf(3), 3)
			}
			s := newSession(t, cfg, c)
			s.resume = true
			s.run()
			res := s.results()
			if mode == ModeRepair {
				if !res[3].Validators[0].Share.PublicKey().Equal(c.shares[3][0].PublicKey()) {
					t.Fatal("the repaired share is wrong")
				}
				return
			}
			checkSigning(t, c.keys, newShares(t, cfg, res), cfg.NewThreshold)
		})
	}
}

func TestResumeRefusesAnotherSession(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	a := c.config(t, ModeRefresh, idsOf(1, 2, 3), idsOf(1, 2, 3), 2)
	b := c.config(t, ModeRefresh, idsOf(1, 2, 3), idsOf(1, 2, 3), 2)
	p, err := New(a, 1, c.shares[1], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(b, 1, c.shares[1], p.Snapshot(), rand.Reader); !errors.Is(err, ErrWrongCeremony) {
		t.Fatalf("another session: %v, want ErrWrongCeremony", err)
	}
	if _, err := Resume(a, 2, c.shares[2], p.Snapshot(), rand.Reader); !errors.Is(err, ErrWrongCeremony) {
		t.Fatalf("another member's snapshot: %v, want ErrWrongCeremony", err)
	}
	if got := fmt.Sprintf("%v %x %s", p.Snapshot(), p.Snapshot(), p.Snapshot()); got != "reshare snapshot ("+fmt.Sprint(len(p.Snapshot()))+" bytes, secret) reshare snapshot ("+fmt.Sprint(len(p.Snapshot()))+" bytes, secret) reshare snapshot ("+fmt.Sprint(len(p.Snapshot()))+" bytes, secret)" {
		t.Fatalf("a snapshot printed its content: %s", got)
	}
}

// An aborted member resumes aborted, with its cause, and holds nothing.
func TestResumeKeepsAbort(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 1)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
	s := newSession(t, cfg, c)
	forgeDealing(t, s.parts[2], nil)
	s.run()
	p, err := Resume(cfg, 4, nil, s.parts[4].Snapshot(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Result(); !errors.Is(err, ErrAborted) || !errors.Is(err, ErrNotEnoughQualified) || p.Phase() != dkg.PhaseAborted {
		t.Fatalf("resumed: %v in phase %s", err, p.Phase())
	}
}

// FuzzResume feeds arbitrary snapshots to Resume: nothing panics, and
// anything refused is refused with one of the package's errors.
func FuzzResume(f *testing.F) {
	c := newCurrent(f, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(f, ModeRedistribute, idsOf(1, 2), idsOf(1, 2, 3), 2)
	s := newSession(f, cfg, c)
	s.tamper = func(from, to tss.ID, m Message) []byte {
		if to == 2 {
			f.Add(append([]byte(nil), s.parts[2].Snapshot()...))
		}
		return m.Bytes
	}
	s.run()
	f.Add(append([]byte(nil), s.parts[2].Snapshot()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Resume(cfg, 2, c.shares[2], b, rand.Reader)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrWrongCeremony) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
