package coordinator_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
)

// gate holds every participant's first call until it is opened, so that
// the other requests of a burst queue behind it.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// gated wraps a fake participant: its single calls wait for the gate, and
// it counts single and batch calls and the keys batches carried.
type gated struct {
	*fake
	g                   *gate
	mu                  sync.Mutex
	singles, batches    int
	batchKeys, maxBatch int
}

func (p *gated) SignPartial(ctx context.Context, id api.PublicKey, req []byte) (api.PartialSignature, error) {
	<-p.g.ch
	p.mu.Lock()
	p.singles++
	p.mu.Unlock()
	return p.fake.SignPartial(ctx, id, req)
}

func (p *gated) SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error) {
	out, err := p.fake.SignPartialBatch(ctx, body)
	p.mu.Lock()
	p.batches++
	p.batchKeys += len(out)
	p.maxBatch = max(p.maxBatch, len(out))
	p.mu.Unlock()
	return out, err
}

// newGatedCluster is newCluster whose participants are gated.
func newGatedCluster(t *testing.T, threshold, n, accounts int) (*cluster, []*gated, *gate) {
	t.Helper()
	base := newCluster(t, threshold, n, accounts, testConfig())
	g := newGate()
	cfg := testConfig()
	cfg.HedgeDelay = 0 // every participant asked, the default
	var ps []*gated
	for _, f := range base.fakes {
		p := &gated{fake: f, g: g}
		ps = append(ps, p)
		cfg.Participants = append(cfg.Participants, p)
	}
	coord, err := coordinator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	base.coord = coord
	return base, ps, g
}

// burst signs root with every key at once through SignShared, opening
// the gate once every request but the first waits in each participant's
// lane, and returns each key's signature and error.
func burst(t *testing.T, c *cluster, g *gate, root [32]byte, keys []api.PublicKey) ([]*bls.Signature, []error) {
	t.Helper()
	req := request(root)
	sigs := make([]*bls.Signature, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sigs[i], errs[i] = c.coord.SignShared(context.Background(), k, root, req)
		}()
	}
	for _, f := range c.fakes {
		coordinator.WaitForWaiters(c.coord, f.id, req, len(keys)-1)
	}
	g.open()
	wg.Wait()
	coordinator.WaitIdle(c.coord)
	return sigs, errs
}

// A burst of single requests for one signed object reaches each
// participant as its first single call and one batch call for the rest,
// and every signature verifies under its key.
func TestSharedSingleRequestsReachEachParticipantAsOneBatch(t *testing.T) {
	c, ps, g := newGatedCluster(t, 2, 3, 40)
	root := [32]byte{7}
	sigs, errs := burst(t, c, g, root, c.keys)
	for i := range c.keys {
		if errs[i] != nil || !c.pubs[i].Verify(root, sigs[i]) {
			t.Fatalf("key %d: %v", i, errs[i])
		}
	}
	for _, p := range ps {
		if p.singles != 1 || p.batches != 1 || p.batchKeys != len(c.keys)-1 {
			t.Fatalf("participant %d: %d single calls, %d batch calls with %d keys; want 1, 1, %d", p.id, p.singles, p.batches, p.batchKeys, len(c.keys)-1)
		}
	}
}

// A participant answering garbage partials inside the coalesced batch
// costs no signature: the recovery verified across requests fails, falls
// back to checking partials (internal/bls BatchVerify per participant,
// then one by one) and recovers from the honest ones.
func TestSharedBurstWithAGarbageParticipantStillSignsEveryKey(t *testing.T) {
	for _, bad := range []int{0, 1, 2} {
		c, _, g := newGatedCluster(t, 2, 3, 24)
		c.fakes[bad].set(garbage)
		root := [32]byte{9, byte(bad)}
		sigs, errs := burst(t, c, g, root, c.keys)
		for i := range c.keys {
			if errs[i] != nil || !c.pubs[i].Verify(root, sigs[i]) {
				t.Fatalf("garbage at participant %d: key %d: %v", bad+1, i, errs[i])
			}
		}
	}
}

// Two participants answering garbage leave one honest partial: no
// signature is released for any key of the burst.
func TestSharedBurstWithTooFewHonestPartialsReleasesNothing(t *testing.T) {
	c, _, g := newGatedCluster(t, 2, 3, 8)
	c.fakes[0].set(garbage)
	c.fakes[2].set(garbage)
	root := [32]byte{11}
	sigs, errs := burst(t, c, g, root, c.keys)
	for i := range c.keys {
		var short *coordinator.ShortfallError
		if sigs[i] != nil || !errors.As(errs[i], &short) {
			t.Fatalf("key %d: signature %v, error %v; want none and a shortfall", i, sigs[i], errs[i])
		}
	}
}

// A refusal of one key inside a coalesced batch (its slashing protection)
// is that key's alone: the others sign.
func TestSharedBatchItemRefusalIsThatKeysAlone(t *testing.T) {
	c, _, g := newGatedCluster(t, 2, 3, 10)
	refused := c.keys[5]
	for _, f := range c.fakes {
		f.refuse[refused] = true
	}
	root := [32]byte{12}
	sigs, errs := burst(t, c, g, root, c.keys)
	for i, k := range c.keys {
		if k == refused {
			var short *coordinator.ShortfallError
			if !errors.As(errs[i], &short) || short.Code() != 412 {
				t.Fatalf("refused key: %v, want a 412 shortfall", errs[i])
			}
			continue
		}
		if errs[i] != nil || !c.pubs[i].Verify(root, sigs[i]) {
			t.Fatalf("key %d: %v", i, errs[i])
		}
	}
}

// The same key asked twice at once with one body (a client's retry): a
// batch names each key once, so the repeat goes in the next call, and
// both answers verify.
func TestSharedRepeatOfOneKeyGoesInTheNextBatch(t *testing.T) {
	c, ps, g := newGatedCluster(t, 2, 3, 4)
	root := [32]byte{13}
	keys := append(append([]api.PublicKey{}, c.keys...), c.keys[1], c.keys[1])
	sigs, errs := burst(t, c, g, root, keys)
	for i, k := range keys {
		pub := c.pubs[0]
		for j := range c.keys {
			if c.keys[j] == k {
				pub = c.pubs[j]
			}
		}
		if errs[i] != nil || !pub.Verify(root, sigs[i]) {
			t.Fatalf("request %d: %v", i, errs[i])
		}
	}
	for _, p := range ps {
		if p.maxBatch > len(c.keys) {
			t.Fatalf("participant %d got a batch of %d for %d distinct keys", p.id, p.maxBatch, len(c.keys))
		}
	}
}

// A lone SignShared is one single call to each participant, as Sign.
func TestLoneSharedRequestIsASingleCall(t *testing.T) {
	c, ps, g := newGatedCluster(t, 2, 3, 1)
	g.open()
	root := [32]byte{14}
	sig, err := c.coord.SignShared(context.Background(), c.keys[0], root, request(root))
	if err != nil || !c.pubs[0].Verify(root, sig) {
		t.Fatal(err)
	}
	for _, p := range ps {
		p.mu.Lock()
		b := p.batches
		p.mu.Unlock()
		if b != 0 {
			t.Fatalf("participant %d: %d batch calls for a lone request", p.id, b)
		}
	}
}
