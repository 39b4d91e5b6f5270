package appliance

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/appliance/ceremony"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// Listener names, for Options.Listeners and Addr.
const (
	ListenerParticipant      = "participant"
	ListenerCoordinator      = "coordinator"
	ListenerInsecureLoopback = "coordinator_insecure_loopback"
	ListenerOperations       = "operations"
)

// Options are the outside world the signer uses; tests replace parts.
type Options struct {
	// Logger receives the signer's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registry receives every metric; a fresh registry with Go and process
	// collectors when nil.
	Registry *prometheus.Registry
	// Notify sends systemd notifications ("READY=1", "STATUS=...",
	// "WATCHDOG=1", "STOPPING=1"); nil sends nothing.
	Notify func(state string)
	// WatchdogInterval is how often to send WATCHDOG=1; zero disables.
	WatchdogInterval time.Duration
	// Listeners replaces the configured listen addresses with already
	// bound listeners (tests bind port 0 first).
	Listeners map[string]net.Listener
	// Rand is the randomness for HSM IVs; crypto/rand when nil.
	Rand io.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// After waits on the clock, like time.After (its default): the
	// destruction of removed shares is timed with it, so tests drive it
	// with Now.
	After func(time.Duration) <-chan time.Time
	// CredentialsDir overrides $CREDENTIALS_DIRECTORY for credential:
	// sources (pin-source, admin.token).
	CredentialsDir string
	// StatFS measures the filesystem holding a path (disk headroom); the
	// statfs system call when nil.
	StatFS func(path string) (DiskSpace, error)
	// ConfigFile is the configuration file the signer was started with;
	// its text goes into backups (adminapi.PathBackup). Empty: backups
	// hold no configuration.
	ConfigFile string
}

// Appliance is one rampart-signer. New checks the configuration; Run opens
// the HSM, unseals, opens the slashing database, serves, and on the end of
// its context stops gracefully and zeroes every share.
type Appliance struct {
	cfg  *Config
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry
	now  func() time.Time

	ready     chan struct{}
	readyOnce sync.Once
	health    *healthState
	// quorum is the last check of the other signers (quorum.go).
	quorum quorumState

	mu    sync.Mutex
	addrs map[string]net.Addr

	// Set during Run.
	net *network.Network
	// hsmCur is the HSM session (tokens, sealing key, TLS identity);
	// watchHSM replaces it when it has to open the module again, under
	// hsmMu. hsmDown says why it is down, nil while it is up.
	hsmCur   atomic.Pointer[hsmSession]
	hsmDown  atomic.Pointer[error]
	hsmMu    sync.Mutex
	accounts *accounts
	db       *protect.DB
	audit    *audit.Log
	coord    *coordinator.Coordinator
	part     *participant
	// authz makes every authorisation decision (authz.go).
	authz    *authz
	metrics  *metrics
	lmetrics *listenerMetrics
	// trust is the cluster CA pool (tls.ca).
	trust   atomic.Pointer[x509.CertPool]
	caCerts atomic.Pointer[[]*x509.Certificate]
	sealKey liveSealKey
	// peers holds one mutual-TLS client per other signer, made once the
	// TLS identity is loaded: the coordinator, the ceremonies and the
	// administrative fan-out share its connections.
	peers map[tss.ID]*peer.Client

	// pending holds removed shares awaiting destruction.
	pending *pendingStore

	// life serialises account staging, activation and removal.
	life   sync.Mutex
	staged map[api.PublicKey]*stagedShare
	// refreshing holds, by account, the sealed new share a resharing
	// ceremony staged for an account this signer holds (refresh.go).
	refreshing map[api.PublicKey][]byte

	ceremonies *ceremony.Service

	// backupMu lets one backup be taken at a time.
	backupMu sync.Mutex
}

