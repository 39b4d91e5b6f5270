package appliance

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What a client can hold on a listener (DESIGN.md: every network read has
// a deadline, everything that grows has a bound and a metric).
//
//   - Connections: each listener accepts at most listen.limits.max_connections
//     of its own; one more is accepted and closed at once (on a plain
//     listener after a 503 answer), so that neither the process's file
//     descriptors nor its memory grow with what a peer opens.
//   - Time: the TLS handshake and the request headers must arrive within
//     read_header_timeout, the whole body within read_body_timeout after
//     the headers, and the answer must be written by a deadline derived
//     from the cluster's own timing (see signingWriteTimeout); an idle
//     keep-alive connection is closed after idle_timeout.
//   - Identity first: every handler of every listener is wrapped by admit,
//     which names the client from its verified certificate (or the fixed
//     loopback name) and answers 403, closing the connection, to a client
//     with no role at all on that listener, before a byte of its body is
//     read. Each route then checks its own authorisation, also before the
//     body.
//   - Requests: each client name may have max_in_flight_per_client
//     requests in flight per listener; more are answered 429 with
//     Retry-After.

// LimitsConfig is listen.limits: the bounds every listener applies to its
// clients. The defaults (DefaultLimits) fit a validator client that sends a
// whole slot's duties at once; appliance/signer.example.yaml explains how
// they are sized.
type LimitsConfig struct {
	// MaxConnections caps the open connections of each listener.
	MaxConnections ConnectionLimits `yaml:"max_connections"`
	// MaxInFlightPerClient caps the requests one client name has in flight
	// on one listener; more are answered 429.
	MaxInFlightPerClient int `yaml:"max_in_flight_per_client"`
	// ReadHeaderTimeout bounds the TLS handshake and the reading of a
	// request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadBodyTimeout bounds the reading of a whole request body, from the
	// moment its headers were read.
	ReadBodyTimeout time.Duration `yaml:"read_body_timeout"`
	// WriteTimeout is the time allowed for writing an answer once the
	// signer has it; the write deadline of a signing request adds it to
	// the longest coordination (cluster.timeout, hedge_delay and
	// timeout_per_item per key of a batch).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// AdminTimeout is the write deadline of administrative requests
	// (account staging and removal, key-generation ceremonies, the
	// keymanager API), which may run for minutes.
	AdminTimeout time.Duration `yaml:"admin_timeout"`
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers (HTTP/1.1) or header list
	// (HTTP/2).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// HTTP2MaxConcurrentStreams bounds the requests one HTTP/2 connection
	// carries at once.
	HTTP2MaxConcurrentStreams int `yaml:"http2_max_concurrent_streams"`
}

// ConnectionLimits is a connection cap per listener.
type ConnectionLimits struct {
	Participant                 int `yaml:"participant"`
	Coordinator                 int `yaml:"coordinator"`
	CoordinatorInsecureLoopback int `yaml:"coordinator_insecure_loopback"`
	Operations                  int `yaml:"operations"`
}

// of returns the cap of a listener by name.
func (c ConnectionLimits) of(listener string) int {
	switch listener {
	case ListenerParticipant:
		return c.Participant
	case ListenerCoordinator:
		return c.Coordinator
	case ListenerInsecureLoopback:
		return c.CoordinatorInsecureLoopback
	case ListenerOperations:
		return c.Operations
	}
	return 0
}

// DefaultLimits are listen.limits when the file leaves them out.
//
// Sizing: a standard validator client sends a whole slot's duties at once,
// up to 3,125 single requests (the attestations of 100,000 validators) plus
// up to 512 sync committee messages, over one HTTP/2 connection (streams,
// at most http2_max_concurrent_streams at once, the client queues or opens
// more connections) or over a pool of HTTP/1.1 connections, one per
// request in flight. So the coordinator listeners take 4,096 connections
// and every client 4,096 requests in flight; a peer signer coordinating
// such a burst forwards it as one client to the participant listener,
// where the same in-flight bound applies, but it speaks HTTP/2, so the
// participant listener needs few connections: 1,024 leaves room for many
// rampart-vc instances and administrators. Measured (redteam/slowclient),
// a TLS connection with a pending request costs the signer about 50 KiB
// and one file descriptor (plain HTTP about 18 KiB), so a listener at its
// cap holds about 200 MiB, inside the unit's MemoryMax of 2 GiB, and its
// descriptors stay far below the limit systemd gives a service.
func DefaultLimits() LimitsConfig {
	return LimitsConfig{
		MaxConnections: ConnectionLimits{
			Participant:                 1024,
			Coordinator:                 4096,
			CoordinatorInsecureLoopback: 4096,
			Operations:                  64,
		},
		MaxInFlightPerClient:      4096,
		ReadHeaderTimeout:         5 * time.Second,
		ReadBodyTimeout:           5 * time.Second,
		WriteTimeout:              10 * time.Second,
		AdminTimeout:              15 * time.Minute,
		IdleTimeout:               2 * time.Minute,
		MaxHeaderBytes:            16 << 10,
		HTTP2MaxConcurrentStreams: 256,
	}
}

// validate names the first wrong field of listen.limits.
func (l *LimitsConfig) validate() error {
	for path, v := range map[string]int{
		"listen.limits.max_connections.participant":                   l.MaxConnections.Participant,
		"listen.limits.max_connections.coordinator":                   l.MaxConnections.Coordinator,
		"listen.limits.max_connections.coordinator_insecure_loopback": l.MaxConnections.CoordinatorInsecureLoopback,
		"listen.limits.max_connections.operations":                    l.MaxConnections.Operations,
		"listen.limits.max_in_flight_per_client":                      l.MaxInFlightPerClient,
	} {
		if v < 1 || v > 1<<20 {
			return fieldErr(path, "%d: want 1 to %d", v, 1<<20)
		}
	}
	for path, d := range map[string]time.Duration{
		"listen.limits.read_header_timeout": l.ReadHeaderTimeout,
		"listen.limits.read_body_timeout":   l.ReadBodyTimeout,
		"listen.limits.write_timeout":       l.WriteTimeout,
		"listen.limits.admin_timeout":       l.AdminTimeout,
		"listen.limits.idle_timeout":        l.IdleTimeout,
	} {
		if d <= 0 || d > 24*time.Hour {
			return fieldErr(path, "%v: want a positive duration of at most 24h", d)
		}
	}
	if l.MaxHeaderBytes < 4<<10 || l.MaxHeaderBytes > 1<<20 {
		return fieldErr("listen.limits.max_header_bytes", "%d: want 4096 to 1048576", l.MaxHeaderBytes)
	}
	if l.HTTP2MaxConcurrentStreams < 1 || l.HTTP2MaxConcurrentStreams > 1<<16 {
		return fieldErr("listen.limits.http2_max_concurrent_streams", "%d: want 1 to 65536", l.HTTP2MaxConcurrentStreams)
	}
	return nil
}

// HTTP/2 settings that are not configurable: the smallest frame size the
// protocol allows (a peer cannot make the signer buffer large frames), the
// default flow-control windows, and pings that find a dead peer.
const (
	http2MaxReadFrameSize    = 16 << 10
	http2ReceiveBufferConn   = 1 << 20
	http2ReceiveBufferStream = 1 << 20
	http2SendPingTimeout     = 30 * time.Second
	http2PingTimeout         = 15 * time.Second
	http2WriteByteTimeout    = 10 * time.Second
)

// maxDistinctClients bounds the in-flight table beyond the names the
// configuration gives (which are the only keys admit uses).
const maxDistinctClients = 64

// signingWriteTimeout is the write deadline of a signing request from the
// moment its headers were read: its body, the longest coordination of a
// single request (an on-demand discovery, then the participants, each
// bounded by cluster.timeout, after hedge_delay at most), and writing the
// answer. A batch adds timeout_per_item per key once its body is read.
func (c *Config) signingWriteTimeout() time.Duration {
	l := c.Listen.Limits
	return l.ReadBodyTimeout + 2*c.Cluster.Timeout + c.Cluster.HedgeDelay + l.WriteTimeout
}

// newServer returns the http.Server of a listener with every limit set.
func (a *Appliance) newServer(h http.Handler, tlsConfig *tls.Config) *http.Server {
	l := a.cfg.Listen.Limits
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		// The whole request; admit sets the body's own deadline once
		// the headers are read. The TLS handshake is bounded by the
		// smallest of these.
		ReadTimeout:    l.ReadHeaderTimeout + l.ReadBodyTimeout,
		WriteTimeout:   a.cfg.signingWriteTimeout(),
		IdleTimeout:    l.IdleTimeout,
		MaxHeaderBytes: l.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          l.HTTP2MaxConcurrentStreams,
			MaxReadFrameSize:              http2MaxReadFrameSize,
			MaxReceiveBufferPerConnection: http2ReceiveBufferConn,
			MaxReceiveBufferPerStream:     http2ReceiveBufferStream,
			SendPingTimeout:               http2SendPingTimeout,
			PingTimeout:                   http2PingTimeout,
			WriteByteTimeout:              http2WriteByteTimeout,
		},
	}
	srv.TLSConfig = tlsConfig
	return srv
}

