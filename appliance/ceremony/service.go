package ceremony

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// env is what every ceremony, batch and coordination of a Service shares:
// the signer's configuration, its parts, and the goroutines they start.
// It never changes after New.
type env struct {
	cfg   Config
	deps  Deps
	clock Clock
	group *group
}

func (e *env) now() time.Time { return e.clock.Now() }

// Service runs this signer's side of every ceremony it joined and the
// coordination of those it coordinates. Load reads what a previous run
// left on disk; Run resumes it and enforces deadlines until its context
// ends, then zeroes every secret held in memory.
type Service struct {
	env *env
	log *slog.Logger

	mu     sync.Mutex
	byID   map[[32]byte]*ceremony
	coords map[[32]byte]*coordination
	// starting is set while coordinate starts a ceremony, so that two
	// start requests at once cannot both pass the one-at-a-time check.
	starting bool
	// loaded and loadedCoords are what Load found on disk, for Run to
	// resume.
	loaded       []*ceremony
	loadedCoords []*coordination
	// deadlines wakes Run when a ceremony joins: its deadline may be the
	// next one.
	deadlines chan struct{}
}

// New returns the ceremony service of a signer. It reads and starts
// nothing.
func New(cfg Config, deps Deps) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &env{cfg: cfg, deps: deps, clock: cfg.Clock, group: newGroup()}
	return &Service{
		env: e, log: cfg.Log,
		byID: map[[32]byte]*ceremony{}, coords: map[[32]byte]*coordination{},
		deadlines: make(chan struct{}, 1),
	}
}

// Load reads every ceremony this signer took part in from its directory,
// without replaying anything: Run resumes them. It runs at start-up,
// before the listeners serve, so that a ceremony on disk is never
// mistaken for a new one; from its return on, requests find the service
// running.
func (s *Service) Load() error {
	dir := s.env.cfg.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ceremonies directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("ceremonies directory: %w", err)
	}
	s.env.group.open()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		id, err := adminapi.ParseCeremonyID(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		c, err := loadCeremony(s.env, id, filepath.Join(dir, e.Name()))
		if errors.Is(err, errNotCeremony) {
			// A crash between creating the directory and writing the plan:
			// nothing of the ceremony happened here.
			s.log.Warn("removing an empty ceremony directory", "ceremony", e.Name())
			os.RemoveAll(filepath.Join(dir, e.Name()))
			continue
		}
		if err != nil {
			return fmt.Errorf("ceremony %s: %w", e.Name(), err)
		}
		s.byID[id] = c
		s.loaded = append(s.loaded, c)
		co, err := loadCoordination(s, c)
		if err != nil {
			return fmt.Errorf("ceremony %s: %w", e.Name(), err)
		}
		if co != nil {
			s.coords[id] = co
			s.loadedCoords = append(s.loadedCoords, co)
		}
	}
	return nil
}

// Run resumes the loaded ceremonies and coordinations and gives up every
// ceremony whose deadline passes, timed on the injected clock, until ctx
// ends; then it waits for every goroutine of the ceremonies and zeroes
// every secret they hold in memory (their sealed snapshots stay on disk
// for the next start).
func (s *Service) Run(ctx context.Context) {
	s.mu.Lock()
	loaded, coords := s.loaded, s.loadedCoords
	s.loaded, s.loadedCoords = nil, nil
	s.mu.Unlock()
	if !s.env.group.running() {
		return // Load never ran: the signer did not start
	}
	defer func() {
		s.env.group.stop()
		for _, c := range s.all() {
			c.zero()
		}
	}()
	for _, c := range loaded {
		s.env.group.spawn(c.resume)
	}
	for _, co := range coords {
		s.env.group.spawn(co.run)
	}
	gctx := s.env.group.context()
	for {
		var due <-chan time.Time
		if next, ok := s.nextDeadline(); ok {
			// A nanosecond past it: a deadline has passed only after it.
			due = s.env.clock.After(max(next.Sub(s.env.now()), 0) + time.Nanosecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.deadlines:
		case <-due:
			for _, c := range s.all() {
				c.checkDeadline(gctx)
			}
		}
	}
}

// nextDeadline is the earliest deadline of a ceremony not ended here.
func (s *Service) nextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, c := range s.all() {
		if d, ok := c.deadline(); ok && (!found || d.Before(next)) {
			next, found = d, true
		}
	}
	return next, found
}

func (s *Service) all() []*ceremony {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ceremony, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	return out
}

func (s *Service) get(id [32]byte) (*ceremony, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	return c, ok
}

func (s *Service) coordination(id [32]byte) *coordination {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.coords[id]
}

// CoordinatorOf says who coordinates ceremony id: known is false for a
// ceremony this signer never heard of, and coordinator is 0 for one it
// knows only as aborted (it never held the plan).
func (s *Service) CoordinatorOf(id [32]byte) (coordinator tss.ID, known bool) {
	c, ok := s.get(id)
	if !ok {
		return 0, false
	}
	if c.plan == nil {
		return 0, true
	}
	return tss.ID(c.plan.Coordinator), true
}