// New returns a signer for cfg. It opens nothing and starts nothing.
func New(cfg *Config, opts Options) (*Appliance, error) {
	if cfg == nil {
		return nil, errors.New("appliance: no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if opts.Notify == nil {
		opts.Notify = func(string) {}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.StatFS == nil {
		opts.StatFS = statFS
	}
	a := &Appliance{
		cfg:    cfg,
		opts:   opts,
		log:    opts.Logger,
		reg:    opts.Registry,
		now:    opts.Now,
		ready:  make(chan struct{}),
		health: newHealthState(),
		addrs:  map[string]net.Addr{},
		staged: map[api.PublicKey]*stagedShare{},

		refreshing: map[api.PublicKey][]byte{},
	}
	a.pending = newPendingStore(cfg.Accounts.SharesDir)
	m, err := newMetrics(a.reg)
	if err != nil {
		return nil, fmt.Errorf("appliance: metrics: %w", err)
	}
	a.metrics = m
	if err := a.registerStateMetrics(); err != nil {
		return nil, fmt.Errorf("appliance: metrics: %w", err)
	}
	if a.lmetrics, err = newListenerMetrics(a.reg); err != nil {
		return nil, fmt.Errorf("appliance: metrics: %w", err)
	}
	next := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rampart_accounts_next_destruction_seconds",
		Help: "Seconds until the next removed share is destroyed (0 when none awaits destruction).",
	}, func() float64 {
		if t, ok := a.pending.next(); ok {
			return max(t.Sub(a.now()).Seconds(), 0)
		}
		return 0
	})
	if err := a.reg.Register(next); err != nil {
		return nil, fmt.Errorf("appliance: metrics: %w", err)
	}
	// Being an administrator grants no signing type: the policy is the
	// authorisation rules alone.
	a.authz = newAuthz(cfg)
	return a, nil
}

// Ready is closed once the signer serves every listener with every share
// unsealed and the slashing database open.
func (a *Appliance) Ready() <-chan struct{} { return a.ready }

// Addr returns the bound address of a listener, once Run has bound it.
func (a *Appliance) Addr(name string) net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrs[name]
}

func (a *Appliance) status(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.log.Info(msg)
	a.opts.Notify("STATUS=" + msg)
}

// Run starts the signer and serves until ctx ends, then stops gracefully:
// in-flight requests finish, the slashing database and audit log close, and
// every share is zeroed. It returns the first error that stopped it; a
// failure to start is a *StartError, which says whether a restart can fix
// it.
func (a *Appliance) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := a.closeResources(); err == nil {
			err = cerr
		}
		// The last line, in the configured log format (JSON too): the
		// error that stopped the signer, a start-up failure included.
		if err != nil {
			a.log.Error("stopped", "err", err)
		} else {
			a.log.Info("stopped")
		}
	}()

	// The operations listener comes first so health checks answer 503
	// while the signer starts.
	ops, err := a.listen(ListenerOperations, a.cfg.Listen.Operations)
	if err != nil {
		return startError(err)
	}
	srvs := &servers{log: a.log}
	plainOps := ops != nil && isLoopback(ops.Addr())
	opsHandler := a.admit(a.newGate(ListenerOperations, operationsRole), a.operationsHandler())
	if plainOps {
		srvs.start(a.limitListener(ops, ListenerOperations, true), a.newServer(opsHandler, nil))
	}
	defer srvs.shutdown()

	if err := a.start(ctx); err != nil {
		err = startError(err)
		a.opts.Notify("STATUS=start failed: " + err.Error())
		return err
	}
	if ops != nil && !plainOps {
		// Off loopback, metrics and health need a client certificate
		// like every other listener; they start once the TLS identity
		// is loaded.
		srv := a.newServer(opsHandler, a.serverTLS())
		srvs.start(tls.NewListener(a.limitListener(ops, ListenerOperations, false), srv.TLSConfig), srv)
	}
	if err := a.serve(srvs); err != nil {
		return startError(err)
	}

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(8)
	go func() { defer wg.Done(); a.watchHSM(bg) }()
	go func() { defer wg.Done(); a.watchCluster(bg) }()
	go func() { defer wg.Done(); a.runAudit(bg) }()
	go func() { defer wg.Done(); a.runStorage(bg) }()
	go func() { defer wg.Done(); a.runDB(bg) }()
	go func() { defer wg.Done(); _ = a.coord.Run(bg) }()
	go func() { defer wg.Done(); a.ceremonies.Run(bg) }()
	go func() { defer wg.Done(); a.runDestroyer(bg) }()
	if a.opts.WatchdogInterval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); a.watchdog(bg) }()
	}
	defer func() { stopBG(); wg.Wait() }()

	a.health.set("ready", nil)
	a.readyOnce.Do(func() { close(a.ready) })
	a.status("serving %d accounts as participant %d", a.accounts.len(), a.cfg.Node.ID)
	a.opts.Notify("READY=1")

	select {
	case <-ctx.Done():
	case err := <-srvs.failed:
		a.log.Error("listener failed; stopping", "err", err)
		a.opts.Notify("STOPPING=1")
		srvs.shutdown()
		return err
	}
	a.opts.Notify("STOPPING=1")
	a.status("stopping: finishing in-flight requests")
	srvs.shutdown()
	return nil
}

