package beacon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ehttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/rs/zerolog"

	"github.com/rampart-signer/rampart/internal/network"
)

// Client talks to several beacon nodes as one: reads go to the best node
// and fail over to the next on an error that is the node's fault, writes go
// to every node, attestation data is cross-checked between nodes, and every
// answer is validated against the configured network before it is
// returned. It is safe for concurrent use.
//
// New checks the configuration and starts nothing; Run connects to the
// nodes, tracks their health and reads their event streams until its
// context ends. Calls made before Run has verified a node fail with
// [ErrNoNode]; wait on [Client.Ready] first.
type Client struct {
	cfg     Config
	net     *network.Network
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	nodes   []*node
	hub     *hub

	running   atomic.Bool
	ready     chan struct{}
	readyOnce sync.Once
}

// State is what the client knows of a node.
type State int

// Node states, best first. Reads try healthy nodes first, then degraded,
// then syncing ones; unknown, unreachable and wrong-network nodes are not
// used.
const (
	// StateUnknown: not checked yet (before Run's first round).
	StateUnknown State = iota
	// StateHealthy: reachable, on the configured network, synced, with a
	// working execution client.
	StateHealthy
	// StateDegraded: healthy at the last check, but a request failed
	// (timeout, 5xx, invalid answer) within the last minute.
	StateDegraded
	// StateSyncing: reachable and on the network, but syncing beyond
	// MaxSyncDistance, optimistic, or without its execution client.
	StateSyncing
	// StateUnreachable: the last check got no answer.
	StateUnreachable
	// StateWrongNetwork: the node serves another chain (genesis, fork
	// schedule, slots per epoch or slot duration differ). Never used until
	// a later check finds it on the right network.
	StateWrongNetwork
)

var allStates = []State{StateUnknown, StateHealthy, StateDegraded, StateSyncing, StateUnreachable, StateWrongNetwork}

func (s State) String() string {
	switch s {
	case StateHealthy:
		return "healthy"
	case StateDegraded:
		return "degraded"
	case StateSyncing:
		return "syncing"
	case StateUnreachable:
		return "unreachable"
	case StateWrongNetwork:
		return "wrong_network"
	}
	return "unknown"
}

// usable reports whether reads and writes may go to a node in this state.
func (s State) usable() bool {
	return s == StateHealthy || s == StateDegraded || s == StateSyncing
}

// NodeStatus is a snapshot of one node, for status pages and logs.
type NodeStatus struct {
	// Name is the configured name.
	Name string
	// State is the node's state.
	State State
	// Reason says why the node is not healthy ("" when it is).
	Reason string
	// HeadSlot is the head slot the node last reported.
	HeadSlot phase0.Slot
	// CheckedAt is the time of the last health check (zero before the
	// first).
	CheckedAt time.Time
}

// node is one configured beacon node and what the client knows of it.
type node struct {
	index int
	name  string
	base  *url.URL
	http  *http.Client

	mu        sync.Mutex
	svc       *ehttp.Service // nil until Run connects
	state     State
	reason    string
	headSlot  phase0.Slot
	checkedAt time.Time
	// suspectUntil keeps a node degraded after a failed request.
	suspectUntil time.Time
}

func (n *node) status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NodeStatus{Name: n.name, State: n.state, Reason: n.reason, HeadSlot: n.headSlot, CheckedAt: n.checkedAt}
}

// service returns the node's go-eth2-client service if the node is usable.
func (n *node) service() (*ehttp.Service, State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.svc == nil || !n.state.usable() {
		return nil, n.state
	}
	return n.svc, n.state
}

// New checks cfg and builds a client. It starts nothing and does no I/O.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("beacon: registering metrics: %w", err)
	}
	c := &Client{
		cfg:     cfg,
		net:     cfg.Network,
		log:     cfg.Logger,
		metrics: m,
		now:     cfg.Now,
		ready:   make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.hub = newHub(c.log)
	for i, nc := range cfg.Nodes {
		u, err := url.Parse(nc.URL)
		if err != nil {
			return nil, fmt.Errorf("beacon: Nodes[%d].URL: not a URL", i)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		hc := nc.HTTPClient
		if hc == nil {
			hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		}
		c.nodes = append(c.nodes, &node{index: i, name: nc.Name, base: u, http: hc})
		m.nodeState(nc.Name, StateUnknown)
	}
	return c, nil
}

// Ready is closed once Run has checked every node once.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Nodes returns a snapshot of every node, in configured order.
func (c *Client) Nodes() []NodeStatus {
	out := make([]NodeStatus, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.status()
	}
	return out
}

// Run connects to the nodes, checks their health every HealthInterval and
// reads their event streams, until ctx ends; it then returns nil. It may
// be called once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("beacon: Run called twice")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, n := range c.nodes {
		svc, err := c.connect(ctx, n)
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.svc = svc
		n.mu.Unlock()
	}
	c.checkAll(ctx)
	c.readyOnce.Do(func() { close(c.ready) })
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.streamEvents(ctx, n)
		}()
	}
	tick := time.NewTicker(c.cfg.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.checkAll(ctx)
		}
	}
}

