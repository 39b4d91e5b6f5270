package dkg_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
	"github.com/rampart-signer/rampart/tss/dkg"
)

// Wire layout the attacks rewrite (see message.go).
const headerLen = 54

func randomScalarBytes(tb testing.TB) []byte {
	tb.Helper()
	s, err := bls.RandomScalar(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	b := s.Bytes()
	return b[:]
}

// withShare returns a shares message with validator v's share replaced.
func withShare(msg []byte, v int, share []byte) []byte {
	out := slices.Clone(msg)
	copy(out[headerLen+32*v:], share)
	return out
}

// disqualifiedFor returns the evidence that disqualified id, if any.
func disqualifiedFor(r *dkg.Result, id tss.ID) (dkg.Evidence, bool) {
	for _, e := range r.Disqualified {
		if e.Against == id {
			return e, true
		}
	}
	return dkg.Evidence{}, false
}

func honest(ids ...tss.ID) []tss.ID { return ids }

// TestDealerSendingBadShareIsDisqualifiedUnlessItJustifies: dealer 5 sends
// participant 1 a share that does not match its commitments. Participant 1
// complains; if 5 then reveals a valid share publicly it stays qualified and
// participant 1 uses the revealed share; if it reveals a wrong share or
// none, it is disqualified and the ceremony completes with the four honest
// dealers.
func TestDealerSendingBadShareIsDisqualifiedUnlessItJustifies(t *testing.T) {
	const bad, victim, validator = tss.ID(5), tss.ID(1), 1
	for _, tc := range []struct {
		name string
		// justification rewrites the dealer's (broadcast) justification.
		justification func(tb testing.TB, msg []byte) []byte
		want          dkg.EvidenceKind // 0: stays qualified
	}{
		{"answered with the right share: stays qualified", nil, 0},
		{"answered with a wrong share: disqualified", func(tb testing.TB, msg []byte) []byte {
			out := slices.Clone(msg)
			copy(out[len(out)-32:], randomScalarBytes(tb))
			return out
		}, dkg.EvidenceInvalidJustification},
		{"not answered: disqualified", func(tb testing.TB, msg []byte) []byte {
			return append(slices.Clone(msg[:headerLen]), 0, 0)
		}, dkg.EvidenceUnanswered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, 3, 5, 3)
			c := newCluster(t, cfg)
			badShare := randomScalarBytes(t)
			var once sync.Once
			var just []byte
			c.tamper = func(from, to tss.ID, m dkg.Message) []byte {
				switch {
				case from == bad && m.Kind == dkg.KindShares && to == victim:
					return withShare(m.Bytes, validator, badShare)
				case from == bad && m.Kind == dkg.KindJustification && tc.justification != nil:
					once.Do(func() { just = tc.justification(t, m.Bytes) })
					return just
				}
				return m.Bytes
			}
			c.run()
			if tc.want == 0 {
				c.unexpectedErrors()
				results := c.results(cfg.Participants...)
				checkConsistent(t, cfg, results)
				for _, r := range results {
					if len(r.Qualified) != 5 {
						t.Fatalf("qualified %v, want all five", r.Qualified)
					}
				}
				if !hasEvidence(c.parts[2].Evidence(), bad, dkg.EvidenceBadShare) || !hasEvidence(c.parts[2].Evidence(), victim, dkg.EvidenceAnsweredComplaint) {
					t.Fatalf("complaint and answer not recorded: %v", c.parts[2].Evidence())
				}
				return
			}
			results := c.results(honest(1, 2, 3, 4)...)
			checkConsistent(t, cfg, map[tss.ID]*dkg.Result{1: results[1], 2: results[2], 3: results[3], 4: results[4]})
			for id := tss.ID(1); id <= 4; id++ {
				e, ok := disqualifiedFor(results[id], bad)
				if !ok || e.Kind != tc.want || e.Reporter != victim || e.Validator != validator {
					t.Fatalf("participant %s: disqualification of %s = %v (%v), want %s", id, bad, e, ok, tc.want)
				}
				if fmt.Sprint(results[id].Qualified) != "[1 2 3 4]" {
					t.Fatalf("participant %s: qualified %v", id, results[id].Qualified)
				}
			}
			// The cheating dealer itself never sees the accounts as made.
			if _, err := c.parts[bad].Result(); err == nil {
				t.Fatal("the disqualified dealer finished with a different view")
			}
		})
	}
}