// start runs the start-up sequence of DESIGN.md section 3: hardening, HSM,
// unsealing, slashing database, audit log, coordinator.
func (a *Appliance) start(ctx context.Context) error {
	cfg := a.cfg
	if err := a.harden(); err != nil {
		return err
	}
	n, err := cfg.LoadNetwork(ctx)
	if err != nil {
		return misconfigured(err)
	}
	if err := checkGenesisKnown(cfg, n); err != nil {
		return err
	}
	a.net = n
	a.log.Info("refusing blocks, attestations and aggregates beyond the current epoch plus slashing.future_epochs",
		"future_epochs", cfg.Slashing.FutureEpochs, "epochs_counted_from", describeGenesis(n))

	a.status("opening HSM token for the sealing key")
	hs, err := a.openHSM(ctx)
	if err != nil {
		a.health.set("hsm", err)
		return err
	}
	a.hsmCur.Store(hs)
	if err := a.loadTLS(); err != nil {
		a.health.set("hsm", err)
		return err
	}
	a.health.set("hsm", nil)
	a.metrics.hsmUp.Set(1)
	a.sealKey = liveSealKey{a}
	sealKey := hs.sealKey
	if cfg.Admin.Token != "" {
		v, err := adminapi.LoadVerifier(cfg.Admin.Token, a.credentialsDir())
		if err != nil {
			return misconfigured(err)
		}
		a.authz.token = &v
	}
	if stale, err := removeStaleStaged(cfg.Accounts.SharesDir); err != nil {
		a.health.set("shares", err)
		return fmt.Errorf("accounts.shares_dir: %w", err)
	} else if len(stale) > 0 {
		a.log.Warn("deleted staged shares of imports or ceremonies that never completed", "files", stale)
	}
	a.status("unsealing the shares")
	start := a.now()
	accs, err := loadAccounts(ctx, sealKey, cfg.Accounts.SharesDir, hsm.Placement{ClusterID: cfg.ClusterID(), Participant: cfg.Node.ID}, cfg.participantIDs(), cfg.version1Members())
	if err != nil {
		a.health.set("shares", err)
		return err
	}
	a.accounts = accs
	a.metrics.accounts.Set(float64(accs.len()))
	a.log.Info("shares unsealed", "count", accs.len(), "took", a.now().Sub(start).String())
	bad, err := a.pending.load()
	if err != nil {
		a.health.set("shares", err)
		return fmt.Errorf("accounts.shares_dir: %w", err)
	}
	if len(bad) > 0 {
		a.log.Error("pending-destruction records that cannot be read are left alone; look at them", "records", bad)
	}

	a.status("opening slashing protection database")
	if err := a.openDB(ctx, n, accs.len() == 0); err != nil {
		a.health.set("slashing_db", err)
		return err
	}
	a.health.set("slashing_db", nil)
	if err := a.reconcileRemovals(ctx); err != nil {
		a.health.set("shares", err)
		return err
	}
	a.health.set("shares", nil)

	if err := a.openAudit(ctx); err != nil {
		return err
	}
	lg := a.audit

	var members []api.Participant
	for _, p := range cfg.Cluster.Participants {
		members = append(members, api.Participant{ID: api.Uint64(p.ID), Endpoint: p.Endpoint})
	}
	a.part = &participant{
		id: tss.ID(cfg.Node.ID), net: n, gvr: protect.Root(n.GenesisValidatorsRoot()), accounts: accs, db: a.db,
		z: a.authz, audit: lg, members: members, metrics: a.metrics, log: a.log, now: a.now,
		futureEpochs: cfg.Slashing.FutureEpochs,
		dbFailed:     func(err error) { a.health.set("slashing_db", err) },
		votes:        newSignedVotes(maxSignedVotes),
	}
	if err := a.startCoordinator(ctx); err != nil {
		return err
	}
	// The ceremonies are loaded before anything serves, so that a ceremony
	// on disk is never mistaken for a new one.
	a.ceremonies = a.newCeremonies()
	if err := a.ceremonies.Load(); err != nil {
		return fmt.Errorf("key generation ceremonies: %w", err)
	}
	a.authz.ceremonies = a.ceremonies
	return nil
}

