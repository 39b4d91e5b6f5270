package vc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/internal/network"
)

// lastFork is the last fork whose duties this client performs.
const lastFork = spec.DataVersionFulu

// Options are what a Client needs besides its configuration: the network,
// a running beacon client and signer, and the process's logger, metrics
// registry and service manager.
type Options struct {
	// Network is the chain (the cluster file's).
	Network *network.Network
	// Beacon is the beacon node client; its Run must be running.
	Beacon *beacon.Client
	// Signer is the threshold cluster (a *coordinator.Coordinator, whose
	// Run keeps discovery fresh).
	Signer Signer
	// Logger receives the client's log; nil discards.
	Logger *slog.Logger
	// Registerer, when set, receives the client's metrics.
	Registerer prometheus.Registerer
	// Notify sends systemd notifications ("READY=1", "STATUS=...",
	// "WATCHDOG=1", "STOPPING=1"); nil sends nothing.
	Notify func(state string)
	// WatchdogInterval is how often to send WATCHDOG=1 while the duty
	// loop is alive; zero disables.
	WatchdogInterval time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Client performs the duties of the cluster's validators. Create it with
// New and run it with Run.
type Client struct {
	cfg          Config
	net          *network.Network
	bn           *beacon.Client
	signer       Signer
	log          *slog.Logger
	m            *metrics
	notify       func(string)
	watchdog     time.Duration
	clock        clock
	feeRecipient bellatrix.ExecutionAddress
	graffiti     [32]byte
	// settings are the per-validator proposer settings over the two above
	// and builder.gas_limit (the keymanager API's).
	settings *proposerSettings

	validators *validatorSet
	duties     *dutyStore
	heads      *heads
	refusals   *refusals
	regs       *registrations

	running   atomic.Bool
	signing   atomic.Bool
	heartbeat atomic.Int64
	wg        sync.WaitGroup

	statusMu sync.Mutex
	status   string
}

// New checks the configuration and options and returns a client. It
// starts nothing.
func New(cfg *Config, opts Options) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("vc: no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vc: %w", err)
	}
	switch {
	case opts.Network == nil:
		return nil, errors.New("vc: Options.Network: required")
	case opts.Beacon == nil:
		return nil, errors.New("vc: Options.Beacon: required")
	case opts.Signer == nil:
		return nil, errors.New("vc: Options.Signer: required")
	case opts.WatchdogInterval < 0:
		return nil, errors.New("vc: Options.WatchdogInterval: must not be negative")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("vc: registering metrics: %w", err)
	}
	c := &Client{
		cfg: *cfg, net: opts.Network, bn: opts.Beacon, signer: opts.Signer, log: opts.Logger, m: m,
		notify: opts.Notify, watchdog: opts.WatchdogInterval,
		validators: newValidatorSet(), duties: newDutyStore(), heads: newHeads(), refusals: newRefusals(), regs: newRegistrations(),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.notify == nil {
		c.notify = func(string) {}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c.clock = newClock(c.net, c.net.GenesisTime(), now)
	c.feeRecipient, _ = cfg.feeRecipient() // validated above
	c.graffiti, _ = cfg.graffiti()
	if c.settings, err = loadProposerSettings(cfg.Keymanager.SettingsFile); err != nil {
		return nil, fmt.Errorf("vc: %w", err)
	}
	c.status = "starting"
	return c, nil
}

// Run performs duties until ctx ends, then returns nil. It waits for the
// beacon client, discovers the cluster's accounts and their validators,
// runs doppelganger detection (returning a [*DoppelgangerError] if a
// validator is seen live), then acts slot by slot. It may be called once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("vc: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer c.wg.Wait()
	defer cancel()
	c.beat()
	if c.watchdog > 0 {
		c.background(func() { c.watchdogLoop(ctx) })
	}
	c.setStatus("waiting for the beacon nodes")
	select {
	case <-c.bn.Ready():
	case <-ctx.Done():
		return nil
	}
	if err := c.learnGenesis(ctx); err != nil {
		return nil // ctx ended
	}
	c.notify("READY=1")
	events, unsubscribe := c.bn.Subscribe(256)
	defer unsubscribe()
	c.background(func() { c.followEvents(ctx, events) })

	if err := c.discover(ctx); err != nil {
		return nil // ctx ended
	}
	if err := c.doppelganger(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		c.setStatus("stopped: " + err.Error())
		c.log.Error("doppelganger detected: signing nothing and stopping", "err", err)
		return err
	}
	c.signing.Store(true)
	c.setStatus("performing duties")
	c.log.Info("performing duties", "validators", c.validators.count(), "accounts", len(c.accounts()))
	c.loop(ctx)
	c.notify("STOPPING=1")
	return nil
}

