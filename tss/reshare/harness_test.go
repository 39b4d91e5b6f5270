package reshare

import (
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// current is a cluster's configuration before a resharing: every
// validator's account and every member's shares (by validator).
type current struct {
	keys     []*bls.PublicKey
	accounts []tss.Account
	shares   map[tss.ID][]*tss.Share
}

func idsOf(list ...int) []tss.ID {
	out := make([]tss.ID, len(list))
	for i, x := range list {
		out[i] = tss.ID(x)
	}
	return out
}

func newCurrent(tb testing.TB, t int, members []tss.ID, validators int) *current {
	tb.Helper()
	c := &current{shares: map[tss.ID][]*tss.Share{}}
	for range validators {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		d, err := tss.Split(rand.Reader, sk, t, members)
		if err != nil {
			tb.Fatal(err)
		}
		c.keys = append(c.keys, sk.PublicKey())
		sk.Zero()
		c.accounts = append(c.accounts, d.Account)
		for _, s := range d.Shares {
			c.shares[s.ID()] = append(c.shares[s.ID()], s)
		}
	}
	return c
}

func (c *current) config(tb testing.TB, mode Mode, dealers, members []tss.ID, t int) Config {
	tb.Helper()
	cfg := Config{Mode: mode, OldThreshold: c.accounts[0].Threshold, Dealers: dealers, NewMembers: members, NewThreshold: t, Accounts: c.accounts, Context: []byte("cutover at epoch 1000")}
	if _, err := rand.Read(cfg.Nonce[:]); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// session runs one resharing among its members in one process: messages
// are queued and delivered in order, each to its recipient (broadcasts to
// every other member), and tamper may rewrite or drop (nil) a message on
// its way.
type session struct {
	tb     testing.TB
	cfg    Config
	parts  map[tss.ID]*Participant
	tamper func(from, to tss.ID, m Message) []byte
	// resume makes every member snapshot and resume after each delivery,
	// as a signer restarting at every step would.
	resume bool
	old    map[tss.ID][]*tss.Share
	errs   map[tss.ID][]error
	queue  []envelope
}

type envelope struct {
	from, to tss.ID
	m        Message
}

func newSession(tb testing.TB, cfg Config, c *current) *session {
	tb.Helper()
	s := &session{tb: tb, cfg: cfg, parts: map[tss.ID]*Participant{}, errs: map[tss.ID][]error{}, old: map[tss.ID][]*tss.Share{}}
	for _, id := range newLayout(&cfg).all {
		var old []*tss.Share
		if slices.Contains(cfg.Dealers, id) || cfg.Mode == ModeRefresh {
			old = c.shares[id]
		}
		s.old[id] = old
		p, err := New(cfg, id, old, rand.Reader)
		if err != nil {
			tb.Fatalf("member %s: %v", id, err)
		}
		s.parts[id] = p
	}
	return s
}

func (s *session) send(from tss.ID, msgs []Message) {
	for _, m := range msgs {
		for _, to := range newLayout(&s.cfg).all {
			if to == from || (m.To != 0 && m.To != to) {
				continue
			}
			s.queue = append(s.queue, envelope{from: from, to: to, m: m})
		}
	}
}

// run delivers every member's outbox and every answer until nothing is
// left to deliver.
func (s *session) run() {
	for id, p := range s.parts {
		s.send(id, p.Outbox())
	}
	for len(s.queue) > 0 {
		e := s.queue[0]
		s.queue = s.queue[1:]
		b := e.m.Bytes
		if s.tamper != nil {
			if b = s.tamper(e.from, e.to, e.m); b == nil {
				continue
			}
		}
		out, err := s.parts[e.to].Deliver(e.from, b)
		if err != nil {
			s.errs[e.to] = append(s.errs[e.to], err)
		}
		if s.resume {
			snap := s.parts[e.to].Snapshot()
			p, err := Resume(s.cfg, e.to, s.old[e.to], snap, rand.Reader)
			snap.Zero()
			if err != nil {
				s.tb.Fatalf("member %s resuming: %v", e.to, err)
			}
			s.parts[e.to] = p
		}
		s.send(e.to, out)
	}
}

// results returns every member's result, failing the test unless all are
// done with one configuration.
func (s *session) results() map[tss.ID]*Result {
	s.tb.Helper()
	out := map[tss.ID]*Result{}
	var conf [32]byte
	for id, p := range s.parts {
		r, err := p.Result()
		if err != nil {
			s.tb.Fatalf("member %s: %v (errors %v)", id, err, s.errs[id])
		}
		if conf == ([32]byte{}) {
			conf = r.Configuration
		} else if r.Configuration != conf {
			s.tb.Fatalf("member %s finished another configuration", id)
		}
		out[id] = r
	}
	return out
}

// newShares returns, by validator, every new member's share.
func newShares(tb testing.TB, cfg Config, res map[tss.ID]*Result) [][]*tss.Share {
	tb.Helper()
	out := make([][]*tss.Share, len(cfg.Accounts))
	for v := range out {
		for _, id := range cfg.NewMembers {
			sh := res[id].Validators[v].Share
			if sh == nil {
				tb.Fatalf("new member %s has no share of validator %d", id, v)
			}
			out[v] = append(out[v], sh)
		}
	}
	return out
}

// combine interpolates the partial signatures of the given shares at zero.
func combine(tb testing.TB, shares []*tss.Share, root [32]byte) *bls.Signature {
	tb.Helper()
	ids := make([]tss.ID, len(shares))
	sigs := make([]*bls.Signature, len(shares))
	for i, s := range shares {
		ids[i], sigs[i] = s.ID(), s.Sign(root)
	}
	l, err := lagrangeAtZero(ids)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := bls.SignatureLinearCombination(sigs, l)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// subsets calls f with every k-subset of list.
func subsets[T any](list []T, k int, f func([]T)) {
	var rec func(start int, acc []T)
	rec = func(start int, acc []T) {
		if len(acc) == k {
			f(slices.Clone(acc))
			return
		}
		for i := start; i < len(list); i++ {
			rec(i+1, append(acc, list[i]))
		}
	}
	rec(0, nil)
}

// checkSigning checks, for every validator, that every t-subset of the
// new shares signs under the validator key and no (t-1)-subset does.
func checkSigning(tb testing.TB, keys []*bls.PublicKey, shares [][]*tss.Share, t int) {
	tb.Helper()
	root := sha256.Sum256([]byte("a signing root"))
	for v, list := range shares {
		subsets(list, t, func(sub []*tss.Share) {
			if !keys[v].Verify(root, combine(tb, sub, root)) {
				tb.Fatalf("validator %d: new members %v do not sign under the validator key", v, shareIDs(sub))
			}
		})
		if t > 1 {
			subsets(list, t-1, func(sub []*tss.Share) {
				if keys[v].Verify(root, combine(tb, sub, root)) {
					tb.Fatalf("validator %d: %d new members %v sign alone", v, t-1, shareIDs(sub))
				}
			})
		}
	}
}

func shareIDs(s []*tss.Share) []tss.ID {
	out := make([]tss.ID, len(s))
	for i, x := range s {
		out[i] = x.ID()
	}
	return out
}

func hasEvidence(es []Evidence, against tss.ID, kind EvidenceKind) bool {
	for _, e := range es {
		if e.Against == against && e.Kind == kind {
			return true
		}
	}
	return false
}