// credentialsDir is where credential: sources are read.
func (a *Appliance) credentialsDir() string {
	if a.opts.CredentialsDir != "" {
		return a.opts.CredentialsDir
	}
	return os.Getenv("CREDENTIALS_DIRECTORY")
}

func (a *Appliance) harden() error {
	if a.cfg.Process.Hardening == "off" {
		a.log.Warn("process hardening is off (process.hardening: off): shares may reach swap or core dumps")
		return nil
	}
	for _, r := range hsm.Harden() {
		if r.Err == nil {
			continue
		}
		if a.cfg.Process.Hardening == "required" {
			return fmt.Errorf("process hardening (process.hardening: required): %w", r.Err)
		}
		a.log.Warn("process hardening step not in effect", "step", r.Step, "err", r.Err)
	}
	return nil
}

// loadTLS loads the cluster CA, checks the node's certificate (its key
// in the HSM) against it and this node's name, and makes the peer clients.
func (a *Appliance) loadTLS() error {
	cfg := a.cfg
	caPEM, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		return fmt.Errorf("tls.ca: %w", err)
	}
	cas, err := hsm.ParseCertificatesPEM(caPEM)
	if err != nil || len(cas) == 0 {
		return misconfigured(fmt.Errorf("tls.ca: no CA certificate: %v", err))
	}
	pool := newPool(cas)
	s, err := a.session()
	if err != nil {
		return err
	}
	if err := a.verifyIdentity(s.cert, pool); err != nil {
		return err
	}
	a.trust.Store(pool)
	a.caCerts.Store(&cas)
	client := a.clientTLS()
	a.peers = map[tss.ID]*peer.Client{}
	for _, p := range cfg.Cluster.Participants {
		c, err := peer.New(tss.ID(p.ID), p.Endpoint, p.TLSName, client)
		if err != nil {
			return misconfigured(fmt.Errorf("cluster.participants: %w", err))
		}
		a.peers[tss.ID(p.ID)] = c
	}
	return nil
}

// newPool is a pool of the CA certificates.
func newPool(cas []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool
}

// verifyIdentity checks that cert is issued by the CAs of pool for both
// server and client use, and names this node's tls_name.
func (a *Appliance) verifyIdentity(cert tls.Certificate, pool *x509.CertPool) error {
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, CurrentTime: a.now()}); err != nil {
		return misconfigured(fmt.Errorf("tls.certificate is not issued by tls.ca: %w", err))
	}
	self := a.cfg.Self()
	if err := cert.Leaf.VerifyHostname(self.TLSName); err != nil {
		return misconfigured(fmt.Errorf("tls.certificate does not name this node's tls_name %q (cluster.participants): %w", self.TLSName, err))
	}
	return nil
}