func hasEvidence(es []dkg.Evidence, against tss.ID, kind dkg.EvidenceKind) bool {
	for _, e := range es {
		if e.Against == against && e.Kind == kind {
			return true
		}
	}
	return false
}

// TestEquivocatingDealerIsCaughtByEcho: dealer 5 shows participant 1
// different commitments (with matching shares, so participant 1's own
// checks pass) than everyone else. The echo round reveals the different
// hash; every participant disqualifies 5 and the ceremony completes.
func TestEquivocatingDealerIsCaughtByEcho(t *testing.T) {
	const bad, victim = tss.ID(5), tss.ID(1)
	cfg := config(t, 3, 5, 3)
	c := newCluster(t, cfg)
	twin, err := dkg.New(cfg, bad, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alt := map[dkg.Kind][]byte{}
	for _, m := range twin.Outbox() {
		if m.To == 0 || m.To == victim {
			alt[m.Kind] = m.Bytes
		}
	}
	c.tamper = func(from, to tss.ID, m dkg.Message) []byte {
		if from == bad && to == victim && (m.Kind == dkg.KindCommitments || m.Kind == dkg.KindShares) {
			return alt[m.Kind]
		}
		return m.Bytes
	}
	c.run()
	c.unexpectedErrors()
	results := c.results(cfg.Participants...)
	checkConsistent(t, cfg, results)
	for id, r := range results {
		e, ok := disqualifiedFor(r, bad)
		if !ok || e.Kind != dkg.EvidenceEquivocation {
			t.Fatalf("participant %s: dealer %s not disqualified for equivocation: %v", id, bad, r.Disqualified)
		}
		if fmt.Sprint(r.Qualified) != "[1 2 3 4]" {
			t.Fatalf("participant %s: qualified %v", id, r.Qualified)
		}
	}
}

// TestRogueKeyContributionWithoutProofIsRefused: dealer 5 waits for the
// others' commitments and replaces its constant term for validator 0 with
// X minus their sum, so that the composite key would be X, whose secret it
// knows. It cannot prove possession of that term; every participant
// refuses the contribution and the composite key is not X.
func TestRogueKeyContributionWithoutProofIsRefused(t *testing.T) {
	const bad = tss.ID(5)
	cfg := config(t, 3, 5, 2)
	c := newCluster(t, cfg)
	x, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	target := x.PublicKey()
	keys := []*bls.PublicKey{target}
	one := bls.ScalarFromUint64(1)
	scalars := []bls.Scalar{one}
	minusOne := one.Neg()
	for _, id := range cfg.Participants[:4] {
		comm := c.parts[id].Outbox()[0]
		pk, err := bls.PublicKeyFromBytes(comm.Bytes[headerLen : headerLen+48])
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, pk)
		scalars = append(scalars, minusOne)
	}
	rogue, err := bls.PublicKeyLinearCombination(keys, scalars)
	if err != nil {
		t.Fatal(err)
	}
	rb := rogue.Bytes()
	c.tamper = func(from, to tss.ID, m dkg.Message) []byte {
		if from == bad && m.Kind == dkg.KindCommitments {
			out := slices.Clone(m.Bytes)
			copy(out[headerLen:], rb[:])
			return out
		}
		return m.Bytes
	}
	c.run()
	results := c.results(honest(1, 2, 3, 4)...)
	for id := tss.ID(1); id <= 4; id++ {
		r := results[id]
		e, ok := disqualifiedFor(r, bad)
		if !ok || e.Kind != dkg.EvidenceInvalidProof || e.Validator != 0 {
			t.Fatalf("participant %s: rogue dealer not refused for its proof: %v", id, r.Disqualified)
		}
		if r.Validators[0].Account.Composite.Equal(target) {
			t.Fatal("the rogue key became the composite key")
		}
	}
}

