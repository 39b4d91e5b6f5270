//go:build redteam

package redteam_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/tss"
)

// Client names every in-process cluster knows.
const (
	validatorClient = "vc-1"       // every account, every type, at every signer
	intruderClient  = "intruder"   // a certificate from the cluster CA, no rule
	genericClient   = "vc-generic" // every account, GENERIC only
)

// cluster is n signers running in this process on loopback, each with its
// SoftHSM token, TLS identity and bbolt database, dealt validators t-of-n.
type cluster struct {
	name string
	n, t int
	lc   *localcluster.Cluster
	net  *network.Network
	pool *x509.CertPool
	// keys are the validators the attacks use; spare ones are given out
	// to hole tests that may destroy or brick a key on 108c238.
	keys  []api.PublicKey
	spare []api.PublicKey

	composite  map[api.PublicKey]*bls.PublicKey
	components map[api.PublicKey]map[tss.ID]*bls.PublicKey
	ids        map[string]*identity

	// procs are the signer processes of a cluster of processes; running
	// the signers in this process otherwise.
	procs []*procSigner
	// clock and disks are the in-process signers' clock and free space,
	// which the tests move, for a cluster of spec clocked.
	clock *testClock
	disks []*fakeDisk

	mu        sync.Mutex
	running   []*runningSigner
	clients   map[clientKey]*http.Client
	nextEpoch uint64
	nextSlot  uint64
	nextSpare int
}

type runningSigner struct {
	app    *appliance.Appliance
	cancel context.CancelFunc
	done   chan error
}

type clientKey struct {
	signer   int
	identity string
}

// clusterSpec describes a cluster the tests share.
type clusterSpec struct {
	name        string
	n, t        int
	keys, spare int
	// processes runs every signer as a rampart-signer process.
	processes bool
	// clocked gives the in-process signers a clock and free space the
	// tests control (appliance.Options.Now, After and StatFS).
	clocked bool
	// keymanager turns on the keymanager API (for administrators with
	// the administrative token) on the coordinator listeners.
	keymanager bool
}

var (
	spec35 = clusterSpec{name: "3-of-5", n: 5, t: 3, keys: 6, spare: 2}
	spec23 = clusterSpec{name: "2-of-3", n: 3, t: 2, keys: 6, spare: 8, keymanager: true}
	// procs35 is a cluster of processes, to kill -9.
	procs35 = clusterSpec{name: "3-of-5-processes", n: 5, t: 3, keys: 4, processes: true}
	// procs11 is one signer process, started with broken configurations.
	procs11 = clusterSpec{name: "1-of-1-process", n: 1, t: 1, keys: 4, processes: true}
	// clocked23 runs on a clock and a disk the tests move: removed shares
	// destroyed when their grace period is over, a filling disk.
	clocked23 = clusterSpec{name: "2-of-3-clocked", n: 3, t: 2, keys: 2, spare: 2, clocked: true}
)

// sharedCluster returns the running cluster of spec, starting it on first
// use; a cluster that failed to start fails every test that needs it.
func sharedCluster(t *testing.T, spec clusterSpec) *cluster {
	t.Helper()
	the.mu.Lock()
	c, err := the.clusters[spec.name], the.failed[spec.name]
	the.mu.Unlock()
	if c == nil && err == nil {
		start := time.Now()
		c, err = startCluster(t, spec)
		the.mu.Lock()
		if err != nil {
			the.failed[spec.name] = err
		} else {
			the.clusters[spec.name] = c
		}
		the.mu.Unlock()
		if err == nil {
			where := "in this process"
			if spec.processes {
				where = "as rampart-signer processes"
			}
			t.Logf("%s cluster: %d signers %s, %d validators, started in %v", spec.name, spec.n, where, spec.keys+spec.spare, time.Since(start).Round(time.Millisecond))
		}
	}
	if err != nil {
		t.Fatalf("%s cluster: %v", spec.name, err)
	}
	return c
}