// join makes this signer a participant of p (idempotent). The caller has
// authenticated the coordinator.
func (s *Service) join(p *plan) (*ceremony, *web.Refusal) {
	id := p.ID()
	if !s.env.group.running() {
		return nil, web.Refuse(http.StatusServiceUnavailable, "unavailable", "the ceremony service is not running")
	}
	s.mu.Lock()
	if c, ok := s.byID[id]; ok {
		s.mu.Unlock()
		if st, reason := c.current(); st.Aborted() {
			return nil, refuseAborted(reason)
		}
		return c, nil
	}
	if err := p.validate(&s.env.cfg, s.env.now()); err != nil {
		s.mu.Unlock()
		return nil, web.Refuse(http.StatusBadRequest, "bad_request", "plan: %v", err)
	}
	if !slices.Contains(p.members(), s.env.cfg.Self) {
		s.mu.Unlock()
		return nil, web.Refuse(http.StatusBadRequest, "bad_request", "plan: participant %d takes no part in it", s.env.cfg.Self)
	}
	if err := s.checkOwnConfiguration(p); err != nil {
		s.mu.Unlock()
		return nil, web.Refuse(http.StatusConflict, "ceremony_configuration", "plan: %v", err)
	}
	dir := filepath.Join(s.env.cfg.Dir, adminapi.CeremonyID(id))
	c := newCeremony(s.env, id, p, dir)
	c.state = adminapi.StateRunning
	// The plan is written under the lock, so that two joins of one
	// ceremony at once make one ceremony.
	b, err := json.MarshalIndent(p, "", "  ")
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		err = files.WriteDurable(filepath.Join(dir, planFile), b, 0o600)
	}
	if err != nil {
		s.mu.Unlock()
		os.RemoveAll(dir)
		return nil, web.Refuse(http.StatusServiceUnavailable, "unavailable", "recording the ceremony: %v", err)
	}
	s.byID[id] = c
	s.mu.Unlock()
	select {
	case s.deadlines <- struct{}{}:
	default:
	}
	s.log.Info("joined "+p.what(), "ceremony", adminapi.CeremonyID(id), "coordinator", p.Coordinator,
		"validators", p.Validators, "threshold", p.Threshold, "batches", p.batches())
	s.env.group.spawn(c.startBatches)
	return c, nil
}

// tombstone records a ceremony this signer never joined as aborted, so
// that a late join is refused.
func (s *Service) tombstone(id [32]byte, reason string) *web.Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[id]; ok {
		return nil
	}
	c := newCeremony(s.env, id, nil, filepath.Join(s.env.cfg.Dir, adminapi.CeremonyID(id)))
	c.state, c.reason = adminapi.StateAborted, reason
	close(c.ended)
	if err := c.writeRecord(record{State: adminapi.StateAborted, Reason: reason}); err != nil {
		return web.Refuse(http.StatusServiceUnavailable, "unavailable", "recording the abort: %v", err)
	}
	s.byID[id] = c
	return nil
}

// abort ends a ceremony: everywhere if this signer coordinates it, here
// otherwise. An unknown ceremony is recorded as aborted, so that a join
// arriving late is refused.
func (s *Service) abort(ctx context.Context, id [32]byte, from tss.ID, reason string) *web.Refusal {
	if co := s.coordination(id); co != nil {
		return co.requestAbort(reason)
	}
	c, ok := s.get(id)
	if !ok {
		return s.tombstone(id, reason)
	}
	st, _ := c.current()
	if st == adminapi.StateComplete {
		return web.Refuse(http.StatusConflict, "ceremony_state", "ceremony is complete: remove its accounts instead")
	}
	if st == adminapi.StateActive && c.plan != nil && c.plan.redistribute() && from != tss.ID(c.plan.Coordinator) {
		// Only the coordinator knows whether every member activated:
		// rolled back here alone, this member could leave a quorum of
		// each configuration.
		return web.Refuse(http.StatusConflict, "ceremony_state", "the redistribution is active here: only its coordinator (participant %d) may abort it (it does so only before every member activated it)", c.plan.Coordinator)
	}
	c.abort(ctx, reason)
	return nil
}

// AllowsDeposit reports whether participant from may have this signer's
// DEPOSIT partial d of key without a DEPOSIT grant: key is an account of a
// ceremony this signer joined and activated, from is that ceremony's
// coordinator, and the deposit is exactly the one the ceremony's plan,
// which this signer holds, commits to (public key, withdrawal credentials
// and amount; the network's genesis fork version is checked with every
// DEPOSIT). A deposit with other withdrawal credentials or another amount
// is refused, whoever coordinates.
func (s *Service) AllowsDeposit(from tss.ID, key api.PublicKey, d *signing.Deposit) bool {
	if api.PublicKey(d.Pubkey) != key {
		return false
	}
	for _, c := range s.all() {
		if c.plan == nil || c.plan.reshares() || tss.ID(c.plan.Coordinator) != from || !c.holds(key) {
			continue
		}
		return d.WithdrawalCredentials == phase0.Root(c.plan.WithdrawalCredentials) && uint64(d.Amount) == uint64(c.plan.AmountGwei)
	}
	return false
}