// listenerMetrics are the per-listener gauges and counters.
type listenerMetrics struct {
	open      *prometheus.GaugeVec
	limit     *prometheus.GaugeVec
	rejected  *prometheus.CounterVec
	inFlight  *prometheus.GaugeVec
	refusedRq *prometheus.CounterVec
}

func newListenerMetrics(reg prometheus.Registerer) (*listenerMetrics, error) {
	m := &listenerMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_signer_listener_connections",
			Help: "Open connections, by listener.",
		}, []string{"listener"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_signer_listener_connections_max",
			Help: "The connection cap of each listener (listen.limits.max_connections).",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_signer_listener_connections_rejected_total",
			Help: "Connections closed on arrival because the listener was at its cap, by listener.",
		}, []string{"listener"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_signer_listener_requests_in_flight",
			Help: "Requests being served, by listener.",
		}, []string{"listener"}),
		refusedRq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_signer_listener_requests_refused_total",
			Help: "Requests refused by the listener limits, by listener and reason (no_role: 403 before the body; client_busy: 429, too many in flight). A body slower than listen.limits.read_body_timeout counts in rampart_signer_refusals_total{reason=\"body_timeout\"}.",
		}, []string{"listener", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.open, m.limit, m.rejected, m.inFlight, m.refusedRq} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// limitListener caps a listener's open connections. Over the cap, a new
