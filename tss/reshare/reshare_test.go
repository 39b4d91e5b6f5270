package reshare

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

func TestRedistribute(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		tOld                     int
		old, dealers, newMembers []tss.ID
		tNew                     int
	}{
		{name: "3-of-5 to 5-of-7", tOld: 3, old: idsOf(1, 2, 3, 4, 5), dealers: idsOf(1, 2, 3, 4, 5), newMembers: idsOf(1, 2, 3, 4, 5, 6, 7), tNew: 5},
		{name: "3-of-5 to 5-of-7 from the old threshold of dealers", tOld: 3, old: idsOf(1, 2, 3, 4, 5), dealers: idsOf(2, 4, 5), newMembers: idsOf(1, 2, 3, 4, 5, 6, 7), tNew: 5},
		{name: "replace member 5 by member 6", tOld: 3, old: idsOf(1, 2, 3, 4, 5), dealers: idsOf(1, 2, 3, 4), newMembers: idsOf(1, 2, 3, 4, 6), tNew: 3},
		{name: "remove member 4 for good: 3-of-4 to 2-of-3", tOld: 3, old: idsOf(1, 2, 3, 4), dealers: idsOf(1, 2, 3, 4), newMembers: idsOf(1, 2, 3), tNew: 2},
		{name: "to entirely new members", tOld: 2, old: idsOf(1, 2, 3), dealers: idsOf(1, 3), newMembers: idsOf(7, 8, 9, 10), tNew: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCurrent(t, tc.tOld, tc.old, 3)
			cfg := c.config(t, ModeRedistribute, tc.dealers, tc.newMembers, tc.tNew)
			s := newSession(t, cfg, c)
			s.run()
			res := s.results()
			for id, r := range res {
				if len(r.Qualified) != len(tc.dealers) || len(r.Disqualified) != 0 {
					t.Fatalf("member %s: qualified %v, disqualified %v", id, r.Qualified, r.Disqualified)
				}
				for v, val := range r.Validators {
					if !val.Account.Composite.Equal(c.keys[v]) || val.Account.Threshold != tc.tNew {
						t.Fatalf("member %s: validator %d changed key or threshold", id, v)
					}
					if _, isNew := s.parts[id].l.memberAt[id]; !isNew && val.Share != nil {
						t.Fatalf("leaving dealer %s got a new share", id)
					}
				}
			}
			checkSigning(t, c.keys, newShares(t, cfg, res), tc.tNew)
		})
	}
}

func TestRefresh(t *testing.T) {
	for _, tc := range []struct {
		t       int
		members []tss.ID
		dealers []tss.ID
	}{
		{3, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3, 4, 5)},
		{3, idsOf(1, 2, 3, 4, 5), idsOf(1, 3, 5)},
		{2, idsOf(1, 2, 3), idsOf(1, 2, 3)},
	} {
		t.Run(fmt.Sprintf("%d-of-%d, %d dealers", tc.t, len(tc.members), len(tc.dealers)), func(t *testing.T) {
			c := newCurrent(t, tc.t, tc.members, 3)
			cfg := c.config(t, ModeRefresh, tc.dealers, tc.members, tc.t)
			s := newSession(t, cfg, c)
			s.run()
			res := s.results()
			shares := newShares(t, cfg, res)
			checkSigning(t, c.keys, shares, tc.t)
			root := sha256.Sum256([]byte("mixing old and new"))
			for v := range shares {
				for i, sh := range shares[v] {
					if sh.PublicKey().Equal(c.shares[sh.ID()][v].PublicKey()) {
						t.Fatalf("validator %d: member %s's share did not change", v, sh.ID())
					}
					// Shares stolen before the refresh do not combine with
					// shares stolen after it.
					mixed := append([]*tss.Share{c.shares[sh.ID()][v]}, shares[v][:i]...)
					mixed = append(mixed, shares[v][i+1:]...)
					if c.keys[v].Verify(root, combine(t, mixed[:tc.t], root)) {
						t.Fatalf("validator %d: an old share combined with new shares", v)
					}
				}
			}
		})
	}
}