// openDB opens the slashing protection database. A missing database is
// created only on a brand-new signer (no shares yet); with shares present
// it is an error, because signing without their history could be
// slashable.
func (a *Appliance) openDB(ctx context.Context, n *network.Network, fresh bool) error {
	cfg := a.cfg
	pcfg := protect.DefaultConfig()
	pcfg.HistoryEpochs = cfg.Slashing.HistoryEpochs
	pcfg.SlotsPerEpoch = n.Preset().SlotsPerEpoch
	pcfg.Limit = a.futureLimit
	db, err := protect.Open(ctx, cfg.Slashing.Database, pcfg)
	if errors.Is(err, fs.ErrNotExist) && fresh {
		a.log.Info("creating the slashing protection database for a new signer", "path", cfg.Slashing.Database)
		db, err = protect.Create(ctx, cfg.Slashing.Database, protect.Root(n.GenesisValidatorsRoot()), pcfg)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return misconfigured(fmt.Errorf("slashing.database %s does not exist but shares do: import their history first (rampartctl slashing import --create)", cfg.Slashing.Database))
	}
	if err != nil {
		return fmt.Errorf("slashing.database: %w", err)
	}
	a.db = db
	if db.GenesisValidatorsRoot() != protect.Root(n.GenesisValidatorsRoot()) {
		return misconfigured(fmt.Errorf("slashing.database belongs to another network (genesis validators root %x)", db.GenesisValidatorsRoot()))
	}
	registered := map[protect.PublicKey]bool{}
	for _, k := range db.Keys() {
		registered[k] = true
	}
	var missing []string
	for _, k := range a.accounts.keys() {
		if !registered[protect.PublicKey(k)] {
			missing = append(missing, k.String())
		}
	}
	if len(missing) > 0 {
		return misconfigured(fmt.Errorf("slashing.database has no history for %d accounts with shares (first: %s): import it (rampartctl slashing import) before this signer may sign for them", len(missing), missing[0]))
	}
	return nil
}

func (a *Appliance) startCoordinator(ctx context.Context) error {
	cfg := a.cfg
	ccfg := coordinator.DefaultConfig()
	ccfg.Timeout = cfg.Cluster.Timeout
	ccfg.PerItemTimeout = cfg.Cluster.TimeoutPerItem
	ccfg.HedgeDelay = cfg.Cluster.HedgeDelay
	ccfg.Logger = a.log.With("component", "coordinator")
	cm, err := coordinator.NewMetrics(a.reg)
	if err != nil {
		return err
	}
	ccfg.Metrics = cm
	for _, p := range cfg.Cluster.Participants {
		if p.ID == cfg.Node.ID {
			ccfg.Participants = append(ccfg.Participants, local{a.part})
			continue
		}
		ccfg.Participants = append(ccfg.Participants, coordinator.Over(a.peers[tss.ID(p.ID)]))
	}
	c, err := coordinator.New(ccfg)
	if err != nil {
		return err
	}
	a.coord = c
	if err := c.Refresh(ctx); err != nil {
		a.log.Warn("first discovery incomplete; retrying in the background", "err", err)
	}
	return nil
}

// clientTLS is the mTLS client side used towards other participants.
func (a *Appliance) clientTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return a.currentCert()
		},
		RootCAs: a.trust.Load(),
	}
}

// serverTLS requires a client certificate from the cluster CA.
func (a *Appliance) serverTLS() *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return a.currentCert()
		},
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  a.trust.Load(),
		NextProtos: []string{"h2", "http/1.1"},
	}
	c.GetConfigForClient = a.serverConfig(c)
	return c
}

// listen binds a configured listener, or takes the one from Options.
func (a *Appliance) listen(name, addr string) (net.Listener, error) {
	ln, ok := a.opts.Listeners[name]
	if !ok {
		if addr == "" {
			return nil, nil
		}
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, listenError{fmt.Errorf("listen.%s: %w", name, err)}
		}
	}
	a.mu.Lock()
	a.addrs[name] = ln.Addr()
	a.mu.Unlock()
	return ln, nil
}