// TestMessagesOfAnotherCeremonyOrSenderAreRefused covers replay and
// misdirection: each refused message leaves the participant as it was.
func TestMessagesOfAnotherCeremonyOrSenderAreRefused(t *testing.T) {
	cfg := config(t, 2, 3, 2)
	other := cfg
	other.Nonce[0] ^= 1 // the same participants, another ceremony
	p, err := dkg.New(cfg, 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	two, err := dkg.New(cfg, 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	twoElsewhere, err := dkg.New(other, 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	twoAgain, err := dkg.New(cfg, 2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	three, err := dkg.New(cfg, 3, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	find := func(q *dkg.Participant, k dkg.Kind, to tss.ID) []byte {
		for _, m := range q.Outbox() {
			if m.Kind == k && m.To == to {
				return m.Bytes
			}
		}
		t.Fatalf("no %s message to %s", k, to)
		return nil
	}
	comm2 := find(two, dkg.KindCommitments, 0)
	versioned := slices.Clone(comm2)
	versioned[4] = 2
	for _, tc := range []struct {
		name string
		from tss.ID
		msg  []byte
		want error
	}{
		{"refuses a message of another ceremony", 2, find(twoElsewhere, dkg.KindCommitments, 0), dkg.ErrWrongCeremony},
		{"refuses a message whose sender is not the authenticated peer", 3, comm2, dkg.ErrSender},
		{"refuses shares addressed to another participant", 2, find(two, dkg.KindShares, 3), dkg.ErrWrongRecipient},
		{"refuses a message claiming to come from itself", 1, find(p, dkg.KindCommitments, 0), dkg.ErrSender},
		{"refuses an unknown format version", 2, versioned, dkg.ErrVersion},
		{"refuses a truncated message", 2, comm2[:len(comm2)-1], dkg.ErrMalformed},
		{"refuses garbage", 2, []byte("hello"), dkg.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p.Snapshot()
			out, err := p.Deliver(tc.from, tc.msg)
			if !errors.Is(err, tc.want) || out != nil {
				t.Fatalf("Deliver = %v, %v; want %v", out, err, tc.want)
			}
			if !bytes.Equal(before, p.Snapshot()) {
				t.Fatal("a refused message changed the state")
			}
		})
	}
	t.Run("ignores an exact replay", func(t *testing.T) {
		if _, err := p.Deliver(2, comm2); err != nil {
			t.Fatal(err)
		}
		before := p.Snapshot()
		out, err := p.Deliver(2, comm2)
		if err != nil || len(out) != 0 || !bytes.Equal(before, p.Snapshot()) {
			t.Fatalf("replay: %v, %v", out, err)
		}
	})
	t.Run("refuses a conflicting duplicate and keeps it as evidence", func(t *testing.T) {
		_, err := p.Deliver(2, find(twoAgain, dkg.KindCommitments, 0))
		if !errors.Is(err, dkg.ErrConflict) {
			t.Fatalf("conflict: %v", err)
		}
		if !hasEvidence(p.Evidence(), 2, dkg.EvidenceConflict) {
			t.Fatalf("evidence %v", p.Evidence())
		}
		// The first message stands: the ceremony still completes with it.
		for _, m := range [][]byte{find(two, dkg.KindShares, 1)} {
			if _, err := p.Deliver(2, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range [][]byte{find(three, dkg.KindCommitments, 0), find(three, dkg.KindShares, 1)} {
			if _, err := p.Deliver(3, m); err != nil {
				t.Fatal(err)
			}
		}
		if p.Phase() != dkg.PhaseEcho {
			t.Fatalf("phase %s after all dealings", p.Phase())
		}
		if fmt.Sprint(p.Waiting()) != "[2 3]" {
			t.Fatalf("waiting for %v", p.Waiting())
		}
	})
}

func TestConfigValidate(t *testing.T) {
	good := func() dkg.Config {
		return dkg.Config{Nonce: [32]byte{1}, Participants: []tss.ID{1, 2, 3}, Threshold: 2, Validators: 1}
	}
	for _, tc := range []struct {
		name  string
		mut   func(*dkg.Config)
		field string
	}{
		{"refuses a zero nonce", func(c *dkg.Config) { c.Nonce = [32]byte{} }, "Nonce"},
		{"refuses no participants", func(c *dkg.Config) { c.Participants = nil }, "Participants"},
		{"refuses participant zero", func(c *dkg.Config) { c.Participants[0] = 0 }, "Participants[0]"},
		{"refuses duplicate participants", func(c *dkg.Config) { c.Participants[2] = 2 }, "Participants[2]"},
		{"refuses unsorted participants", func(c *dkg.Config) { c.Participants[0] = 9 }, "Participants[1]"},
		{"refuses a minority threshold", func(c *dkg.Config) { c.Participants = []tss.ID{1, 2, 3, 4} }, "Threshold"},
		{"refuses a threshold above n", func(c *dkg.Config) { c.Threshold = 4 }, "Threshold"},
		{"refuses zero validators", func(c *dkg.Config) { c.Validators = 0 }, "Validators"},
		{"refuses too many validators", func(c *dkg.Config) { c.Validators = dkg.MaxValidators + 1 }, "Validators"},
		{"refuses an oversized context", func(c *dkg.Config) { c.Context = make([]byte, dkg.MaxContext+1) }, "Context"},
		{"refuses too many participants", func(c *dkg.Config) {
			c.Participants = nil
			for i := 1; i <= dkg.MaxParticipants+1; i++ {
				c.Participants = append(c.Participants, tss.ID(i))
			}
			c.Threshold = dkg.MaxParticipants
		}, "Participants"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mut(&c)
			err := c.Validate()
			if !errors.Is(err, dkg.ErrConfig) || !bytes.Contains([]byte(err.Error()), []byte(tc.field)) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tc.field)
			}
			if _, err := dkg.New(c, 1, rand.Reader); !errors.Is(err, dkg.ErrConfig) {
				t.Fatalf("New = %v", err)
			}
		})
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := dkg.New(c, 4, rand.Reader); !errors.Is(err, dkg.ErrConfig) {
		t.Fatalf("New for a non-participant: %v", err)
	}
	a, b := good(), good()
	b.Context = []byte{1}
	if a.CeremonyID() == b.CeremonyID() {
		t.Fatal("the context does not change the ceremony id")
	}
}

// TestCeremonyAbortsWithFewerQualifiedThanThreshold: three of five dealers
// send bad shares and never answer the complaints. Two qualified dealers
// cannot guarantee an honest contribution, so every participant aborts,
// keeps nothing, and says why, also after a restart.
func TestCeremonyAbortsWithFewerQualifiedThanThreshold(t *testing.T) {
	cfg := config(t, 3, 5, 2)
	c := newCluster(t, cfg)
	c.tamper = func(from, to tss.ID, m dkg.Message) []byte {
		if from >= 3 && to == 1 && m.Kind == dkg.KindShares {
			return withShare(m.Bytes, 0, randomScalarBytes(t))
		}
		if from >= 3 && m.Kind == dkg.KindJustification {
			return append(slices.Clone(m.Bytes[:headerLen]), 0, 0)
		}
		return m.Bytes
	}
	c.run()
	for _, id := range []tss.ID{1, 2} {
		p := c.parts[id]
		_, err := p.Result()
		if p.Phase() != dkg.PhaseAborted || !errors.Is(err, dkg.ErrAborted) || !errors.Is(err, dkg.ErrNotEnoughQualified) {
			t.Fatalf("participant %s: phase %s, %v", id, p.Phase(), err)
		}
		if fmt.Sprint(p.Outbox()) == "" {
			t.Fatal("outbox vanished")
		}
		for _, m := range p.Outbox() {
			if m.Kind == dkg.KindShares && m.Bytes != nil {
				t.Fatal("an aborted participant still holds shares to send")
			}
		}
		q, err := dkg.Resume(p.Snapshot(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Result(); !errors.Is(err, dkg.ErrNotEnoughQualified) {
			t.Fatalf("resumed abort lost its cause: %v", err)
		}
		if _, err := q.Deliver(2, []byte("anything")); !errors.Is(err, dkg.ErrAborted) {
			t.Fatalf("aborted participant accepted a message: %v", err)
		}
	}
}

func TestCallerAbortIsPermanent(t *testing.T) {
	cfg := config(t, 2, 3, 1)
	p, err := dkg.New(cfg, 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.Abort("participant 3 silent for 10 minutes")
	q, err := dkg.Resume(p.Snapshot(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Result(); !errors.Is(err, dkg.ErrAborted) || !bytes.Contains([]byte(err.Error()), []byte("silent")) {
		t.Fatalf("Result after abort: %v", err)
	}
}

// TestSecretsRedactWhenPrinted: shares messages and snapshots hold secrets
// and must not reach a log through fmt.
func TestSecretsRedactWhenPrinted(t *testing.T) {
	p, err := dkg.New(config(t, 2, 3, 1), 1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	snap := p.Snapshot()
	for _, m := range p.Outbox() {
		if m.Kind != dkg.KindShares {
			continue
		}
		secret := fmt.Sprintf("%x", m.Bytes[headerLen:])
		for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%v %+v %x %s", m, m, m, m), fmt.Sprint(p.Outbox()), fmt.Sprintf("%v %x", snap, snap)} {
			if strings.Contains(s, secret) || strings.Contains(s, secret[:16]) {
				t.Fatalf("secret shares printed: %q", s)
			}
		}
	}
}
