package reshare

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/tss"
)

// A member that lost its shares gets them back, for its existing index,
// from the threshold of helpers; nobody else's share changes, and the
// repaired share signs with any threshold-1 of the others.
func TestRepair(t *testing.T) {
	for _, tc := range []struct {
		name     string
		t        int
		members  []tss.ID
		helpers  []tss.ID
		repaired tss.ID
	}{
		{"3-of-5, member 5 from the threshold of helpers", 3, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3), 5},
		{"3-of-5, member 2 from every other member", 3, idsOf(1, 2, 3, 4, 5), idsOf(1, 3, 4, 5), 2},
		{"5-of-7, member 1", 5, idsOf(1, 2, 3, 4, 5, 6, 7), idsOf(2, 3, 4, 5, 6, 7), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCurrent(t, tc.t, tc.members, 3)
			cfg := c.config(t, ModeRepair, tc.helpers, []tss.ID{tc.repaired}, tc.t)
			s := newSession(t, cfg, c)
			s.run()
			res := s.results()
			root := sha256.Sum256([]byte("repaired"))
			for v := range c.keys {
				if a := res[tc.repaired].Validators[v].Account; !a.Composite.Equal(c.keys[v]) {
					t.Fatalf("validator %d: the repaired member's result names another validator key", v)
				}
				got := res[tc.repaired].Validators[v].Share
				if !got.PublicKey().Equal(c.shares[tc.repaired][v].PublicKey()) {
					t.Fatalf("validator %d: the repaired share is not member %s's", v, tc.repaired)
				}
				for _, h := range tc.helpers {
					if res[h].Validators[v].Share != nil {
						t.Fatalf("helper %s got a share", h)
					}
				}
				var others []*tss.Share
				for _, id := range tc.members {
					if id != tc.repaired {
						others = append(others, c.shares[id][v])
					}
				}
				subsets(others, tc.t-1, func(sub []*tss.Share) {
					if !c.keys[v].Verify(root, combine(t, append(sub, got), root)) {
						t.Fatalf("validator %d: the repaired share does not sign with %v", v, shareIDs(sub))
					}
				})
			}
		})
	}
}

// A helper whose masking polynomial is not zero at the repaired index
// (it would shift the repaired share) is disqualified everywhere.
func TestAttackRepairMaskNotZeroAtRepairedIndex(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 2)
	cfg := c.config(t, ModeRepair, idsOf(1, 2, 3, 4), idsOf(5), 3)
	s := newSession(t, cfg, c)
	p := s.parts[2]
	// Deal again as a redistribution dealer would: a polynomial through
	// the helper's share, not zero at 5.
	p.l.mode = ModeRedistribute
	p.outbox = nil
	if err := p.deal(); err != nil {
		t.Fatal(err)
	}
	p.l.mode = ModeRepair
	s.run()
	res := s.results()
	for id, r := range res {
		if len(r.Disqualified) != 1 || r.Disqualified[0].Against != 2 || r.Disqualified[0].Kind != EvidenceWrongConstant {
			t.Fatalf("member %s: disqualified %v", id, r.Disqualified)
		}
	}
	if !res[5].Validators[0].Share.PublicKey().Equal(c.shares[5][0].PublicKey()) {
		t.Fatal("the repaired share is wrong")
	}
}

// A helper sends the repaired member wrong masked shares: the member
// names it and leaves them out when enough others are valid, and aborts
// (keeping nothing) when not.
func TestAttackRepairWrongMaskedShare(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 2)
	tamper := func(from, to tss.ID, m Message) []byte {
		if from == 3 && m.Kind == KindConfirmation {
			b := slices.Clone(m.Bytes)
			b[len(b)-1] ^= 1
			return b
		}
		return m.Bytes
	}
	t.Run("enough valid helpers", func(t *testing.T) {
		s := newSession(t, c.config(t, ModeRepair, idsOf(1, 2, 3, 4), idsOf(5), 3), c)
		s.tamper = tamper
		s.run()
		res := s.results()
		if !hasEvidence(s.parts[5].Evidence(), 3, EvidenceBadMaskedShare) {
			t.Fatalf("evidence %v", s.parts[5].Evidence())
		}
		if !res[5].Validators[1].Share.PublicKey().Equal(c.shares[5][1].PublicKey()) {
			t.Fatal("the repaired share is wrong")
		}
	})
	t.Run("too few valid helpers", func(t *testing.T) {
		s := newSession(t, c.config(t, ModeRepair, idsOf(1, 2, 3), idsOf(5), 3), c)
		s.tamper = tamper
		s.run()
		if _, err := s.parts[5].Result(); !errors.Is(err, ErrNotEnoughQualified) {
			t.Fatalf("repaired member: %v, want ErrNotEnoughQualified", err)
		}
		for _, m := range s.parts[5].masked {
			for _, x := range m.values {
				if !x.IsZero() {
					t.Fatal("masked shares kept after an abort")
				}
			}
		}
	})
}

// Masked shares go to the repaired member only, from helpers only.
func TestRepairRefusesMaskedSharesOutOfRole(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(t, ModeRepair, idsOf(1, 2), idsOf(3), 2)
	s := newSession(t, cfg, c)
	h := header{kind: KindConfirmation, session: s.parts[1].session, from: 1, to: 2}
	if _, err := s.parts[2].Deliver(1, appendHeader(nil, h)); !errors.Is(err, ErrWrongRecipient) {
		t.Fatalf("masked shares to a helper: %v, want ErrWrongRecipient", err)
	}
	h = header{kind: KindConfirmation, session: s.parts[1].session, from: 1}
	if _, err := s.parts[3].Deliver(1, appendHeader(nil, h)); !errors.Is(err, ErrWrongRecipient) {
		t.Fatalf("masked shares broadcast: %v, want ErrWrongRecipient", err)
	}
	h = header{kind: KindShares, session: s.parts[1].session, from: 1, to: 3}
	if _, err := s.parts[3].Deliver(1, appendHeader(nil, h)); !errors.Is(err, ErrWrongRecipient) {
		t.Fatalf("sub-shares to the repaired member: %v, want ErrWrongRecipient", err)
	}
}

func TestRepairConfig(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 1)
	for _, tc := range []struct {
		name    string
		helpers []tss.ID
		members []tss.ID
		t       int
	}{
		{"a new index", idsOf(1, 2, 3), idsOf(6), 3},
		{"two members", idsOf(1, 2, 3), idsOf(4, 5), 3},
		{"a helper repairing itself", idsOf(1, 2, 5), idsOf(5), 3},
		{"another threshold", idsOf(1, 2, 3), idsOf(5), 2},
		{"fewer helpers than the threshold", idsOf(1, 2), idsOf(5), 3},
	} {
		cfg := c.config(t, ModeRepair, tc.helpers, tc.members, tc.t)
		if _, err := New(cfg, 1, c.shares[1], rand.Reader); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
}