// A dealer sub-shares a value other than its share (here a random one),
// with commitments consistent with what it sends: the constant term of its
// commitments is not its public share, and every member disqualifies it.
func TestAttackCommitmentNotMatchingPublicShare(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 2)
	t.Run("completes without the dealer when enough others deal", func(t *testing.T) {
		cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3, 4), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
		s := newSession(t, cfg, c)
		forgeDealing(t, s.parts[2], nil)
		s.run()
		res := s.results()
		for id, r := range res {
			if len(r.Disqualified) != 1 || r.Disqualified[0].Against != 2 || r.Disqualified[0].Kind != EvidenceWrongConstant {
				t.Fatalf("member %s: disqualified %v", id, r.Disqualified)
			}
		}
		checkSigning(t, c.keys, newShares(t, cfg, res), 5)
	})
	t.Run("aborts everywhere when too few dealers remain", func(t *testing.T) {
		cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
		s := newSession(t, cfg, c)
		forgeDealing(t, s.parts[2], nil)
		s.run()
		for id, p := range s.parts {
			if _, err := p.Result(); !errors.Is(err, ErrNotEnoughQualified) {
				t.Fatalf("member %s: %v, want ErrNotEnoughQualified", id, err)
			}
		}
	})
}

// A dealer sends one new member sub-shares that do not match its
// commitments. The member complains; the dealer reveals the right
// sub-share publicly and the member uses it, or, when the dealer does not
// answer or answers wrongly, it is disqualified everywhere.
func TestAttackInconsistentSubShares(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 2)
	corrupt := func(from, to tss.ID, m Message) []byte {
		if from == 1 && to == 6 && m.Kind == KindShares {
			b := slices.Clone(m.Bytes)
			b[headerLen+31] ^= 1
			return b
		}
		return m.Bytes
	}
	t.Run("answered complaint", func(t *testing.T) {
		cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3, 4), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
		s := newSession(t, cfg, c)
		s.tamper = corrupt
		s.run()
		res := s.results()
		if len(res[6].Disqualified) != 0 || !hasEvidence(s.parts[6].Evidence(), 1, EvidenceBadShare) || !hasEvidence(s.parts[6].Evidence(), 6, EvidenceAnsweredComplaint) {
			t.Fatalf("evidence %v, disqualified %v", s.parts[6].Evidence(), res[6].Disqualified)
		}
		checkSigning(t, c.keys, newShares(t, cfg, res), 5)
	})
	for _, answer := range []string{"unanswered", "answered wrongly"} {
		t.Run(answer, func(t *testing.T) {
			cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3, 4), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
			s := newSession(t, cfg, c)
			s.tamper = func(from, to tss.ID, m Message) []byte {
				if from == 1 && m.Kind == KindJustification {
					var b []byte
					if answer == "unanswered" {
						b = appendHeader(nil, header{kind: KindJustification, session: s.parts[1].session, from: 1})
						b = appendJustification(b, &justification{})
					} else {
						b = slices.Clone(m.Bytes)
						b[len(b)-1] ^= 1
					}
					// The dishonest dealer keeps what it sent as its own.
					sendOwn(t, s.parts[1], b)
					return b
				}
				return corrupt(from, to, m)
			}
			s.run()
			res := s.results()
			want := EvidenceUnanswered
			if answer != "unanswered" {
				want = EvidenceInvalidJustification
			}
			for id, r := range res {
				if len(r.Disqualified) != 1 || r.Disqualified[0].Against != 1 || r.Disqualified[0].Kind != want {
					t.Fatalf("member %s: disqualified %v, want dealer 1 for %s", id, r.Disqualified, want)
				}
			}
			checkSigning(t, c.keys, newShares(t, cfg, res), 5)
		})
	}
}

