package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/gateway"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/clusterfile"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/network/networktest"
)

// testNetworkConfig schedules one fork per epoch up to Electra at 5.
const testNetworkConfig = `PRESET_BASE: mainnet
CONFIG_NAME: rampart-gateway-test
MIN_GENESIS_TIME: 1600000000
GENESIS_DELAY: 0
GENESIS_FORK_VERSION: 0x10000039
ALTAIR_FORK_VERSION: 0x20000039
ALTAIR_FORK_EPOCH: 1
BELLATRIX_FORK_VERSION: 0x30000039
BELLATRIX_FORK_EPOCH: 2
CAPELLA_FORK_VERSION: 0x40000039
CAPELLA_FORK_EPOCH: 3
DENEB_FORK_VERSION: 0x50000039
DENEB_FORK_EPOCH: 4
ELECTRA_FORK_VERSION: 0x60000039
ELECTRA_FORK_EPOCH: 5
SECONDS_PER_SLOT: 12
`

const testGVR = "0x6b6bb6b66b6bb6b66b6bb6b66b6bb6b66b6bb6b66b6bb6b66b6bb6b66b6bb6b6"

// The identities the cluster issues: the gateway's, which every signer
// authorises, and one from the same CA that no signer authorises.
const (
	gatewayClient  = "gateway-1"
	intruderClient = "intruder"
)

// cluster is n in-process rampart-signers on loopback: SoftHSM tokens,
// real TLS, bbolt files; validators dealt t-of-n.
type cluster struct {
	t    *testing.T
	lc   *localcluster.Cluster
	net  *network.Network
	keys []api.PublicKey

	mu      sync.Mutex
	running map[int]*localcluster.Running
}