// connect makes the go-eth2-client service of a node. The service's own
// background work (pings, cache refresh) ends with ctx. It is told to
// start even when the node is down (the health checks follow it), never
// to log (zerolog's global logger is not ours), and to decode SSZ for the
// network's preset.
func (c *Client) connect(ctx context.Context, n *node) (*ehttp.Service, error) {
	s, err := ehttp.New(ctx,
		ehttp.WithAddress(n.base.String()),
		ehttp.WithHTTPClient(n.http),
		ehttp.WithTimeout(c.cfg.Timeout),
		ehttp.WithAllowDelayedStart(true),
		ehttp.WithLogLevel(zerolog.Disabled),
		ehttp.WithCustomSpecSupport(c.net.Preset().Name != network.MainnetPreset().Name),
	)
	if err != nil {
		return nil, fmt.Errorf("beacon: node %s: %w", n.name, err)
	}
	svc, ok := s.(*ehttp.Service)
	if !ok {
		return nil, fmt.Errorf("beacon: node %s: unexpected service type %T", n.name, s)
	}
	return svc, nil
}

// candidates returns the usable nodes, best first: by state (healthy,
// degraded, syncing), then configured order.
func (c *Client) candidates() []*node {
	type cand struct {
		n     *node
		state State
	}
	var cs []cand
	for _, n := range c.nodes {
		if svc, st := n.service(); svc != nil {
			cs = append(cs, cand{n, st})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].state < cs[j].state })
	out := make([]*node, len(cs))
	for i, x := range cs {
		out[i] = x.n
	}
	return out
}

// noNode explains why no node is usable.
func (c *Client) noNode() error {
	var parts []string
	for _, s := range c.Nodes() {
		p := s.Name + " " + s.State.String()
		if s.Reason != "" {
			p += " (" + s.Reason + ")"
		}
		parts = append(parts, p)
	}
	return fmt.Errorf("%w: %s", ErrNoNode, strings.Join(parts, ", "))
}

// setState records a node's state and logs changes.
func (c *Client) setState(n *node, s State, reason string) {
	n.mu.Lock()
	old := n.state
	n.state, n.reason = s, reason
	n.mu.Unlock()
	c.metrics.nodeState(n.name, s)
	if old == s {
		return
	}
	switch {
	case s == StateWrongNetwork:
		c.log.Error("beacon node is on another network; not using it", "node", n.name, "reason", reason)
	case s == StateHealthy:
		c.log.Info("beacon node healthy", "node", n.name, "was", old.String())
	case old == StateUnknown && s != StateHealthy, old == StateHealthy:
		c.log.Warn("beacon node not healthy", "node", n.name, "state", s.String(), "reason", reason)
	}
}

// setHead records the head slot a node reported.
func (c *Client) setHead(n *node, slot phase0.Slot) {
	n.mu.Lock()
	if slot > n.headSlot {
		n.headSlot = slot
	}
	n.mu.Unlock()
	c.metrics.head(n.name, uint64(slot))
}

// suspectFor is how long a node whose request failed stays degraded
// (asked after the healthy nodes) even if its health checks pass: a node
// that answers health checks but fails or lies on real requests must not
// flip back to first choice at every round.
const suspectFor = time.Minute

// degrade marks a healthy node degraded after a failed request, for at
// least suspectFor.
func (c *Client) degrade(n *node, why string) {
	n.mu.Lock()
	n.suspectUntil = c.now().Add(suspectFor)
	healthy := n.state == StateHealthy
	n.mu.Unlock()
	if healthy {
		c.setState(n, StateDegraded, why)
	}
}

// suspect reports whether a node failed a request recently.
func (c *Client) suspect(n *node) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return c.now().Before(n.suspectUntil)
}

// currentSlot is the wall-clock slot of the network (0 before genesis or
// when the genesis time is unknown).
func (c *Client) currentSlot() phase0.Slot {
	g := c.net.GenesisTime()
	now := c.now()
	if g.IsZero() || now.Before(g) {
		return 0
	}
	return phase0.Slot(now.Sub(g) / c.net.SlotDuration())
}