// A session configured with a lower old threshold than the accounts' (so
// that fewer current members could "reshare" a key) is refused before
// anything is sent; a member configured so differs in its session id, and
// honest members refuse its messages.
func TestAttackDowngradedOldThreshold(t *testing.T) {
	c := newCurrent(t, 4, idsOf(1, 2, 3, 4, 5), 2)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3), idsOf(1, 2, 3, 4, 5), 3)
	cfg.OldThreshold = 3
	if _, err := New(cfg, 1, c.shares[1], rand.Reader); !errors.Is(err, ErrConfig) {
		t.Fatalf("downgraded threshold: %v, want ErrConfig", err)
	}
	cfg.OldThreshold = 4
	if _, err := New(cfg, 1, c.shares[1], rand.Reader); !errors.Is(err, ErrConfig) {
		t.Fatalf("fewer dealers than the old threshold: %v, want ErrConfig", err)
	}
	// Accounts forged at threshold 3 (components on a polynomial of degree
	// 2 through the validator key) validate by themselves, but a dealer's
	// real share does not match its forged component key, and the session
	// id differs from the honest members'.
	forged := slices.Clone(c.accounts)
	for v := range forged {
		f, err := tss.Split(rand.Reader, mustKey(t), 3, idsOf(1, 2, 3, 4, 5))
		if err != nil {
			t.Fatal(err)
		}
		f.Account.Composite = c.accounts[v].Composite
		forged[v] = f.Account
	}
	bad := cfg
	bad.OldThreshold, bad.Accounts = 3, forged
	if _, err := New(bad, 1, c.shares[1], rand.Reader); !errors.Is(err, ErrConfig) {
		t.Fatalf("forged accounts: %v, want ErrConfig", err)
	}
	honest := c.config(t, ModeRedistribute, idsOf(1, 2, 3, 4), idsOf(1, 2, 3, 4, 5), 3)
	newMember, err := New(honest, 5, nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bad = honest
	bad.OldThreshold, bad.Dealers = 3, idsOf(1, 2, 3)
	msg := appendHeader(nil, header{kind: KindCommitments, session: bad.SessionID(), from: 1})
	if _, err := newMember.Deliver(1, msg); !errors.Is(err, ErrWrongCeremony) {
		t.Fatalf("message of the downgraded session: %v, want ErrWrongCeremony", err)
	}
}

// Every message carries the session id: messages recorded in an earlier
// resharing of the same members are refused by a later one, and change
// nothing.
func TestAttackReplayFromEarlierSession(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 2)
	first := c.config(t, ModeRefresh, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3, 4, 5), 3)
	var recorded []envelope
	s1 := newSession(t, first, c)
	s1.tamper = func(from, to tss.ID, m Message) []byte {
		recorded = append(recorded, envelope{from: from, to: to, m: m})
		return m.Bytes
	}
	s1.run()
	s1.results()
	second := c.config(t, ModeRefresh, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3, 4, 5), 3)
	s2 := newSession(t, second, c)
	for _, e := range recorded {
		p := s2.parts[e.to]
		before := p.Waiting()
		if _, err := p.Deliver(e.from, e.m.Bytes); !errors.Is(err, ErrWrongCeremony) {
			t.Fatalf("replayed %s from %s: %v, want ErrWrongCeremony", e.m.Kind, e.from, err)
		}
		if p.Phase() != dkg.PhaseDeal || !slices.Equal(before, p.Waiting()) {
			t.Fatalf("a replayed message changed member %s's state", e.to)
		}
	}
	s2.run()
	checkSigning(t, c.keys, newShares(t, second, s2.results()), 3)
}