func startCluster(t *testing.T, n, threshold, validators int) *cluster {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "network.yaml")
	if err := os.WriteFile(cfgPath, []byte(testNetworkConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var gvr phase0.Root
	b, _ := hex.DecodeString(strings.TrimPrefix(testGVR, "0x"))
	copy(gvr[:], b)
	netw, err := network.ParseConfig([]byte(testNetworkConfig), gvr)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", "") // restored after the test; Provision sets it
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(dir, "cluster"), Signers: n, Threshold: threshold,
		Network: appliance.NetworkConfig{Config: cfgPath, GenesisValidatorsRoot: testGVR},
		Clients: []string{gatewayClient}, UnauthorisedClients: []string{intruderClient}, Hardening: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := localcluster.Deal(context.Background(), lc.Configs(), validators, threshold, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, lc: lc, net: netw, keys: keys, running: map[int]*localcluster.Running{}}
	t.Cleanup(func() {
		for i := range lc.Signers {
			c.stop(i)
		}
	})
	for i := range lc.Signers {
		c.start(i)
	}
	return c
}

// start runs signer i (0-based) and waits until it is ready; a signer
// stopped before gets its listeners bound again on the same addresses.
func (c *cluster) start(i int) {
	c.t.Helper()
	s := c.lc.Signers[i]
	if s.Listeners == nil {
		if err := s.Relisten(); err != nil {
			c.t.Fatal(err)
		}
	}
	rs, err := s.Run(appliance.Options{Logger: slog.New(slog.DiscardHandler), Listeners: s.Listeners})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := rs.Ready(2 * time.Minute); err != nil {
		c.t.Fatalf("signer %d: %v", i+1, err)
	}
	c.mu.Lock()
	c.running[i] = rs
	c.mu.Unlock()
}

// stop stops signer i; its listeners close with it.
func (c *cluster) stop(i int) {
	c.mu.Lock()
	rs := c.running[i]
	delete(c.running, i)
	c.mu.Unlock()
	if rs == nil {
		return
	}
	if err := rs.Stop(); err != nil {
		c.t.Errorf("signer %d stopped with %v", i+1, err)
	}
	c.lc.Signers[i].Listeners = nil
}

// testGateway is a gateway over the cluster with one identity, serving
// its API on a loopback port.
type testGateway struct {
	t   *testing.T
	gw  *gateway.Gateway
	reg *prometheus.Registry
	url string
	// now is the gateway's clock, moved by the test.
	mu  sync.Mutex
	now time.Time
}

// newGateway wires a gateway as rampart-gateway does: the cluster file,
// the identity's TLS configuration, one participant per signer, the
// coordinator, and the API on a free loopback port.
func (c *cluster) newGateway(client string, edit func(*gateway.Config)) *testGateway {
	t := c.t
	t.Helper()
	cfg := gateway.DefaultConfig()
	cfg.Cluster.File = filepath.Join(c.lc.Dir, "cluster.yaml")
	cl := c.lc.Client(client)
	cfg.Cluster.Certificate, cfg.Cluster.Key = cl.CertPath, cl.KeyPath
	// The configuration needs a real port; the test listens on a free one.
	cfg.Listen.API, cfg.Listen.Operations = "127.0.0.1:1", ""
	if edit != nil {
		edit(&cfg)
	}
	cf, err := clusterfile.Load(cfg.Cluster.File)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, release, err := cf.TLSConfig(context.Background(), &clusterfile.Identity{Name: client, Certificate: cfg.Cluster.Certificate, Key: cfg.Cluster.Key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	ps, err := cf.HTTPParticipants(tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	var signers []gateway.Signer
	for _, p := range ps {
		hp := p.(*coordinator.HTTPParticipant)
		t.Cleanup(hp.Close)
		signers = append(signers, hp)
	}
	reg := prometheus.NewRegistry()
	ccfg := coordinator.DefaultConfig()
	ccfg.Participants, ccfg.Timeout, ccfg.HedgeDelay = ps, cfg.Cluster.Timeout, cfg.Cluster.HedgeDelay
	if ccfg.Metrics, err = coordinator.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	coord, err := coordinator.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{t: t, reg: reg, now: time.Now()}
	tg.gw, err = gateway.New(&cfg, gateway.Options{Network: c.net, Coordinator: coord, Signers: signers, Registerer: reg, Now: tg.clock})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := tg.gw.Server(tg.gw.Handler())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tg.url = "http://" + ln.Addr().String()
	if err := coord.Refresh(context.Background()); err != nil && client != intruderClient {
		t.Fatal(err)
	}
	return tg
}

func (tg *testGateway) clock() time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.now
}

func (tg *testGateway) advance(d time.Duration) {
	tg.mu.Lock()
	tg.now = tg.now.Add(d)
	tg.mu.Unlock()
}

// do sends a request to the gateway and returns the status and body.
func (tg *testGateway) do(method, path string, body []byte, header ...string) (int, []byte) {
	tg.t.Helper()
	return doHTTP(tg.t, http.DefaultClient, tg.url, method, path, body, header...)
}

func doHTTP(t *testing.T, client *http.Client, base, method, path string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// calls is how many calls the gateway's coordinator made to signers.
func (tg *testGateway) calls() float64 {
	tg.t.Helper()
	mfs, err := tg.reg.Gather()
	if err != nil {
		tg.t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "rampart_coordinator_participant_calls_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// metric sums the samples of a metric family whose labels include the
// value label (any label).
func (tg *testGateway) metric(name, label string) float64 {
	tg.t.Helper()
	mfs, err := tg.reg.Gather()
	if err != nil {
		tg.t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

func hexRoot(b byte) string { return "0x" + strings.Repeat(fmt.Sprintf("%02x", b), 32) }

func u(v uint64) string { return fmt.Sprintf("%d", v) }

// forkInfo is the fork_info a correct client sends for epoch on n.
var forkInfo = networktest.ForkInfo

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// attestation is an ATTESTATION request voting source -> target.
func attestation(n *network.Network, source, target uint64, root byte) map[string]any {
	return map[string]any{
		"type": "ATTESTATION", "fork_info": forkInfo(n, target),
		"attestation": map[string]any{
			"slot": u(target * 32), "index": "0", "beacon_block_root": hexRoot(root),
			"source": map[string]any{"epoch": u(source), "root": hexRoot(1)},
			"target": map[string]any{"epoch": u(target), "root": hexRoot(root)},
		},
	}
}

// block is a BLOCK_V2 (Electra header) request at slot.
func block(n *network.Network, slot uint64, root byte) map[string]any {
	return map[string]any{
		"type": "BLOCK_V2", "fork_info": forkInfo(n, slot/32),
		"beacon_block": map[string]any{"version": "ELECTRA", "block_header": map[string]any{
			"slot": u(slot), "proposer_index": "7", "parent_root": hexRoot(root), "state_root": hexRoot(2), "body_root": hexRoot(3),
		}},
	}
}
