package coordinator

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// recoveryCase is one request to the recoverer and what it must give.
type recoveryCase struct {
	req  tss.Request
	pub  *bls.PublicKey
	ok   bool   // a signature under pub
	bad  tss.ID // a participant whose partial is garbage (0: none)
	root [32]byte
}

func newRecoveryCase(t *testing.T, root [32]byte, partials int, bad tss.ID) recoveryCase {
	t.Helper()
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := tss.Split(rand.Reader, sk, 2, []tss.ID{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	var ps []tss.Partial
	for _, sh := range d.Shares[:partials] {
		sig := sh.Sign(root)
		if sh.ID() == bad {
			other, _ := bls.GenerateSecretKey(rand.Reader)
			sig = other.Sign(root)
		}
		ps = append(ps, tss.Partial{ID: sh.ID(), PublicKey: sh.PublicKey(), Signature: sig})
	}
	c := recoveryCase{req: tss.Request{Root: root, Composite: sk.PublicKey(), Threshold: 2, Partials: ps}, pub: sk.PublicKey(), bad: bad, root: root}
	good := partials
	if bad != 0 && int(bad) <= partials {
		good--
	}
	c.ok = good >= 2
	return c
}

// Recoveries of concurrent requests verified together give each request
// the outcome it would get alone: a request with a garbage partial among
// three recovers from the other two (the batch check fails and falls back
// to per-partial checks with internal/bls BatchVerify), one with a garbage
// partial among two gets a shortfall naming it, and neither costs the
// honest requests verified with them anything.
func TestRecovererGivesEachConcurrentRequestItsOwnOutcome(t *testing.T) {
	root := [32]byte{42} // one signed object, as a slot's attestations
	var cases []recoveryCase
	for i := range 30 {
		switch i % 5 {
		case 1:
			cases = append(cases, newRecoveryCase(t, root, 3, tss.ID(1+i%3)))
		case 3:
			cases = append(cases, newRecoveryCase(t, root, 2, 2))
		default:
			cases = append(cases, newRecoveryCase(t, root, 2+i%2, 0))
		}
	}
	var r recoverer
	outs := make([]tss.Outcome, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := r.recover([]tss.Request{c.req})
			if len(o) != 1 {
				t.Errorf("case %d: %d outcomes", i, len(o))
				return
			}
			outs[i] = o[0]
		}()
	}
	wg.Wait()
	for i, c := range cases {
		o := outs[i]
		if !c.ok {
			var short *tss.ShortfallError
			if !errors.As(o.Err, &short) || o.Result != nil {
				t.Fatalf("case %d: %+v, want a shortfall", i, o)
			}
			continue
		}
		if o.Err != nil || !c.pub.Verify(c.root, o.Result.Signature) {
			t.Fatalf("case %d: %v", i, o.Err)
		}
		if c.bad != 0 && c.bad <= 2 && (len(o.Result.Bad) != 1 || o.Result.Bad[0] != c.bad) {
			t.Fatalf("case %d: bad %v, want [%d]", i, o.Result.Bad, c.bad)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running || len(r.queue) != 0 {
		t.Fatal("the recoverer did not go idle")
	}
}