// A dealer shows member 7 other commitments (with sub-shares consistent
// with them) than it shows everyone else. The echoes expose it and every
// member disqualifies it; the resharing completes without it.
func TestAttackEquivocatingDealer(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 2)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3, 4), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
	s := newSession(t, cfg, c)
	// A second, equally valid dealing by dealer 3 (its real share, other
	// random coefficients).
	twin, err := New(cfg, 3, c.shares[3], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alt := map[dkg.Kind]map[tss.ID][]byte{KindCommitments: {}, KindShares: {}}
	for _, m := range twin.Outbox() {
		alt[m.Kind][m.To] = m.Bytes
	}
	s.tamper = func(from, to tss.ID, m Message) []byte {
		if from == 3 && to == 7 {
			switch m.Kind {
			case KindCommitments:
				return alt[KindCommitments][0]
			case KindShares:
				return alt[KindShares][7]
			}
		}
		return m.Bytes
	}
	s.run()
	res := s.results()
	for id, r := range res {
		if len(r.Disqualified) != 1 || r.Disqualified[0].Against != 3 || r.Disqualified[0].Kind != EvidenceEquivocation {
			t.Fatalf("member %s: disqualified %v, want dealer 3 for equivocation", id, r.Disqualified)
		}
	}
	checkSigning(t, c.keys, newShares(t, cfg, res), 5)
}

// A member that sends a second, different message of a kind is refused
// and the conflict kept as evidence; the first message stands.
func TestAttackConflictingDuplicate(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3), idsOf(1, 2, 3), 2)
	s := newSession(t, cfg, c)
	twin, err := New(cfg, 1, c.shares[1], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	first := s.parts[1].Outbox()[0]
	if _, err := s.parts[2].Deliver(1, first.Bytes); err != nil {
		t.Fatal(err)
	}
	if _, err := s.parts[2].Deliver(1, twin.Outbox()[0].Bytes); !errors.Is(err, ErrConflict) {
		t.Fatalf("second commitments: %v, want ErrConflict", err)
	}
	if !hasEvidence(s.parts[2].Evidence(), 1, EvidenceConflict) {
		t.Fatalf("evidence %v", s.parts[2].Evidence())
	}
	s.run()
	checkSigning(t, c.keys, newShares(t, cfg, s.results()), 2)
}

// A refresh dealer whose constant-term commitment is not the identity
// would add to the key: its message does not even parse.
func TestAttackRefreshWithNonZeroConstant(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 1)
	cfg := c.config(t, ModeRefresh, idsOf(1, 2, 3, 4, 5), idsOf(1, 2, 3, 4, 5), 3)
	s := newSession(t, cfg, c)
	m := slices.Clone(s.parts[1].Outbox()[0].Bytes)
	k := c.keys[0].Bytes()
	copy(m[headerLen:], k[:])
	if _, err := s.parts[2].Deliver(1, m); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-identity constant: %v, want ErrMalformed", err)
	}
}

// Roles: only dealers deal and justify; only new members echo and
// confirm; sub-shares go to their recipient only; the sender must be the
// authenticated peer.
func TestRefusesMessagesOutOfRole(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2), idsOf(3, 4, 5), 2)
	s := newSession(t, cfg, c)
	p := s.parts[4]
	for _, tc := range []struct {
		name string
		from tss.ID
		h    header
		want error
	}{
		{"commitments from a non-dealer", 5, header{kind: KindCommitments, from: 5}, ErrSender},
		{"echo from a leaving dealer", 1, header{kind: KindEcho, from: 1}, ErrSender},
		{"sub-shares for another member", 1, header{kind: KindShares, from: 1, to: 5}, ErrWrongRecipient},
		{"broadcast naming a recipient", 1, header{kind: KindCommitments, from: 1, to: 4}, ErrWrongRecipient},
		{"another sender than the peer", 2, header{kind: KindCommitments, from: 1}, ErrSender},
		{"a stranger", 9, header{kind: KindEcho, from: 9}, ErrSender},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.session = p.session
			if _, err := p.Deliver(tc.from, appendHeader(nil, tc.h)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// Shares given to New must be the dealer's own, matching its component
// keys: a dealer cannot be started on a wrong or foreign share.
func TestNewRefusesForeignShares(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 2)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2), idsOf(1, 2, 3), 2)
	for _, tc := range []struct {
		name string
		old  []*tss.Share
	}{
		{"another member's", c.shares[2]},
		{"too few", c.shares[1][:1]},
		{"swapped validators", []*tss.Share{c.shares[1][1], c.shares[1][0]}},
	} {
		if _, err := New(cfg, 1, tc.old, rand.Reader); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
}

