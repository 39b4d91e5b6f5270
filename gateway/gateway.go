package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// Signer is one signer as the health probe sees it
// (*coordinator.HTTPParticipant).
type Signer interface {
	ID() tss.ID
	Healthcheck(ctx context.Context) error
}

// Options are the gateway's collaborators.
type Options struct {
	// Network is the cluster's network: requests are checked against it.
	Network *network.Network
	// Coordinator obtains the signatures; its participants carry the
	// gateway's TLS identity.
	Coordinator *coordinator.Coordinator
	// Signers are probed for /healthcheck: every participant of the
	// cluster.
	Signers []Signer
	// Logger receives refusals and health changes; nil discards.
	Logger *slog.Logger
	// Registerer receives the gateway's metrics.
	Registerer prometheus.Registerer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Notify sends systemd notifications ("WATCHDOG=1"); nil sends none.
	Notify func(state string)
	// WatchdogInterval is how often Run pings the watchdog; 0 never.
	WatchdogInterval time.Duration
}

// ErrOptions is returned by New for a missing collaborator.
var ErrOptions = errors.New("gateway: incomplete options")

// Gateway serves the Remote Signing API for the local validator client.
// Create with New; serve Handler; call Run for the health probes.
type Gateway struct {
	cfg      Config
	net      *network.Network
	coord    *coordinator.Coordinator
	signers  []Signer
	log      *slog.Logger
	now      func() time.Time
	notify   func(string)
	watchdog time.Duration
	m        *metrics
	// accounts is nil when every account is granted.
	accounts map[api.PublicKey]bool
	types    map[signing.Type]bool
	health   *healthState
}

// New checks the configuration and options and returns a gateway. It
// starts nothing.
func New(cfg *Config, o Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case o.Network == nil:
		return nil, fmt.Errorf("%w: no network", ErrOptions)
	case o.Coordinator == nil:
		return nil, fmt.Errorf("%w: no coordinator", ErrOptions)
	case o.Registerer == nil:
		return nil, fmt.Errorf("%w: no metrics registerer", ErrOptions)
	case len(o.Signers) == 0:
		return nil, fmt.Errorf("%w: no signers to probe", ErrOptions)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: *cfg, net: o.Network, coord: o.Coordinator, signers: o.Signers,
		log: o.Logger, now: o.Now, notify: o.Notify, watchdog: o.WatchdogInterval, m: m,
		types: map[signing.Type]bool{},
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.notify == nil {
		g.notify = func(string) {}
	}
	if !cfg.Accounts.All {
		g.accounts = map[api.PublicKey]bool{}
		for _, a := range cfg.Accounts.List {
			k, _ := api.ParsePublicKey(a) // checked by Validate
			g.accounts[k] = true
		}
	}
	if cfg.Types.All {
		for _, t := range signing.Types() {
			g.types[t] = true
		}
	} else {
		for _, t := range cfg.Types.List {
			g.types[signing.Type(t)] = true
		}
	}
	g.health = newHealthState()
	for _, s := range o.Signers {
		g.m.signerUp.WithLabelValues(s.ID().String()).Set(0)
	}
	return g, nil
}

// granted reports whether the configuration lets the local client use
// account key.
func (g *Gateway) granted(key api.PublicKey) bool {
	return g.accounts == nil || g.accounts[key]
}

// Run probes the signers every health.interval and pings the watchdog
// until ctx ends. The pings come from their own goroutine and stop when
// the last probe is older than a probe may take: a prober that hangs gets
// the process restarted, while a slow signer (a probe waits up to
// cluster.timeout) does not.
func (g *Gateway) Run(ctx context.Context) error {
	if g.watchdog > 0 {
		go g.pingWatchdog(ctx)
	}
	probe := time.NewTicker(g.cfg.Health.Interval)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-probe.C:
			g.Probe(ctx)
		}
	}
}

func (g *Gateway) pingWatchdog(ctx context.Context) {
	t := time.NewTicker(g.watchdog)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.health.mu.Lock()
			at := g.health.at
			g.health.mu.Unlock()
			if at.IsZero() || g.now().Sub(at) <= g.staleAfter() {
				g.notify("WATCHDOG=1")
			} else {
				g.log.Error("health probes stopped; no watchdog ping", "last_probe", at)
			}
		}
	}
}

// RequestTimeout bounds the handling of one request of n items: discovery
// and two rounds of calls, each call allowed the cluster timeout plus the
// coordinator's time per batch item.
func (g *Gateway) requestTimeout(n int) time.Duration {
	perItem := coordinator.DefaultConfig().PerItemTimeout
	return 3*g.cfg.Cluster.Timeout + 2*time.Duration(n)*perItem
}

// Server returns the HTTP server for h (the API) with timeouts that bound
// every read and write: a client that sends its headers or body slowly,
// or leaves a connection idle, is cut off.
func (g *Gateway) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      g.requestTimeout(maxBatch) + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}