func startCluster(t *testing.T, spec clusterSpec) (*cluster, error) {
	ctx := context.Background()
	dir := filepath.Join(the.dir, spec.name)
	// Provisioning points SOFTHSM2_CONF at the new cluster's tokens;
	// running clusters keep their modules initialised and do not read it
	// again. Restore it for the next cluster.
	defer os.Setenv(softhsm.ConfigEnv, os.Getenv(softhsm.ConfigEnv))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	netPath := filepath.Join(dir, "network.yaml")
	if err := os.WriteFile(netPath, []byte(networkConfig), 0o644); err != nil {
		return nil, err
	}
	n, err := parseNetwork()
	if err != nil {
		return nil, err
	}
	lc, err := localcluster.Provision(ctx, localcluster.Spec{
		Dir: filepath.Join(dir, "cluster"), Signers: spec.n, Threshold: spec.t,
		Network:             appliance.NetworkConfig{Config: netPath, GenesisValidatorsRoot: gvrHex},
		Clients:             []string{validatorClient},
		UnauthorisedClients: []string{intruderClient, genericClient},
		Hardening:           "off",
		// Processes need a SoftHSM token directory each.
		SeparateHSMs: spec.processes,
	})
	if err != nil {
		return nil, err
	}
	c := &cluster{
		name: spec.name, n: spec.n, t: spec.t, lc: lc, net: n,
		composite: map[api.PublicKey]*bls.PublicKey{}, components: map[api.PublicKey]map[tss.ID]*bls.PublicKey{},
		clients: map[clientKey]*http.Client{}, nextEpoch: 1000, nextSlot: 100_000,
	}
	if spec.clocked {
		c.clock = newTestClock()
		for range spec.n {
			c.disks = append(c.disks, newFakeDisk())
		}
	}
	the.onClose(c.stop)
	if c.pool, err = loadPool(lc.CAPath); err != nil {
		return nil, err
	}
	if c.ids, err = identities(ctx, lc); err != nil {
		return nil, fmt.Errorf("identities: %w", err)
	}
	for _, s := range lc.Signers {
		// A client granted GENERIC only, as issue 13 item 2 describes.
		s.Config.Authorization = append(s.Config.Authorization, appliance.Rule{
			Client: genericClient, Accounts: appliance.Selector{All: true}, Types: appliance.Selector{List: []string{"GENERIC"}},
		})
		// Time enough for every participant to answer on a loaded
		// 2-core machine, so a refusal is a participant's decision
		// rather than a coordinator giving up.
		s.Config.Cluster.Timeout = 20 * time.Second
		if spec.clocked {
			// Free space measured every second, the least allowed, so a
			// test's filling disk shows in health at once.
			s.Config.Storage.CheckInterval = time.Second
		}
		if spec.keymanager {
			s.Config.Keymanager = &appliance.KeymanagerConfig{}
		}
	}
	keys, err := deal(ctx, lc, spec.keys+spec.spare, spec.t)
	if err != nil {
		return nil, fmt.Errorf("dealing: %w", err)
	}
	c.keys, c.spare = keys[:spec.keys], keys[spec.keys:]
	if spec.processes {
		if err := c.startProcesses(t); err != nil {
			return nil, err
		}
	} else {
		for i := range lc.Signers {
			if err := c.start(i); err != nil {
				return nil, err
			}
		}
		for i := range lc.Signers {
			if err := c.waitReady(i); err != nil {
				return nil, err
			}
		}
	}
	if err := c.discover(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// deal creates validators with the trusted dealer. Each signer's SoftHSM
// module reads its configuration once, when it is first initialised; with a
// token directory per signer, each module is opened here with its own
// SOFTHSM2_CONF and held open while localcluster.Deal opens it again.
func deal(ctx context.Context, lc *localcluster.Cluster, validators, t int) ([]api.PublicKey, error) {
	for _, s := range lc.Signers {
		if err := os.Setenv(softhsm.ConfigEnv, s.SoftHSMConf); err != nil {
			return nil, err
		}
		uri, err := hsm.ParseURI(s.Config.HSM.SealingKey)
		if err != nil {
			return nil, err
		}
		tok, err := hsm.Open(ctx, uri, hsm.DefaultOptions())
		if err != nil {
			return nil, fmt.Errorf("signer %d: %w", s.ID, err)
		}
		defer tok.Close()
	}
	return localcluster.Deal(ctx, lc.Configs(), validators, t, rand.Reader)
}

func loadPool(caPath string) (*x509.CertPool, error) {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no CA certificate in " + caPath)
	}
	return pool, nil
}

func (c *cluster) start(i int) error {
	s := c.lc.Signers[i]
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("REDTEAM_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("cluster", c.name, "signer", s.ID)
	}
	opts := appliance.Options{Logger: log, Listeners: map[string]net.Listener{}}
	for name, l := range s.Listeners {
		opts.Listeners[name] = newLateListener(l)
	}
	if c.clock != nil {
		opts.Now, opts.After, opts.StatFS = c.clock.Now, c.clock.After, c.disks[i].statFS
	}
	app, err := appliance.New(s.Config, opts)
	if err != nil {
		return fmt.Errorf("signer %d: %w", s.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningSigner{app: app, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- app.Run(ctx) }()
	c.mu.Lock()
	c.running = append(c.running, rs)
	c.mu.Unlock()
	return nil
}

func (c *cluster) waitReady(i int) error {
	c.mu.Lock()
	rs := c.running[i]
	c.mu.Unlock()
	select {
	case <-rs.app.Ready():
		return nil
	case err := <-rs.done:
		return fmt.Errorf("signer %d stopped while starting: %v", i+1, err)
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("signer %d not ready after 2 minutes", i+1)
	}
}

func (c *cluster) stop() {
	c.mu.Lock()
	running := c.running
	c.running = nil
	c.mu.Unlock()
	for _, rs := range running {
		rs.cancel()
	}
	for _, rs := range running {
		<-rs.done
	}
}

// discover learns every participant's component key of every account, as
// a coordinator does, to verify the partial signatures the attacks
// collect.
func (c *cluster) discover(ctx context.Context) error {
	for i, s := range c.lc.Signers {
		r := c.do(ctx, i, appliance.ListenerParticipant, validatorClient, http.MethodGet, "/api/v1/eth2/distributed/accounts", nil)
		if r.err != nil || r.code != http.StatusOK {
			return fmt.Errorf("signer %d accounts: %d %v %s", s.ID, r.code, r.err, short(r.body))
		}
		accs, err := api.DecodeAccounts(r.body)
		if err != nil {
			return fmt.Errorf("signer %d accounts: %w", s.ID, err)
		}
		for _, a := range accs {
			if uint64(a.ParticipantID) != s.ID {
				return fmt.Errorf("signer %d lists itself as participant %d", s.ID, a.ParticipantID)
			}
			comp, err := bls.PublicKeyFromBytes(a.PublicKey[:])
			if err != nil {
				return err
			}
			if c.composite[a.CompositePublicKey] == nil {
				if c.composite[a.CompositePublicKey], err = bls.PublicKeyFromBytes(a.CompositePublicKey[:]); err != nil {
					return err
				}
				c.components[a.CompositePublicKey] = map[tss.ID]*bls.PublicKey{}
			}
			c.components[a.CompositePublicKey][tss.ID(s.ID)] = comp
		}
	}
	for _, k := range append(append([]api.PublicKey(nil), c.keys...), c.spare...) {
		if len(c.components[k]) != c.n {
			return fmt.Errorf("account %s has %d of %d component keys", k, len(c.components[k]), c.n)
		}
	}
	return nil
}

// window reserves four epochs no earlier attack used, so an attack's
// messages conflict only with each other.
func (c *cluster) window() uint64 { return c.epochs(4) }

// epochs reserves n consecutive epochs no earlier attack used and returns
// the first.
func (c *cluster) epochs(n uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.nextEpoch
	c.nextEpoch += n
	return e
}

// slot reserves a slot no earlier attack used.
func (c *cluster) slot() uint64 { return c.slots(1) }

// slots reserves n consecutive slots and returns the first.
func (c *cluster) slots(n uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.nextSlot
	c.nextSlot += n
	return s
}

// sacrifice hands out a validator no other test uses, for a hole test that
// may destroy its shares or brick it on 108c238.
func (c *cluster) sacrifice(t *testing.T) api.PublicKey {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nextSpare >= len(c.spare) {
		t.Fatalf("%s cluster: no spare validator left (raise its spare count)", c.name)
	}
	k := c.spare[c.nextSpare]
	c.nextSpare++
	return k
}

// signerTLS is the client TLS configuration towards signer i with the
// identity's certificate.
func (c *cluster) signerTLS(i int, id *identity) *tls.Config {
	cfg := &tls.Config{RootCAs: c.pool, ServerName: c.lc.Signers[i].Name, MinVersion: tls.VersionTLS13}
	if id.cert != nil {
		cfg.Certificates = []tls.Certificate{*id.cert}
	}
	return cfg
}

// client is an HTTP/2 client towards signer i presenting the identity's
// certificate; one per signer and identity, so requests share warm
// connections.
func (c *cluster) client(i int, identity string) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := clientKey{i, identity}
	if cl := c.clients[k]; cl != nil {
		return cl
	}
	id := c.ids[identity]
	if id == nil {
		panic("redteam: no identity " + identity)
	}
	cl := &http.Client{
		Transport: &http.Transport{TLSClientConfig: c.signerTLS(i, id), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64},
		Timeout:   2 * time.Minute,
	}
	c.clients[k] = cl
	return cl
}

// addr is signer i's address of a listener.
func (c *cluster) addr(i int, listener string) string {
	l := c.lc.Signers[i].Config.Listen
	switch listener {
	case appliance.ListenerCoordinator:
		return l.Coordinator
	case appliance.ListenerOperations:
		return l.Operations
	}
	return l.Participant
}

// reply is what one HTTP exchange returned.
type reply struct {
	code int
	body []byte
	err  error
}

// do sends one request to signer i's listener with the identity's
// certificate.
func (c *cluster) do(ctx context.Context, i int, listener, identity, method, path string, body []byte, header ...string) reply {
	return doHTTP(ctx, c.client(i, identity), method, "https://"+c.addr(i, listener)+path, body, header...)
}

func doHTTP(ctx context.Context, cl *http.Client, method, url string, body []byte, header ...string) reply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := cl.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	return reply{code: resp.StatusCode, body: b, err: err}
}

// warm opens the connections an attack will use, so that the requests
// released by its start barrier do not wait for TLS handshakes.
func (c *cluster) warm(ctx context.Context, identity string) {
	for i := range c.lc.Signers {
		for _, l := range []string{appliance.ListenerParticipant, appliance.ListenerCoordinator} {
			c.do(ctx, i, l, identity, http.MethodGet, "/upcheck", nil)
		}
	}
}

// signerID is the participant id of signer i.
func (c *cluster) signerID(i int) tss.ID { return tss.ID(c.lc.Signers[i].ID) }