// connection is accepted and closed at once (after a 503 answer on a
// plain HTTP listener) rather than left in the kernel's queue, so the
// client learns at once and Accept keeps draining the queue.
type limitListener struct {
	net.Listener
	name     string
	max      int64
	plain    bool
	open     atomic.Int64
	gauge    prometheus.Gauge
	rejected prometheus.Counter
	warn     *rateLimitedLog
}

func (a *Appliance) limitListener(ln net.Listener, name string, plain bool) net.Listener {
	max := a.cfg.Listen.Limits.MaxConnections.of(name)
	a.lmetrics.limit.WithLabelValues(name).Set(float64(max))
	return &limitListener{
		Listener: ln, name: name, max: int64(max), plain: plain,
		gauge:    a.lmetrics.open.WithLabelValues(name),
		rejected: a.lmetrics.rejected.WithLabelValues(name),
		warn:     newRateLimitedLog(a.log, 10*time.Second),
	}
}

// refusal is written to a plain HTTP connection over the cap.
const overCapResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.rejected.Inc()
			l.warn.log("connection refused: listener at its connection cap (listen.limits.max_connections)", "listener", l.name, "max", l.max, "remote", c.RemoteAddr().String())
			if l.plain {
				body := fmt.Sprintf(`{"code":503,"message":"the %s listener has %d connections open, its cap (listen.limits.max_connections.%s); retry later"}`, l.name, l.max, l.name)
				_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				_, _ = fmt.Fprintf(c, overCapResponse, len(body), body)
			}
			_ = c.Close()
			continue
		}
		l.gauge.Inc()
		return &limitConn{Conn: c, l: l}, nil
	}
}

