package appliance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
)

// oneSigner provisions a 1-of-1 cluster (a conventional signer in the
// distributed profile) with validators dealt, not started.
func oneSigner(tb testing.TB, validators int) *localcluster.Cluster {
	tb.Helper()
	dir := tb.TempDir()
	cfgPath := filepath.Join(dir, "network.yaml")
	if err := os.WriteFile(cfgPath, []byte(testNetworkConfig), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", "")
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(dir, "cluster"), Signers: 1,
		Network:         appliance.NetworkConfig{Config: cfgPath, GenesisValidatorsRoot: testGVR},
		CoordinatorHTTP: "127.0.0.1:0", Clients: []string{"vc-1"}, Hardening: "off",
	})
	if err != nil {
		tb.Fatal(err)
	}
	if validators > 0 {
		if _, err := localcluster.Deal(context.Background(), lc.Configs(), validators, 1, rand.Reader); err != nil {
			tb.Fatal(err)
		}
	}
	return lc
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lockedBuffer is a log destination a test reads while the signer runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStartupNotifiesSystemdAndReportsHealth(t *testing.T) {
	lc := oneSigner(t, 3)
	var logs lockedBuffer
	s := lc.Signers[0]
	ops := "http://" + s.Config.Listen.Operations
	var mu sync.Mutex
	var states []string
	healthWhileUnsealing := 0
	watchdog := make(chan struct{})
	var watched sync.Once
	notify := func(state string) {
		if state == "WATCHDOG=1" {
			watched.Do(func() { close(watchdog) })
		}
		if strings.HasPrefix(state, "STATUS=unsealing") {
			code, _ := get(t, ops+"/healthcheck")
			mu.Lock()
			healthWhileUnsealing = code
			mu.Unlock()
		}
		mu.Lock()
		states = append(states, state)
		mu.Unlock()
	}
	rs, err := s.Run(appliance.Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Listeners: s.Listeners,
		Notify: notify, WatchdogInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Ready(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if healthWhileUnsealing != http.StatusServiceUnavailable {
		t.Errorf("/healthcheck while unsealing: %d, want 503", healthWhileUnsealing)
	}
	if code, body := get(t, ops+"/healthcheck"); code != http.StatusOK || !strings.Contains(body, `"status":"UP"`) {
		t.Errorf("/healthcheck when ready: %d %s", code, body)
	}
	if code, body := get(t, ops+"/upcheck"); code != http.StatusOK || body != "OK" {
		t.Errorf("/upcheck: %d %q", code, body)
	}
	req := attestationRequest(mustNetwork(t), 5, 6, 0x11)
	keys, _ := os.ReadDir(s.Config.Accounts.SharesDir)
	key := strings.TrimSuffix(keys[0].Name(), appliance.ShareFileExt)
	resp, err := http.Post("http://"+s.Config.Listen.CoordinatorInsecureLoopback+"/api/v1/eth2/sign/"+key, "application/json", strings.NewReader(string(req)))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign on the loopback listener: %v %v", err, resp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	resp.Body.Close()
	_, metrics := get(t, ops+"/metrics")
	for _, m := range []string{"rampart_signer_accounts 3", `rampart_signer_requests_total{api="coordinator",code="200",type="ATTESTATION"} 1`, "rampart_signer_slashing_commit_seconds_count", `rampart_signer_signatures_total{kind="full"} 1`, "rampart_coordinator_participant_calls_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	// The watchdog pings while the signer is healthy.
	select {
	case <-watchdog:
	case <-time.After(time.Minute):
		t.Fatal("no WATCHDOG=1 within a minute of a 20 ms watchdog interval")
	}
	if err := rs.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(states, "\n")
	ready := strings.Index(joined, "READY=1")
	if ready < 0 || ready < strings.Index(joined, "STATUS=unsealing") || ready < strings.Index(joined, "STATUS=opening slashing") {
		t.Errorf("READY=1 missing or before start-up finished:\n%s", joined)
	}
	for _, want := range []string{"WATCHDOG=1", "STOPPING=1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %s in:\n%s", want, joined)
		}
	}
	checkLog(t, logs.String())
}

// checkLog reads a signer's JSON log from start to a graceful stop (issue
// 17): every duration has its unit ("took":"6.6ms", not 6647765), and the
// last line is "stopped".
func checkLog(t *testing.T, log string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	tooks := 0
	var last map[string]any
	for _, l := range lines {
		last = nil
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("log line not JSON: %q", l)
		}
		if v, ok := last["took"]; ok {
			tooks++
			if s, ok := v.(string); !ok {
				t.Errorf("took without its unit: %s", l)
			} else if _, err := time.ParseDuration(s); err != nil {
				t.Errorf("took is not a duration: %s", l)
			}
		}
	}
	if tooks < 2 {
		t.Errorf("%d lines with took; want the unsealing's and the audit check's:\n%s", tooks, log)
	}
	if last["msg"] != "stopped" || last["level"] != "INFO" || last["err"] != nil {
		t.Errorf("last log line %v; want an INFO \"stopped\" without err", last)
	}
}

func TestStartupRefusesSharesWithoutSlashingHistory(t *testing.T) {
	lc := oneSigner(t, 1)
	s := lc.Signers[0]
	if err := os.Remove(s.Config.Slashing.Database); err != nil {
		t.Fatal(err)
	}
	app, err := appliance.New(s.Config, appliance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listeners: s.Listeners})
	if err != nil {
		t.Fatal(err)
	}
	err = app.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "import their history") {
		t.Fatalf("Run: %v", err)
	}
}

func TestStartupRefusesShareOfAnotherCluster(t *testing.T) {
	lc := oneSigner(t, 1)
	s := lc.Signers[0]
	s.Config.Cluster.ID = "another-cluster"
	app, err := appliance.New(s.Config, appliance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listeners: s.Listeners})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "unsealing shares") {
		t.Fatalf("Run: %v", err)
	}
}

// TestStartupRefusesANetworkWithoutGenesisTime: without a genesis time the
// signer cannot tell the current epoch, so it could not refuse far-future
// messages; it refuses to start, naming the keys and the field that fix it.
func TestStartupRefusesANetworkWithoutGenesisTime(t *testing.T) {
	lc := oneSigner(t, 0)
	s := lc.Signers[0]
	noGenesis := strings.Replace(strings.Replace(testNetworkConfig, "MIN_GENESIS_TIME: 1600000000\n", "", 1), "GENESIS_DELAY: 0\n", "", 1)
	if noGenesis == testNetworkConfig {
		t.Fatal("test config has no genesis time to remove")
	}
	if err := os.WriteFile(s.Config.Network.Config, []byte(noGenesis), 0o644); err != nil {
		t.Fatal(err)
	}
	app, err := appliance.New(s.Config, appliance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listeners: s.Listeners})
	if err != nil {
		t.Fatal(err)
	}
	err = app.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gives neither MIN_GENESIS_TIME nor GENESIS_DELAY") || !strings.Contains(err.Error(), "network.genesis_time") {
		t.Fatalf("Run: %v", err)
	}
}
