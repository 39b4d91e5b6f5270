package coordinator_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/tss"
)

// behaviour makes a fake participant misbehave in one way.
type behaviour int

const (
	honest    behaviour = iota
	down                // transport failure
	garbage             // valid-looking partial made with a wrong key
	wrongID             // claims another participant id
	wrongRoot           // signs another root
	refuse412           // slashing protection refusal
	slow                // answers after a delay
	infinity            // answers the point at infinity as its partial
)

// fake is an in-process participant that signs the root named in the
// request body {"root": "0x..."} with its shares.
type fake struct {
	id     tss.ID
	shares map[api.PublicKey]*tss.Share
	view   map[api.PublicKey]api.Account
	mu     sync.Mutex
	mode   behaviour
	delay  time.Duration
	calls  atomic.Int32
	// discoveries counts Accounts calls; listed, when set, hears of each.
	discoveries atomic.Int32
	listed      chan struct{}
	// refuse lists accounts refused with 412 in batches.
	refuse map[api.PublicKey]bool
	// onCall, when set, runs once at the next signing call, before it is
	// answered.
	onCall func()
}

func (f *fake) ID() tss.ID { return f.id }

func (f *fake) behaviour() behaviour {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

func (f *fake) set(b behaviour) {
	f.mu.Lock()
	f.mode = b
	f.mu.Unlock()
}

func (f *fake) Accounts(ctx context.Context) ([]api.Account, error) {
	f.discoveries.Add(1)
	if f.listed != nil {
		defer func() { f.listed <- struct{}{} }()
	}
	if f.behaviour() == down {
		return nil, errors.New("connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Account
	for _, a := range f.view {
		out = append(out, a)
	}
	return out, nil
}

func rootOf(req []byte) ([32]byte, error) {
	var r struct {
		Root api.Root `json:"root"`
	}
	err := json.Unmarshal(req, &r)
	return r.Root, err
}

func (f *fake) partial(key api.PublicKey, root [32]byte) (api.PartialSignature, error) {
	f.mu.Lock()
	sh, ok := f.shares[key]
	f.mu.Unlock()
	if !ok {
		return api.PartialSignature{}, &coordinator.StatusError{Code: 404, Message: "unknown key"}
	}
	out := api.PartialSignature{ParticipantID: api.Uint64(f.id), SigningRoot: root}
	switch f.behaviour() {
	case garbage:
		sk, _ := bls.GenerateSecretKey(rand.Reader)
		out.Signature = sk.Sign(root).Bytes()
	case wrongID:
		out.ParticipantID = api.Uint64(f.id + 100)
		out.Signature = sh.Sign(root).Bytes()
	case wrongRoot:
		other := root
		other[0] ^= 1
		out.SigningRoot = other
		out.Signature = sh.Sign(other).Bytes()
	case refuse412:
		return out, &coordinator.StatusError{Code: 412, Message: "slashing protection"}
	case infinity:
		out.Signature = api.Signature{0xc0}
	default:
		out.Signature = sh.Sign(root).Bytes()
	}
	if f.refuse[key] {
		return out, &coordinator.StatusError{Code: 412, Message: "slashing protection"}
	}
	return out, nil
}

func (f *fake) wait(ctx context.Context) error {
	f.calls.Add(1)
	f.mu.Lock()
	hook := f.onCall
	f.onCall = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	switch f.behaviour() {
	case down:
		return errors.New("connection refused")
	case slow:
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fake) SignPartial(ctx context.Context, id api.PublicKey, req []byte) (api.PartialSignature, error) {
	if err := f.wait(ctx); err != nil {
		return api.PartialSignature{}, err
	}
	root, err := rootOf(req)
	if err != nil {
		return api.PartialSignature{}, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	return f.partial(id, root)
}

func (f *fake) SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	var b struct {
		Identifiers    []api.PublicKey `json:"identifiers"`
		SigningRequest json.RawMessage `json:"signing_request"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	root, err := rootOf(b.SigningRequest)
	if err != nil {
		return nil, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	out := make([]api.PartialBatchResult, len(b.Identifiers))
	// Signed over the CPUs, as a signer signs a batch.
	var wg sync.WaitGroup
	for i, id := range b.Identifiers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Identifier = id
			p, err := f.partial(id, root)
			var se *coordinator.StatusError
			if errors.As(err, &se) {
				out[i].Error = &api.Error{Code: se.Code, Message: se.Message}
				return
			}
			out[i].ParticipantID, out[i].SigningRoot, out[i].Signature = &p.ParticipantID, &p.SigningRoot, &p.Signature
		}()
	}
	wg.Wait()
	return out, nil
}

type cluster struct {
	fakes []*fake
	keys  []api.PublicKey
	pubs  []*bls.PublicKey
	sks   []*bls.SecretKey
	coord *coordinator.Coordinator
}

func newCluster(t testing.TB, t_, n, accounts int, cfg coordinator.Config) *cluster {
	t.Helper()
	c := &cluster{}
	ids := make([]tss.ID, n)
	members := make([]api.Participant, n)
	for i := range ids {
		ids[i] = tss.ID(i + 1)
		members[i] = api.Participant{ID: api.Uint64(i + 1), Endpoint: fmt.Sprintf("https://signer-%d:9100", i+1)}
		c.fakes = append(c.fakes, &fake{id: ids[i], shares: map[api.PublicKey]*tss.Share{}, view: map[api.PublicKey]api.Account{}, delay: time.Second, refuse: map[api.PublicKey]bool{}})
	}
	for a := 0; a < accounts; a++ {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		d, err := tss.Split(rand.Reader, sk, t_, ids)
		if err != nil {
			t.Fatal(err)
		}
		key := api.PublicKey(sk.PublicKey().Bytes())
		c.keys = append(c.keys, key)
		c.pubs = append(c.pubs, sk.PublicKey())
		c.sks = append(c.sks, sk)
		for i, sh := range d.Shares {
			f := c.fakes[i]
			f.shares[key] = sh
			f.view[key] = api.Account{ParticipantID: api.Uint64(f.id), PublicKey: sh.PublicKey().Bytes(), CompositePublicKey: key, SigningThreshold: api.Uint64(t_), Participants: members}
		}
	}
	for _, f := range c.fakes {
		cfg.Participants = append(cfg.Participants, f)
	}
	coord, err := coordinator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.coord = coord
	return c
}

func request(root [32]byte) []byte {
	b, _ := json.Marshal(struct {
		Root api.Root `json:"root"`
	}{root})
	return b
}

func testConfig() coordinator.Config {
	cfg := coordinator.DefaultConfig()
	cfg.Timeout = 5 * time.Second
	cfg.HedgeDelay = 50 * time.Millisecond
	return cfg
}

func TestSign(t *testing.T) {
	for _, tc := range []struct {
		name  string
		modes map[int]behaviour
		code  int // 0: signs
	}{
		{name: "signs with every participant honest"},
		{name: "signs with two participants down", modes: map[int]behaviour{0: down, 1: down}},
		{name: "signs with one participant returning garbage", modes: map[int]behaviour{0: garbage}},
		{name: "signs when garbage and down together leave exactly t", modes: map[int]behaviour{0: garbage, 4: down}},
		{name: "signs despite a participant claiming another id", modes: map[int]behaviour{1: wrongID}},
		{name: "signs despite a participant signing another root", modes: map[int]behaviour{2: wrongRoot}},
		{name: "signs with a slow participant", modes: map[int]behaviour{0: slow}},
		{name: "fails with three down (503)", modes: map[int]behaviour{0: down, 1: down, 2: down}, code: 503},
		{name: "fails with 412 when three refuse", modes: map[int]behaviour{0: refuse412, 1: refuse412, 2: refuse412}, code: 412},
		{name: "fails with two garbage and one down", modes: map[int]behaviour{0: garbage, 1: garbage, 2: down}, code: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, 5, 1, testConfig())
			for i, m := range tc.modes {
				c.fakes[i].set(m)
			}
			root := [32]byte{1, 2, 3}
			sig, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !c.pubs[0].Verify(root, sig) {
					t.Fatal("returned signature does not verify")
				}
				return
			}
			var short *coordinator.ShortfallError
			if !errors.As(err, &short) || sig != nil {
				t.Fatalf("got %v, %v; want a shortfall", sig, err)
			}
			if short.Code() != tc.code {
				t.Fatalf("code %d, want %d (%v)", short.Code(), tc.code, err)
			}
			for i := range tc.modes {
				if !containsID(short.Failures, tss.ID(i+1)) {
					t.Errorf("error does not name participant %d: %v", i+1, err)
				}
			}
		})
	}
}

// A partial signature at infinity decodes (the BLS layer follows the
// specification) but no honest participant sends one: the coordinator
// refuses it as malformed, naming the participant, on the single and on the
// batch path, and never counts it towards the threshold.
func TestSignRefusesPartialAtInfinity(t *testing.T) {
	c := newCluster(t, 3, 5, 2, testConfig())
	for _, i := range []int{0, 1, 2} {
		c.fakes[i].set(infinity)
	}
	root := [32]byte{6}
	check := func(what string, sig *bls.Signature, err error) {
		t.Helper()
		var short *coordinator.ShortfallError
		if !errors.As(err, &short) || sig != nil {
			t.Fatalf("%s: got %v, %v; want a shortfall", what, sig, err)
		}
		for _, id := range []tss.ID{1, 2, 3} {
			found := false
			for _, f := range short.Failures {
				if f.ID == id && errors.Is(f.Err, bls.ErrInfinity) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: participant %d not refused for infinity: %v", what, id, err)
			}
		}
	}
	sig, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
	check("single", sig, err)
	res := c.coord.SignBatch(context.Background(), c.keys, root, request(root))
	for i, r := range res {
		check(fmt.Sprintf("batch item %d", i), r.Signature, r.Err)
	}
	// With one participant at infinity the other four still sign.
	c.fakes[1].set(honest)
	c.fakes[2].set(honest)
	sig, err = c.coord.Sign(context.Background(), c.keys[1], root, request(root))
	if err != nil || !c.pubs[1].Verify(root, sig) {
		t.Fatalf("one partial at infinity among five: %v", err)
	}
}

func containsID(fs []coordinator.ParticipantFailure, id tss.ID) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

func TestSignAsksOnlyThresholdWhenHealthy(t *testing.T) {
	cfg := testConfig()
	cfg.HedgeDelay = time.Minute
	c := newCluster(t, 3, 5, 1, cfg)
	root := [32]byte{9}
	if _, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root)); err != nil {
		t.Fatal(err)
	}
	asked := 0
	for _, f := range c.fakes {
		asked += int(f.calls.Load())
	}
	if asked != 3 {
		t.Fatalf("asked %d participants, want 3", asked)
	}
}

func TestSignUnknownAccount(t *testing.T) {
	c := newCluster(t, 2, 3, 1, testConfig())
	_, err := c.coord.Sign(context.Background(), api.PublicKey{1}, [32]byte{}, request([32]byte{}))
	if !errors.Is(err, coordinator.ErrUnknownAccount) {
		t.Fatalf("got %v", err)
	}
}

func TestSignBatch(t *testing.T) {
	c := newCluster(t, 3, 5, 20, testConfig())
	c.fakes[0].set(garbage)
	c.fakes[1].set(down)
	// Two participants refuse account 7 and one refuses account 8: 7 is
	// refused (412), 8 is still signed.
	c.fakes[2].refuse[c.keys[7]] = true
	c.fakes[3].refuse[c.keys[7]] = true
	c.fakes[4].refuse[c.keys[8]] = true
	ids := append(append([]api.PublicKey(nil), c.keys...), api.PublicKey{7})
	root := [32]byte{4, 5}
	res := c.coord.SignBatch(context.Background(), ids, root, request(root))
	if len(res) != len(ids) {
		t.Fatalf("%d results for %d identifiers", len(res), len(ids))
	}
	for i, r := range res {
		switch {
		case i == 7:
			var short *coordinator.ShortfallError
			if !errors.As(r.Err, &short) || short.Code() != 412 {
				t.Errorf("item 7: %v, want 412", r.Err)
			}
		case i == len(ids)-1:
			if !errors.Is(r.Err, coordinator.ErrUnknownAccount) {
				t.Errorf("unknown item: %v", r.Err)
			}
		case i == 8:
			// Honest participants 3 and 4 and garbage 1 leave too few.
			if r.Err == nil {
				t.Errorf("item 8 signed with only two honest partials")
			}
		default:
			if r.Err != nil {
				t.Errorf("item %d: %v", i, r.Err)
			} else if !c.pubs[i].Verify(root, r.Signature) {
				t.Errorf("item %d: signature does not verify", i)
			}
		}
	}
}

func TestDiscoveryRefusesInconsistentViews(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *cluster)
	}{
		{"refuses disagreement on the threshold", func(c *cluster) {
			a := c.fakes[1].view[c.keys[0]]
			a.SigningThreshold = 4
			c.fakes[1].view[c.keys[0]] = a
		}},
		{"refuses a participant answering for another id", func(c *cluster) {
			a := c.fakes[1].view[c.keys[0]]
			a.ParticipantID = 3
			c.fakes[1].view[c.keys[0]] = a
		}},
		{"refuses component keys off the polynomial", func(c *cluster) {
			sk, _ := bls.GenerateSecretKey(rand.Reader)
			a := c.fakes[1].view[c.keys[0]]
			a.PublicKey = sk.PublicKey().Bytes()
			c.fakes[1].view[c.keys[0]] = a
		}},
		{"refuses an unconfigured participant", func(c *cluster) {
			for _, f := range c.fakes {
				a := f.view[c.keys[0]]
				a.Participants = append(append([]api.Participant(nil), a.Participants...), api.Participant{ID: 9, Endpoint: "https://x:1"})
				f.view[c.keys[0]] = a
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, 5, 1, testConfig())
			tc.mutate(c)
			// A fresh coordinator over the mutated views.
			cfg := testConfig()
			for _, f := range c.fakes {
				cfg.Participants = append(cfg.Participants, f)
			}
			coord, err := coordinator.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := coord.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(coord.PublicKeys()) != 0 {
				t.Fatal("inconsistent account accepted")
			}
		})
	}
}

func TestDiscoveryKeepsKeysOfParticipantsBrieflyDown(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	c.fakes[0].set(down)
	if err := c.coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, ok := c.coord.Account(c.keys[0])
	if !ok || len(info.Known) != 5 {
		t.Fatalf("account view %+v", info)
	}
}

func BenchmarkSignBatch313(b *testing.B) {
	c := newCluster(b, 3, 5, 313, testConfig())
	root := [32]byte{1}
	req := request(root)
	b.ResetTimer()
	for b.Loop() {
		for _, r := range c.coord.SignBatch(context.Background(), c.keys, root, req) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
}

func TestSignAnswersExactRepeatsFromTheCache(t *testing.T) {
	c := newCluster(t, 3, 5, 1, testConfig())
	root := [32]byte{5}
	first, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, f := range c.fakes {
		calls += int(f.calls.Load())
		f.set(down)
	}
	again, err := c.coord.Sign(context.Background(), c.keys[0], root, request(root))
	if err != nil || !again.Equal(first) {
		t.Fatalf("repeat: %v", err)
	}
	after := 0
	for _, f := range c.fakes {
		after += int(f.calls.Load())
	}
	if after != calls {
		t.Fatalf("the repeat asked participants again (%d calls, then %d)", calls, after)
	}
	if _, err := c.coord.Sign(context.Background(), c.keys[0], [32]byte{6}, request([32]byte{6})); err == nil {
		t.Fatal("another root was answered from the cache")
	}
}
