package appliance_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// healthBody is /healthcheck's body as the tests read it.
type healthBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
	Quorum *struct {
		Status    string `json:"status"`
		Ready     int    `json:"ready"`
		Threshold int    `json:"threshold"`
	} `json:"quorum"`
}

// health reads signer i's /healthcheck.
func (tc *testCluster) health(i int) (int, healthBody) {
	tc.t.Helper()
	code, body := get(tc.t, tc.url(i, appliance.ListenerOperations, "/healthcheck"))
	var h healthBody
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		tc.t.Fatalf("/healthcheck body %q: %v", body, err)
	}
	return code, h
}

// waitHealth polls signer i's /healthcheck until ok says it is in the
// state waited for (a probe loop runs on the real clock; the test waits on
// the state it reaches, never on a duration).
func (tc *testCluster) waitHealth(i int, what string, ok func(int, healthBody) bool) healthBody {
	tc.t.Helper()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		code, h := tc.health(i)
		if ok(code, h) {
			return h
		}
		select {
		case <-deadline:
			tc.t.Fatalf("signer %d: never %s; last /healthcheck %d %+v", i+1, what, code, h)
		case <-tick.C:
		}
	}
}

// startSeparateHSMs provisions n signers each with a SoftHSM module and
// token directory of its own, deals validators t-of-n and starts them in
// process, each with SOFTHSM2_CONF naming its own configuration when its
// module initialises; signer first (0-based) starts last, so that the
// environment keeps its configuration for when its module initialises
// again.
func startSeparateHSMs(t *testing.T, n, threshold, validators, last int, tweak func(*appliance.Config)) *testCluster {
	lc, net := provisionCluster(t, n, func(s *localcluster.Spec) {
		s.CoordinatorHTTP = "127.0.0.1:0"
		s.SeparateHSMs = true
	})
	for _, s := range lc.Signers {
		tweak(s.Config)
	}
	// Each module reads SOFTHSM2_CONF when it initialises: hold each
	// signer's module initialised with its own while Deal opens them all.
	var held []*hsm.Token
	for _, s := range lc.Signers {
		t.Setenv(softhsm.ConfigEnv, s.SoftHSMConf)
		tok, _ := openToken(t, s.Config.HSM.SealingKey)
		held = append(held, tok)
	}
	dealt, err := localcluster.Deal(context.Background(), lc.Configs(), validators, threshold, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range held {
		if err := tok.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tc := &testCluster{t: t, lc: lc, net: net, keys: dealt, running: map[int]*localcluster.Running{}}
	t.Cleanup(tc.stopAll)
	order := []int{}
	for i := range n {
		if i != last {
			order = append(order, i)
		}
	}
	for _, i := range append(order, last) {
		t.Setenv(softhsm.ConfigEnv, lc.Signers[i].SoftHSMConf)
		tc.start(i)
		tc.waitReady(i)
	}
	return tc
}

// TestHSMTokenRemovedUnderARunningSigner is issue 17's "with the HSM token
// removed under a running signer, every TLS handshake failed and health
// still said UP; it did not recover when the token came back, only a
// restart did", with real SoftHSM: signer 1's token directory is moved
// away under it. Its /healthcheck goes DOWN naming the HSM (quorum, the
// other signers' business, is reported apart), a TLS handshake with it
// fails, and signing through it fails saying its HSM session is down.
// Once the directory is back, the signer logs in again by itself, is UP
// and signs, without a restart.
func TestHSMTokenRemovedUnderARunningSigner(t *testing.T) {
	tc := startSeparateHSMs(t, 3, 2, 1, 0, func(c *appliance.Config) {
		c.HSM.ProbeInterval = 20 * time.Millisecond
		c.Cluster.ProbeInterval = 20 * time.Millisecond
	})
	key := tc.keys[0]
	loopback := tc.url(0, appliance.ListenerInsecureLoopback, "/api/v1/eth2/sign/"+key.String())
	req := attestationRequest(tc.net, 60, 61, 0x61)
	tc.checkSigned("before the token goes", post(t, http.DefaultClient, loopback, req), key, req)
	tc.waitHealth(0, "UP with quorum", func(code int, h healthBody) bool {
		return code == http.StatusOK && h.Quorum != nil && h.Quorum.Status == "UP" && h.Quorum.Ready == 3
	})

	tokens := tc.lc.Signers[0].Dir + "/softhsm/tokens"
	if err := os.Rename(tokens, tokens+".away"); err != nil {
		t.Fatal(err)
	}
	h := tc.waitHealth(0, "DOWN for its HSM", func(code int, h healthBody) bool {
		return code == http.StatusServiceUnavailable && h.Checks["hsm"].Status == "DOWN"
	})
	if h.Status != "DOWN" || !strings.Contains(h.Checks["hsm"].Error, "signer-1") {
		t.Errorf("health with the token gone: %+v", h)
	}
	if h.Checks["slashing_db"].Status != "UP" {
		t.Errorf("the slashing database is not the HSM: %+v", h.Checks)
	}

	// A TLS handshake with signer 1 fails: it cannot sign with its key.
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(tc.lc.CAPath)
	pool.AppendCertsFromPEM(ca)
	conn, err := tls.Dial("tcp", tc.lc.Signers[0].Config.Listen.Participant, &tls.Config{RootCAs: pool, ServerName: tc.lc.Signers[0].Name, MinVersion: tls.VersionTLS13})
	if err == nil {
		conn.Close()
		t.Fatal("TLS handshake with a signer whose token is gone succeeded")
	}
	// Signing through signer 1 fails, and says why: its own partial is
	// made in memory, but no peer accepts it without its TLS key.
	r := post(t, http.DefaultClient, loopback, attestationRequest(tc.net, 61, 62, 0x62))
	if r.code == http.StatusOK || !strings.Contains(string(r.body), "HSM session is down") {
		t.Errorf("signing with the token gone: %d %s", r.code, r.body)
	}

	if err := os.Rename(tokens+".away", tokens); err != nil {
		t.Fatal(err)
	}
	tc.waitHealth(0, "UP again", func(code int, h healthBody) bool {
		return code == http.StatusOK && h.Checks["hsm"].Status == "UP"
	})
	req = attestationRequest(tc.net, 62, 63, 0x63)
	tc.checkSigned("after the token came back", post(t, http.DefaultClient, loopback, req), key, req)
	// Signer 2 reaches signer 1 again: handshakes work.
	req = attestationRequest(tc.net, 63, 64, 0x64)
	tc.checkSigned("signer 2 after the token came back", tc.sign(1, key, req), key, req)
	_, metrics := get(t, tc.url(0, appliance.ListenerOperations, "/metrics"))
	for _, m := range []string{"rampart_hsm_up 1", `rampart_hsm_reopen_attempts_total{result="ok"}`, `rampart_health_check_up{check="hsm"} 1`, "rampart_ready 1", "rampart_build_info{"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// TestHSMWrongPINAfterTheTokenReturnsIsNeverRetried: the token goes, its
// PIN is changed (here: the PIN file now holds a wrong PIN) and it comes
// back. The signer's one login is refused and it tries no other, whatever
// the time: a token locks its PIN after a few wrong ones. Health stays
// DOWN and says what to do.
func TestHSMWrongPINAfterTheTokenReturnsIsNeverRetried(t *testing.T) {
	tc := startSeparateHSMs(t, 1, 1, 1, 0, func(c *appliance.Config) {
		c.HSM.ProbeInterval = 20 * time.Millisecond
	})
	tokens := tc.lc.Signers[0].Dir + "/softhsm/tokens"
	if err := os.Rename(tokens, tokens+".away"); err != nil {
		t.Fatal(err)
	}
	tc.waitHealth(0, "DOWN for its HSM", func(code int, h healthBody) bool { return h.Checks["hsm"].Status == "DOWN" })
	u, err := hsm.ParseURI(tc.lc.Signers[0].Config.HSM.SealingKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimPrefix(u.PINSource, "file:"), []byte("99999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tokens+".away", tokens); err != nil {
		t.Fatal(err)
	}
	h := tc.waitHealth(0, "refusing to log in again", func(code int, h healthBody) bool {
		return strings.Contains(h.Checks["hsm"].Error, "not logging in again")
	})
	if !strings.Contains(h.Checks["hsm"].Error, "wrong PIN") || !strings.Contains(h.Checks["hsm"].Error, "restart the signer") {
		t.Errorf("health after a wrong PIN: %+v", h.Checks["hsm"])
	}
	_, metrics := get(t, tc.url(0, appliance.ListenerOperations, "/metrics"))
	if !strings.Contains(metrics, `rampart_hsm_reopen_attempts_total{result="gave_up"} 1`) || !strings.Contains(metrics, "rampart_hsm_up 0") {
		t.Errorf("metrics after a wrong PIN:\n%s", grepLines(metrics, "rampart_hsm"))
	}
	if low := pinCountLow(t, tc.lc.Signers[0]); !low {
		t.Error("SoftHSM saw no failed login: the test did not exercise a wrong PIN")
	}
	// Stopping, the audit log cannot tag its last checkpoint without the
	// HSM, and says so.
	tc.mu.Lock()
	rs := tc.running[0]
	delete(tc.running, 0)
	tc.mu.Unlock()
	if err := rs.Stop(); err != nil && !strings.Contains(err.Error(), "audit") {
		t.Errorf("stopping: %v", err)
	}
}

// TestQuorumIsReportedApartFromReadiness is issue 17's "with 3 of 5
// signers stopped, /healthcheck on signer 1 answered 200 with every check
// UP while signing answered 503": signer 1 stays ready (it can sign; a
// load balancer must not take the last signers out), and its
// /healthcheck's quorum section and rampart_cluster_quorum say the
// cluster cannot.
func TestQuorumIsReportedApartFromReadiness(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 1, func(c *appliance.Config) { c.Cluster.ProbeInterval = 20 * time.Millisecond })
	tc.waitHealth(0, "with quorum", func(code int, h healthBody) bool {
		return h.Quorum != nil && h.Quorum.Ready == 5 && h.Quorum.Status == "UP" && h.Quorum.Threshold == 3
	})
	for _, i := range []int{2, 3, 4} {
		tc.stop(i)
	}
	h := tc.waitHealth(0, "without quorum", func(code int, h healthBody) bool {
		return code == http.StatusOK && h.Quorum != nil && h.Quorum.Status == "DOWN"
	})
	if h.Status != "UP" || h.Quorum.Ready != 2 {
		t.Errorf("health with 3 of 5 stopped: %+v %+v", h, h.Quorum)
	}
	_, metrics := get(t, tc.url(0, appliance.ListenerOperations, "/metrics"))
	for _, m := range []string{"rampart_cluster_quorum 0", "rampart_cluster_ready_signers 2", "rampart_cluster_threshold 3", `rampart_cluster_signer_reachable{signer="3"} 0`, `rampart_cluster_signer_ready{signer="2"} 1`, `rampart_tls_certificate_expiry_seconds{certificate="node"`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// pinCountLow reads signer s's token's CKF_USER_PIN_COUNT_LOW flag, which
// SoftHSM sets after a failed user login, without logging in.
func pinCountLow(t *testing.T, s *localcluster.Signer) bool {
	t.Helper()
	u, err := hsm.ParseURI(s.Config.HSM.SealingKey)
	if err != nil {
		t.Fatal(err)
	}
	p := pkcs11.New(u.ModulePath)
	if p == nil {
		t.Fatalf("loading %s", u.ModulePath)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		if e, ok := err.(pkcs11.Error); !ok || uint(e) != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			t.Fatal(err)
		}
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots {
		ti, err := p.GetTokenInfo(sl)
		if err != nil {
			continue
		}
		if ti.Label == u.Token {
			return ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0
		}
	}
	t.Fatalf("no token %q", u.Token)
	return false
}
