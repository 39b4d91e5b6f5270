package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/tss"
)

// Config configures a Coordinator.
type Config struct {
	// Participants are the cluster's signers, each with a distinct id.
	Participants []Participant
	// Timeout bounds each call to one participant.
	Timeout time.Duration
	// PerItemTimeout extends Timeout for each identifier of a batch call,
	// since a participant signs a slot burst of thousands of keys in
	// proportion to its size.
	PerItemTimeout time.Duration
	// HedgeDelay is how long the coordinator waits for the first threshold
	// participants it asked before asking all the others too. Zero asks
	// every participant at once. Failures always bring in the next
	// participant immediately.
	HedgeDelay time.Duration
	// RefreshInterval is the discovery period of Run.
	RefreshInterval time.Duration
	// Logger receives warnings about participants; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts calls and failures per participant.
	Metrics *Metrics
	// CacheSize is how many recovered signatures are kept to answer exact
	// repeats without asking the participants again; 0 disables.
	CacheSize int
	// Clock is the coordinator's time; nil is the system clock.
	Clock Clock
}

// DefaultConfig returns the defaults for everything but Participants.
func DefaultConfig() Config {
	return Config{
		Timeout:         2 * time.Second,
		PerItemTimeout:  time.Millisecond,
		CacheSize:       65536,
		RefreshInterval: time.Minute,
	}
}

// Validate reports the first wrong field.
func (c Config) Validate() error {
	if len(c.Participants) == 0 {
		return errors.New("coordinator: Participants: none configured")
	}
	seen := map[tss.ID]bool{}
	for i, p := range c.Participants {
		if p == nil {
			return fmt.Errorf("coordinator: Participants[%d]: nil", i)
		}
		if p.ID() == 0 || seen[p.ID()] {
			return fmt.Errorf("coordinator: Participants[%d]: id %s is zero or repeated", i, p.ID())
		}
		seen[p.ID()] = true
	}
	if c.Timeout <= 0 {
		return errors.New("coordinator: Timeout: must be positive")
	}
	if c.PerItemTimeout < 0 {
		return errors.New("coordinator: PerItemTimeout: must not be negative")
	}
	if c.HedgeDelay < 0 {
		return errors.New("coordinator: HedgeDelay: must not be negative")
	}
	if c.CacheSize < 0 {
		return errors.New("coordinator: CacheSize: must not be negative")
	}
	if c.RefreshInterval <= 0 {
		return errors.New("coordinator: RefreshInterval: must be positive")
	}
	return nil
}

// Coordinator signs through a threshold cluster. It is safe for concurrent
// use. Create with New, call Refresh (or Run) before signing.
type Coordinator struct {
	cfg          Config
	log          *slog.Logger
	participants []Participant
	byID         map[tss.ID]Participant
	health       *health

	mu       sync.RWMutex
	accounts map[api.PublicKey]*account

	clock Clock
	// onDemand paces the discoveries requests and listings ask for.
	onDemand *pacer
	// background carries a discovery a request wants without waiting for
	// it to Run, which runs it; one pending at most.
	background chan struct{}

	cache *sigCache

	// coalescers gather concurrent single requests per participant
	// (coalesce.go); recov verifies concurrent recoveries together.
	coalesceMu sync.Mutex
	coalescers map[tss.ID]*coalescer
	recov      recoverer
}

// New validates cfg and returns a coordinator with no accounts yet.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = systemClock{}
	}
	c := &Coordinator{
		cfg:          cfg,
		clock:        clock,
		onDemand:     &pacer{clock: clock},
		background:   make(chan struct{}, 1),
		log:          log,
		participants: append([]Participant(nil), cfg.Participants...),
		byID:         map[tss.ID]Participant{},
		health:       newHealth(),
		accounts:     map[api.PublicKey]*account{},
		cache:        newSigCache(cfg.CacheSize),
		coalescers:   map[tss.ID]*coalescer{},
	}
	sort.Slice(c.participants, func(i, j int) bool { return c.participants[i].ID() < c.participants[j].ID() })
	for _, p := range c.participants {
		c.byID[p.ID()] = p
	}
	return c, nil
}

// Run refreshes discovery every RefreshInterval, and every few seconds
// while some account lacks a participant's component key, until ctx ends.
// It also runs the discoveries signing requests ask for in the background
// (see refreshIfIncomplete). Every discovery it starts has ended when it
// returns.
func (c *Coordinator) Run(ctx context.Context) error {
	for {
		wait := c.cfg.RefreshInterval
		if c.incomplete() {
			wait = min(wait, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(wait):
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("discovery failed", "err", err)
			}
		case <-c.background:
			rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			if err := c.Refresh(rctx); err != nil && ctx.Err() == nil {
				c.log.Warn("background discovery failed", "err", err)
			}
			cancel()
		}
	}
}

func (c *Coordinator) incomplete() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, a := range c.accounts {
		if len(a.components) < len(a.members) {
			return true
		}
	}
	return false
}

// RefreshIfOlder runs discovery now unless one ran within maxAge, so that
// listings see accounts added since (an import, a key-generation
// ceremony) without waiting for the periodic refresh.
func (c *Coordinator) RefreshIfOlder(ctx context.Context, maxAge time.Duration) {
	c.onDemand.run(ctx, maxAge, false, func() {
		if err := c.Refresh(ctx); err != nil {
			c.log.Warn("discovery failed", "err", err)
		}
	})
}

// PublicKeys lists the composite keys of every discovered account, sorted.
func (c *Coordinator) PublicKeys() []api.PublicKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]api.PublicKey, 0, len(c.accounts))
	for k := range c.accounts {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

// Account returns the public view of one account.
func (c *Coordinator) Account(key api.PublicKey) (AccountInfo, bool) {
	c.mu.RLock()
	a, ok := c.accounts[key]
	c.mu.RUnlock()
	if !ok {
		return AccountInfo{}, false
	}
	info := AccountInfo{PublicKey: a.key, Threshold: a.threshold, Components: map[tss.ID]api.PublicKey{}}
	for _, m := range a.members {
		info.Members = append(info.Members, m.ID())
		if _, ok := a.components[m.ID()]; ok {
			info.Known = append(info.Known, m.ID())
			info.Components[m.ID()] = a.raw[m.ID()]
		}
	}
	return info, true
}

func (c *Coordinator) account(key api.PublicKey) *account {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.accounts[key]
}