// Nothing of the new configuration exists anywhere when a member aborts:
// the caller's abort zeroes every secret and Result reports the reason.
func TestAbortLeavesNothing(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(t, ModeRefresh, idsOf(1, 2, 3), idsOf(1, 2, 3), 2)
	s := newSession(t, cfg, c)
	s.parts[2].Abort("member 3 stayed away")
	if _, err := s.parts[2].Result(); !errors.Is(err, ErrAborted) {
		t.Fatalf("aborted: %v", err)
	}
	for _, m := range s.parts[2].Outbox() {
		if m.Kind == KindShares && m.Bytes != nil {
			t.Fatal("sub-shares kept after an abort")
		}
	}
	for _, x := range s.parts[2].old {
		if !x.IsZero() {
			t.Fatal("current share copy kept after an abort")
		}
	}
	// The old configuration is untouched: the caller's shares still sign.
	root := sha256.Sum256([]byte("still signing"))
	if !c.keys[0].Verify(root, combine(t, []*tss.Share{c.shares[1][0], c.shares[2][0]}, root)) {
		t.Fatal("the current shares no longer sign")
	}
}

// A new member shows one member another echo than the others (here, a
// commitments hash that makes it look as if a dealer equivocated). The
// members no longer agree on the transcript: every member aborts at
// confirmation and no new share exists anywhere.
func TestAttackEquivocatingMember(t *testing.T) {
	c := newCurrent(t, 3, idsOf(1, 2, 3, 4, 5), 1)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2, 3, 4), idsOf(1, 2, 3, 4, 5, 6, 7), 5)
	s := newSession(t, cfg, c)
	s.tamper = func(from, to tss.ID, m Message) []byte {
		if from == 6 && to == 7 && m.Kind == KindEcho {
			b := slices.Clone(m.Bytes)
			b[headerLen] ^= 1
			return b
		}
		return m.Bytes
	}
	s.run()
	for id, p := range s.parts {
		_, err := p.Result()
		if id == 6 {
			// The equivocating member itself sees every honest
			// confirmation differ from its own view only where it lied.
			continue
		}
		if !errors.Is(err, ErrTranscriptMismatch) {
			t.Fatalf("member %s: %v, want ErrTranscriptMismatch", id, err)
		}
	}
}

// A new member whose confirmation does not verify under its new component
// keys (it does not hold the shares it claims) aborts the session.
func TestAttackForgedConfirmation(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(t, ModeRedistribute, idsOf(1, 2), idsOf(1, 2, 3, 4, 5), 3)
	s := newSession(t, cfg, c)
	s.tamper = func(from, to tss.ID, m Message) []byte {
		if from == 5 && m.Kind == KindConfirmation {
			b := slices.Clone(m.Bytes)
			sig := mustKey(t).Sign([32]byte{1}).Bytes()
			copy(b[len(b)-len(sig):], sig[:])
			return b
		}
		return m.Bytes
	}
	s.run()
	for id, p := range s.parts {
		if id == 5 {
			continue
		}
		if _, err := p.Result(); !errors.Is(err, ErrBadConfirmation) {
			t.Fatalf("member %s: %v, want ErrBadConfirmation", id, err)
		}
	}
}

// Messages carrying sub-shares never print their content.
func TestMessagesRedact(t *testing.T) {
	c := newCurrent(t, 2, idsOf(1, 2, 3), 1)
	cfg := c.config(t, ModeRefresh, idsOf(1, 2, 3), idsOf(1, 2, 3), 2)
	p, err := New(cfg, 1, c.shares[1], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Outbox() {
		for _, got := range []string{fmt.Sprint(m), fmt.Sprintf("%x", m), fmt.Sprintf("%+v", m)} {
			if got != m.String() {
				t.Fatalf("message printed as %q", got)
			}
		}
	}
}
