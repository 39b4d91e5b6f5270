package coordinator_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
)

// fakeClock is a coordinator.Clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeTimer
	// added is closed, and replaced, whenever a waiter is added.
	added chan struct{}
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), added: make(chan struct{})}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, fakeTimer{at: f.now.Add(d), ch: ch})
	close(f.added)
	f.added = make(chan struct{})
	return ch
}

// Advance moves the clock on by d and fires every timer then due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = kept
}

// waitForTimer blocks until some timer is due at or before at: someone
// waits on the clock for that moment.
func (f *fakeClock) waitForTimer(t *testing.T, at time.Time) {
	t.Helper()
	select {
	case <-f.waiting(t.Context(), at):
	case <-t.Context().Done():
		t.Fatal("nobody waited on the clock")
	}
}

// waiting is closed once some timer is due at or before at, unless ctx
// ends first.
func (f *fakeClock) waiting(ctx context.Context, at time.Time) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for {
			f.mu.Lock()
			added := f.added
			for _, w := range f.waiters {
				if !w.at.After(at) {
					f.mu.Unlock()
					close(out)
					return
				}
			}
			f.mu.Unlock()
			select {
			case <-added:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// pacedCluster is a 2-of-3 cluster on a fake clock whose coordinator has
// not discovered anything yet, with the given participants down.
func pacedCluster(t *testing.T, unreachable ...int) (*cluster, *coordinator.Coordinator, *fakeClock) {
	t.Helper()
	c := newCluster(t, 2, 3, 1, testConfig())
	clock := newFakeClock()
	cfg := testConfig()
	cfg.HedgeDelay = 0
	cfg.Clock = clock
	for _, f := range c.fakes {
		cfg.Participants = append(cfg.Participants, f)
	}
	coord, err := coordinator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range unreachable {
		c.fakes[i].set(down)
	}
	return c, coord, clock
}

func discoveries(c *cluster) int {
	n := 0
	for _, f := range c.fakes {
		n += int(f.discoveries.Load())
	}
	return n
}

type signResult struct {
	sig *bls.Signature
	err error
}

// A request that falls short because members were not discovered yet
// (here: down at the discovery the request itself started) waits, on the
// coordinator's clock, for discovery's one-second gap, discovers again and
// signs with the members that came back, instead of giving up.
func TestShortfallForUndiscoveredMembersWaitsOutTheDiscoveryGap(t *testing.T) {
	c, coord, clock := pacedCluster(t, 1, 2)
	root := [32]byte{0x51}
	start := clock.Now()
	done := make(chan signResult, 1)
	go func() {
		sig, err := coord.Sign(context.Background(), c.keys[0], root, request(root))
		done <- signResult{sig, err}
	}()
	// The request discovered participant 1 only, got its partial, fell
	// short, and now waits for the gap to pass.
	clock.waitForTimer(t, start.Add(time.Second))
	select {
	case r := <-done:
		t.Fatalf("the request gave up before the gap passed: %v", r.err)
	default:
	}
	c.fakes[1].set(honest)
	c.fakes[2].set(honest)
	clock.Advance(time.Second)
	r := <-done
	if r.err != nil {
		t.Fatalf("after the gap: %v", r.err)
	}
	if !c.pubs[0].Verify(root, r.sig) {
		t.Fatal("signature does not verify")
	}
	if info, _ := coord.Account(c.keys[0]); len(info.Known) != 3 {
		t.Fatalf("the discovery after the gap knows %v; want every member", info.Known)
	}
}

// A member the request could not ask because it was undiscovered, but
// that a discovery learned while the request was out (Run's loop, another
// request: here an explicit Refresh while participant 1 is being asked),
// is asked at once: the request neither waits out the gap nor gives up
// because its own discovery learns nothing newer (seen: a signer restarted
// during a request stayed "not discovered yet" in its error).
func TestShortfallRetriesAtOnceWhenADiscoveryDuringTheRequestLearnedTheMember(t *testing.T) {
	c, coord, clock := pacedCluster(t, 1, 2)
	root := [32]byte{0x53}
	start := clock.Now()
	c.fakes[0].mu.Lock()
	c.fakes[0].onCall = func() {
		c.fakes[1].set(honest)
		if err := coord.Refresh(context.Background()); err != nil {
			t.Error(err)
		}
	}
	c.fakes[0].mu.Unlock()
	done := make(chan signResult, 1)
	go func() {
		sig, err := coord.Sign(context.Background(), c.keys[0], root, request(root))
		done <- signResult{sig, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("the request gave up although discovery had learned participant 2: %v", r.err)
		}
		if !c.pubs[0].Verify(root, r.sig) {
			t.Fatal("signature does not verify")
		}
	case <-clock.waiting(t.Context(), start.Add(time.Second)):
		clock.Advance(time.Second)
		r := <-done
		t.Fatalf("the request waited out the discovery gap although discovery had learned participant 2 (then: %v)", r.err)
	}
}

// The wait for the gap ends with the request's context: the request fails
// with the shortfall, and no discovery runs for it afterwards.
func TestShortfallWaitEndsWithTheRequest(t *testing.T) {
	c, coord, clock := pacedCluster(t, 1, 2)
	root := [32]byte{0x52}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan signResult, 1)
	go func() {
		sig, err := coord.Sign(ctx, c.keys[0], root, request(root))
		done <- signResult{sig, err}
	}()
	clock.waitForTimer(t, clock.Now().Add(time.Second))
	before := discoveries(c)
	cancel()
	r := <-done
	var short *coordinator.ShortfallError
	if !errors.As(r.err, &short) {
		t.Fatalf("got %v; want the shortfall", r.err)
	}
	clock.Advance(time.Hour)
	if after := discoveries(c); after != before {
		t.Fatalf("%d discovery calls after the request ended", after-before)
	}
}

// A request for an account whose known members reach the threshold but
// not every member signs at once, and leaves discovery of the rest to Run,
// which has finished it when it returns.
func TestBackgroundDiscoveryIsRunByRunAndAwaited(t *testing.T) {
	c, coord, _ := pacedCluster(t, 2)
	if err := coord.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.fakes[2].set(honest)
	c.fakes[2].listed = make(chan struct{}, 8)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- coord.Run(ctx) }()

	root := [32]byte{0x53}
	sig, err := coord.Sign(context.Background(), c.keys[0], root, request(root))
	if err != nil || !c.pubs[0].Verify(root, sig) {
		t.Fatalf("sign with two of three known: %v", err)
	}
	// Run's background discovery asks participant 3 ...
	<-c.fakes[2].listed
	// ... and Run returns only once that discovery has ended.
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if info, _ := coord.Account(c.keys[0]); len(info.Known) != 3 {
		t.Fatalf("after Run returned the account knows %v; want every member", info.Known)
	}
}

// RefreshIfOlder runs discovery only when the last on-demand one is older
// than maxAge on the coordinator's clock, or was invalidated.
func TestRefreshIfOlderFollowsTheClock(t *testing.T) {
	c, coord, clock := pacedCluster(t)
	ask := func() int {
		before := discoveries(c)
		coord.RefreshIfOlder(context.Background(), 10*time.Second)
		return discoveries(c) - before
	}
	for _, step := range []struct {
		name    string
		advance time.Duration
		do      func()
		want    int
	}{
		{"first listing discovers", 0, nil, 3},
		{"a listing within maxAge does not", 9 * time.Second, nil, 0},
		{"a listing at maxAge does", time.Second, nil, 3},
		{"invalidated, the next one does", 0, coord.Invalidate, 3},
		{"and the one after it does not", 0, nil, 0},
	} {
		clock.Advance(step.advance)
		if step.do != nil {
			step.do()
		}
		if got := ask(); got != step.want {
			t.Fatalf("%s: %d participants asked, want %d", step.name, got, step.want)
		}
	}
}