// group owns the goroutines of a Service's ceremonies: each runs under the
// group's context, and stop cancels it and waits for all of them.
type group struct {
	mu       sync.Mutex
	ctx      context.Context
	cancel   context.CancelFunc
	stopping bool
	wg       sync.WaitGroup
}

func newGroup() *group { return &group{} }

// open makes the group's context: from then on spawn runs work.
func (g *group) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx == nil {
		g.ctx, g.cancel = context.WithCancel(context.Background())
	}
}

func (g *group) running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctx != nil && !g.stopping
}

func (g *group) context() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctx
}

// spawn runs f in the background under the group's context, or reports
// that the group is not running.
func (g *group) spawn(f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx == nil || g.stopping {
		return false
	}
	ctx := g.ctx
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(ctx)
	}()
	return true
}

// stop cancels the group's context and waits for every goroutine.
func (g *group) stop() {
	g.mu.Lock()
	g.stopping = true
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// checkOwnConfiguration checks a resharing plan against the accounts as
// this signer holds them, so that no plan (a compromised coordinator's, or
// one built from a stale discovery) can misstate their current
// configuration: an account this signer holds must be listed with its own
// threshold and members, this signer among them, and a redistribution
// must make exactly the next generation; an account the plan says this
// signer holds must be held here, unless this signer is the one a repair
// gives its shares or a redistribution's joining member. Dealers deal only
// shares they hold, so with at least the old threshold of honest members
// checking, the plan's old configuration is the accounts' real one.
func (s *Service) checkOwnConfiguration(p *plan) error {
	if !p.reshares() {
		return nil
	}
	dir := s.env.deps.Directory
	if dir == nil {
		return errors.New("this signer cannot reshare")
	}
	if p.redistribute() && !s.env.cfg.AllowWeaker {
		if err := noWeaker(int(p.Threshold), len(p.OldMembers), int(p.NewThreshold), len(p.NewMembers)); err != nil {
			return err
		}
	}
	self := s.env.cfg.Self
	members := p.accountMembers()
	member := slices.Contains(members, self)
	receives := p.joins(self) || (p.repair() && tss.ID(p.Repaired) == self)
	held := dir.Configuration(p.keys())
	for i, h := range held {
		key := p.Accounts[i].Key
		switch {
		case !h.Holds && member && !receives:
			return fmt.Errorf("accounts[%d]: %s is not held here, and the plan lists this signer (%d) among its members %v", i, key, self, members)
		case !h.Holds:
		case receives:
			return fmt.Errorf("accounts[%d]: %s is held here already: this signer cannot receive it", i, key)
		case !member:
			return fmt.Errorf("accounts[%d]: %s is held here, and the plan's members %v leave this signer (%d) out: it is not the account's configuration", i, key, members, self)
		case h.Threshold != int(p.Threshold) || !slices.Equal(h.Members, members):
			return fmt.Errorf("accounts[%d]: %s is %d-of-%v here, the plan says %d-of-%v", i, key, h.Threshold, h.Members, p.Threshold, members)
		case p.redistribute() && uint64(p.Generation) != h.Generation+1:
			return fmt.Errorf("accounts[%d]: %s is at configuration generation %d here; a redistribution of it makes generation %d, not %d", i, key, h.Generation, h.Generation+1, p.Generation)
		case !p.redistribute() && uint64(p.Generation) != h.Generation:
			return fmt.Errorf("accounts[%d]: %s is at configuration generation %d here, the plan says %d", i, key, h.Generation, p.Generation)
		}
	}
	return nil
}

// noWeaker refuses a new configuration, t-of-n, weaker than the current
// one in any of the ways a single administrator's credential must not
// decide alone: fewer signers needed to sign or to recover the key (a
// lower threshold), fewer compromised signers tolerated (a lower 2t-n),
// or a key that one lost or destroyed share makes unusable where it did
// not (no signer may be down). A signer whose operator wants it anyway
// sets accounts.allow_weaker_redistribution.
func noWeaker(tOld, nOld, t, n int) error {
	switch {
	case t < tOld:
		return fmt.Errorf("the new threshold %d is below the current %d: fewer signers would sign or recover the key (set accounts.allow_weaker_redistribution on every signer to allow it)", t, tOld)
	case 2*t-n < 2*tOld-nOld:
		return fmt.Errorf("%d-of-%d tolerates %d compromised signers, the current %d-of-%d %d (set accounts.allow_weaker_redistribution on every signer to allow it)", t, n, 2*t-n-1, tOld, nOld, 2*tOld-nOld-1)
	case n-t < min(1, nOld-tOld):
		return fmt.Errorf("%d-of-%d stops signing, and loses the key, with one signer gone; the current %d-of-%d does not (set accounts.allow_weaker_redistribution on every signer to allow it)", t, n, tOld, nOld)
	}
	return nil
}