// background runs f in a goroutine Run waits for.
func (c *Client) background(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (c *Client) setStatus(s string) {
	c.statusMu.Lock()
	c.status = s
	c.statusMu.Unlock()
	c.notify("STATUS=" + s)
}

// Health reports whether the client performs duties with a usable beacon
// node, and its status line.
func (c *Client) Health() (bool, string) {
	c.statusMu.Lock()
	status := c.status
	c.statusMu.Unlock()
	if !c.signing.Load() {
		return false, status
	}
	for _, n := range c.bn.Nodes() {
		switch n.State {
		case beacon.StateHealthy, beacon.StateDegraded, beacon.StateSyncing:
			return true, status
		}
	}
	return false, "no usable beacon node"
}

// learnGenesis fills in the genesis time from the beacon nodes when the
// network's config does not give it.
func (c *Client) learnGenesis(ctx context.Context) error {
	if !c.clock.genesis.IsZero() {
		return nil
	}
	for {
		g, err := c.bn.Genesis(ctx)
		if err == nil {
			c.clock.genesis = g.GenesisTime
			return nil
		}
		c.log.Warn("genesis unknown; asking the beacon nodes again", "err", err)
		if err := c.sleep(ctx, c.clock.now().Add(c.clock.slot)); err != nil {
			return err
		}
	}
}

// discover waits until the cluster lists accounts and the chain knows at
// least their validators' status, retrying every slot.
func (c *Client) discover(ctx context.Context) error {
	c.setStatus("discovering the cluster's accounts")
	warned := false
	for {
		err := c.signer.Refresh(ctx)
		if err == nil {
			if len(c.accounts()) == 0 {
				err = errors.New("the cluster lists no account this client may use")
			} else if err = c.refreshValidators(ctx); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !warned {
			c.log.Warn("cluster accounts or validators not known yet; retrying every slot", "err", err)
			warned = true
		}
		if err := c.sleep(ctx, c.clock.now().Add(c.clock.slot)); err != nil {
			return err
		}
	}
}

// sleep waits until t in steps of at most a slot, beating the heart at
// each, so the watchdog knows the client is alive during long waits.
func (c *Client) sleep(ctx context.Context, t time.Time) error {
	for {
		c.beat()
		step := c.clock.now().Add(c.clock.slot)
		if !step.Before(t) {
			return c.clock.sleepUntil(ctx, t)
		}
		if err := c.clock.sleepUntil(ctx, step); err != nil {
			return err
		}
	}
}

func (c *Client) beat() { c.heartbeat.Store(c.clock.now().UnixNano()) }

// watchdogLoop sends WATCHDOG=1 while the client's main goroutine has
// beaten within three slots, so a wedged client is restarted.
func (c *Client) watchdogLoop(ctx context.Context) {
	t := time.NewTicker(c.watchdog)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c.clock.now().Sub(time.Unix(0, c.heartbeat.Load())) < 3*c.clock.slot+c.watchdog {
				c.notify("WATCHDOG=1")
			}
		}
	}
}

// followEvents tracks head events (attestation timing, dependent roots)
// and chain reorganisations.
func (c *Client) followEvents(ctx context.Context, events <-chan beacon.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch {
			case ev.Head != nil:
				c.heads.observe(ev.Head.Slot)
				if c.signing.Load() {
					c.checkDependentRoots(ctx, ev.Head)
				}
			case ev.Reorg != nil:
				c.log.Info("chain reorganisation", "slot", uint64(ev.Reorg.Slot), "depth", ev.Reorg.Depth, "node", ev.Node)
			}
		}
	}
}

// loop starts each slot's duties at the slot's start, until ctx ends.
func (c *Client) loop(ctx context.Context) {
	if err := c.sleep(ctx, c.clock.genesis); err != nil {
		return
	}
	next := c.clock.currentSlot()
	if c.clock.now().After(c.clock.at(next, 1)) {
		next++ // too late for this slot's attestations
	}
	started := false
	var epoch phase0.Epoch
	for {
		if err := c.sleep(ctx, c.clock.start(next)); err != nil {
			return
		}
		if e := c.clock.epochOf(next); !started || e != epoch {
			started, epoch = true, e
			if v := c.net.ForkAtEpoch(e).Name; v > lastFork {
				// Signing objects of a fork this client does not know
				// would produce invalid or slashable messages.
				c.log.Error("the network is in a fork this client does not support; performing no duties", "fork", v.String(), "epoch", uint64(e))
				c.setStatus("stopped duties: fork " + v.String() + " is not supported")
				next = c.clock.firstSlot(e + 1)
				continue
			}
			c.startEpoch(ctx, e)
		}
		c.m.setSlot(uint64(next))
		c.heads.forget(next)
		s := next
		c.background(func() { c.runSlot(ctx, s) })
		if c.clock.epochOf(s+1) != epoch {
			c.background(func() { c.prefetchProposers(ctx, s) })
		}
		next++
		if now := c.clock.currentSlot(); now > next {
			c.log.Warn("fell behind the clock; skipping slots", "from", uint64(next), "to", uint64(now))
			next = now
		}
	}
}