// serve starts the signing listeners. Each caps its connections, bounds
// every read and write (limits.go), and passes every request through admit,
// which decides from the client's identity before any body is read.
func (a *Appliance) serve(srvs *servers) error {
	type spec struct {
		name, addr string
		handler    http.Handler
		role       func(*http.Request) (string, bool)
		tls        bool
	}
	loopback := fixedClient(a.cfg.Listen.InsecureLoopbackClient)
	specs := []spec{
		{ListenerParticipant, a.cfg.Listen.Participant, a.participantHandler(), a.authz.participantRole, true},
		{ListenerCoordinator, a.cfg.Listen.Coordinator, a.coordinatorHandler(tlsClientName), a.authz.coordinatorRole(tlsClientName), true},
		{ListenerInsecureLoopback, a.cfg.Listen.CoordinatorInsecureLoopback, a.coordinatorHandler(loopback), a.authz.coordinatorRole(loopback), false},
	}
	for _, s := range specs {
		ln, err := a.listen(s.name, s.addr)
		if err != nil {
			return err
		}
		if ln == nil {
			continue
		}
		if s.name == ListenerInsecureLoopback {
			if _, ok := s.role(&http.Request{}); !ok {
				a.log.Warn("listen.insecure_loopback_client has no authorization rule: every request on the loopback listener will be refused", "client", a.cfg.Listen.InsecureLoopbackClient)
			}
		}
		var tlsConfig *tls.Config
		if s.tls {
			tlsConfig = a.serverTLS()
		}
		srv := a.newServer(a.admit(a.newGate(s.name, s.role), s.handler), tlsConfig)
		ln = a.limitListener(ln, s.name, !s.tls)
		if s.tls {
			ln = tls.NewListener(ln, tlsConfig)
		}
		srvs.start(ln, srv)
		a.log.Info("listening", "listener", s.name, "addr", ln.Addr().String(), "tls", s.tls)
	}
	return nil
}

func (a *Appliance) runDB(ctx context.Context) {
	if err := a.db.Run(ctx); err != nil && ctx.Err() == nil {
		a.health.set("slashing_db", err)
		a.log.Error("slashing protection checkpointing failed", "err", err)
	}
}

// watchdog pings systemd while the signer is healthy, so that a wedged
// database or audit log gets the process restarted.
func (a *Appliance) watchdog(ctx context.Context) {
	t := time.NewTicker(a.opts.WatchdogInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a.health.alive() {
				a.opts.Notify("WATCHDOG=1")
			}
		}
	}
}

// closeResources releases everything start opened, shares last zeroed.
func (a *Appliance) closeResources() error {
	var errs []error
	if a.audit != nil {
		errs = append(errs, a.audit.Close())
		a.audit = nil
	}
	if a.db != nil {
		errs = append(errs, a.db.Close())
		a.db = nil
	}
	if a.accounts != nil {
		errs = append(errs, a.accounts.Close())
	}
	for _, p := range a.peers {
		p.Close()
	}
	a.hsmMu.Lock()
	if s := a.hsmCur.Swap(nil); s != nil {
		errs = append(errs, s.close())
	}
	a.hsmMu.Unlock()
	return errors.Join(errs...)
}

// isLoopback reports whether addr is a loopback TCP address.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// servers runs http servers and shuts them down together.
type servers struct {
	log    *slog.Logger
	mu     sync.Mutex
	list   []*http.Server
	failed chan error
	once   sync.Once
}

func (s *servers) start(ln net.Listener, srv *http.Server) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = make(chan error, 8)
	}
	s.list = append(s.list, srv)
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.failed <- err
		}
	}()
}

// shutdown lets in-flight requests finish (up to 30 s) and closes.
func (s *servers) shutdown() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.mu.Lock()
		list := s.list
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, srv := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.Shutdown(ctx); err != nil {
					s.log.Warn("listener did not stop cleanly", "err", err)
					srv.Close()
				}
			}()
		}
		wg.Wait()
	})
}