// limitConn gives its place back once, when closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.gauge.Dec()
	})
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before closing
// a connection it answered without reading the whole request.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rateLimitedLog logs at most one warning per interval, with the number of
// events it stood for: a flood of refusals must not become a flood of logs.
type rateLimitedLog struct {
	logger   *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     time.Time
	dropped  int
}

func newRateLimitedLog(log *slog.Logger, interval time.Duration) *rateLimitedLog {
	return &rateLimitedLog{logger: log, interval: interval}
}

func (r *rateLimitedLog) log(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.dropped++
		r.mu.Unlock()
		return
	}
	dropped := r.dropped
	r.last, r.dropped = now, 0
	r.mu.Unlock()
	if dropped > 0 {
		args = append(args, "similar_since_last", dropped)
	}
	r.logger.Warn(msg, args...)
}

// inFlight counts the requests each client name has in flight on one
// listener. Its keys are names from the configuration only (admit maps
// every admitted request to one), and it forgets a name with nothing in
// flight, so it stays as small as the configuration; maxNames bounds it
// regardless.
type inFlight struct {
	mu       sync.Mutex
	max      int
	maxNames int
	n        map[string]int
}

func newInFlight(max, maxNames int) *inFlight {
	return &inFlight{max: max, maxNames: maxNames, n: map[string]int{}}
}

// errTooManyNames: the table is full of other names (never expected, since
// names come from the configuration).
var errTooManyNames = errors.New("too many distinct clients in flight")

// acquire takes a place for client; false when it has max in flight.
func (f *inFlight) acquire(client string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.n[client]
	if !ok && len(f.n) >= f.maxNames {
		return false, errTooManyNames
	}
	if n >= f.max {
		return false, nil
	}
	f.n[client] = n + 1
	return true, nil
}

func (f *inFlight) release(client string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[client] <= 1 {
		delete(f.n, client)
		return
	}
	f.n[client]--
}

// gate is what admit needs to know about one listener.
type gate struct {
	listener string
	// identify names the client and says whether it has any role on this
	// listener. The name must come from the configuration when it does.
	identify func(*http.Request) (client string, ok bool)
	inFlight *inFlight
	noRole   *rateLimitedLog
}

func (a *Appliance) newGate(listener string, identify func(*http.Request) (string, bool)) *gate {
	names := len(a.cfg.Authorization) + len(a.cfg.Admin.Clients) + len(a.cfg.Cluster.Participants) + 2
	return &gate{
		listener: listener,
		identify: identify,
		inFlight: newInFlight(a.cfg.Listen.Limits.MaxInFlightPerClient, names+maxDistinctClients),
		noRole:   newRateLimitedLog(a.log, 10*time.Second),
	}
}

// isAdminPath reports whether a route is administrative, with the longer
// write deadline.
func isAdminPath(p string) bool {
	return strings.HasPrefix(p, "/rampart/") || strings.HasPrefix(p, "/eth/v1/keystores")
}

// extendForBatch moves a batch request's write deadline out by
// cluster.timeout_per_item for each key it may name, once its body is
// read: each key is at least 98 bytes of the body ("0x", 96 hex digits),
// so len(body)/98 bounds their number.
func (a *Appliance) extendForBatch(w http.ResponseWriter, body []byte) {
	keys := len(body) / 98
	d := a.cfg.Cluster.TimeoutPerItem * time.Duration(keys)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.cfg.signingWriteTimeout() + d))
}