// prefetchProposers fetches the next epoch's proposer duties two thirds
// into the epoch's last slot s (the block they depend on, the slot's, is
// normally in by then, and checkDependentRoots fetches them again if it
// comes later), so that the next epoch's first slot does not wait for
// them. A node that does not serve the next epoch's proposers only moves
// the fetch to the epoch's start.
func (c *Client) prefetchProposers(ctx context.Context, s phase0.Slot) {
	if err := c.clock.sleepUntil(ctx, c.clock.at(s, 2)); err != nil {
		return
	}
	if err := c.fetchProposers(ctx, c.clock.epochOf(s)+1); err != nil && ctx.Err() == nil {
		c.log.Debug("fetching the next epoch's proposer duties ahead failed; fetching them at its start", "err", err)
	}
}

// startEpoch makes sure the epoch's attester and proposer duties are held
// (at once: a proposal may be due now; the beacon client bounds the wait)
// and starts the epoch's other work in the background.
func (c *Client) startEpoch(ctx context.Context, e phase0.Epoch) {
	c.ensureDuties(ctx, e)
	c.background(func() { c.epochWork(ctx, e) })
}

// epochWork is the once-per-epoch work: validator statuses, sync committee
// duties and subscriptions, the next epoch's attester duties (with their
// selection proofs and subscriptions), fee recipients and builder
// registrations.
func (c *Client) epochWork(ctx context.Context, e phase0.Epoch) {
	if err := c.refreshValidators(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("refreshing validator statuses failed", "err", err)
	}
	if c.hasSyncCommittees(e) {
		periods := []phase0.Epoch{e}
		if c.period(e+1) != c.period(e) {
			periods = append(periods, e+1)
		}
		for _, pe := range periods {
			if err := c.fetchSync(ctx, pe); err != nil && ctx.Err() == nil {
				c.log.Warn("fetching sync committee duties failed", "epoch", uint64(pe), "err", err)
				continue
			}
			c.subscribeSync(ctx, pe)
		}
	}
	if err := c.fetchAttesters(ctx, e+1); err != nil && ctx.Err() == nil {
		c.log.Warn("fetching attester duties failed", "epoch", uint64(e+1), "err", err)
	}
	c.prepareProposers(ctx, e)
	c.register(ctx, e)
	if e > 0 {
		c.duties.prune(e-1, c.clock.firstSlot(e-1), c.net.Preset().EpochsPerSyncCommitteePeriod)
	}
}

// runSlot performs the duties of slot s: the proposal at once; the
// attestations and sync committee messages at the slot's head event or a
// third into the slot; aggregates and contributions two thirds into it.
// Nothing of the slot runs after the start of slot s+2.
func (c *Client) runSlot(ctx context.Context, s phase0.Slot) {
	ctx, cancel := context.WithDeadline(ctx, c.clock.start(s+2))
	defer cancel()
	e := c.clock.epochOf(s)
	attesters := c.duties.attestersAt(e, s)
	proposer := c.duties.proposerAt(e, s)
	members, ok := c.syncDutiesAt(s)
	if !ok {
		c.log.Debug("sync committee duties not known for this slot", "slot", uint64(s))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if proposer != nil {
		wg.Go(func() { c.propose(ctx, proposer) })
	}
	if len(attesters) == 0 && len(members) == 0 {
		return
	}
	timer := time.NewTimer(c.clock.at(s, 1).Sub(c.clock.now()))
	select {
	case <-c.heads.wait(s):
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		return
	}
	timer.Stop()
	start := time.Now()
	var data map[phase0.CommitteeIndex]*phase0.AttestationData
	var root phase0.Root
	var haveRoot bool
	var moment sync.WaitGroup
	if len(attesters) > 0 {
		moment.Go(func() { data = c.attest(ctx, s, attesters, start) })
	}
	if len(members) > 0 {
		moment.Go(func() { root, haveRoot = c.syncMessages(ctx, s, members, start) })
	}
	// The sync selection proofs, most of a slot's signatures when the
	// validators sit in the sync committee, are only needed two thirds into
	// the slot: they wait for the attestations and messages to be out.
	var syncAggs []syncAggregator
	selections := make(chan struct{})
	wg.Go(func() {
		defer close(selections)
		moment.Wait()
		if len(members) > 0 {
			syncAggs = c.syncSelections(ctx, s, members)
		}
	})
	if err := c.clock.sleepUntil(ctx, c.clock.at(s, 2)); err != nil {
		moment.Wait()
		return
	}
	moment.Wait()
	if len(attesters) > 0 {
		wg.Go(func() { c.aggregate(ctx, s, attesters, data) })
	}
	if haveRoot {
		// Only the contributions need the sync selection proofs; the
		// aggregates above do not wait for them.
		wg.Go(func() {
			<-selections
			c.contribute(ctx, s, syncAggs, root)
		})
	}
}
