package appliance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// testCluster is n in-process signers on loopback with real TLS, SoftHSM
// tokens and bbolt files.
type testCluster struct {
	t       testing.TB
	lc      *localcluster.Cluster
	net     *network.Network
	keys    []api.PublicKey
	mu      sync.Mutex
	running map[int]*localcluster.Running
	// clock, when set, is every signer's clock (Options.Now and After).
	clock *fakeClock
}

// newTestCluster provisions and starts n signers and deals validators
// t-of-n.
func newTestCluster(tb testing.TB, n, t, validators int, tweaks ...func(*appliance.Config)) *testCluster {
	tb.Helper()
	return newTestClusterWithClock(tb, nil, n, t, validators, tweaks...)
}

// newTestClusterWithClock is newTestCluster with every signer on clock
// (nil: the real clock).
func newTestClusterWithClock(tb testing.TB, clock *fakeClock, n, t, validators int, tweaks ...func(*appliance.Config)) *testCluster {
	tb.Helper()
	lc, net := provisionCluster(tb, n, func(s *localcluster.Spec) {
		s.CoordinatorHTTP = "127.0.0.1:0"
		s.UnauthorisedClients = []string{"intruder"}
	})
	for _, s := range lc.Signers {
		for _, tw := range tweaks {
			tw(s.Config)
		}
	}
	keys, err := localcluster.Deal(context.Background(), lc.Configs(), validators, t, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tc := &testCluster{t: tb, lc: lc, net: net, keys: keys, running: map[int]*localcluster.Running{}, clock: clock}
	tb.Cleanup(tc.stopAll)
	for i := range lc.Signers {
		tc.start(i)
	}
	for i := range lc.Signers {
		tc.waitReady(i)
	}
	return tc
}

// provisionCluster provisions n signers for the test network, with a
// vc-1 client and process hardening off, after edit adjusts the spec.
func provisionCluster(tb testing.TB, n int, edit func(*localcluster.Spec)) (*localcluster.Cluster, *network.Network) {
	tb.Helper()
	dir := tb.TempDir()
	cfgPath := filepath.Join(dir, "network.yaml")
	if err := os.WriteFile(cfgPath, []byte(testNetworkConfig), 0o644); err != nil {
		tb.Fatal(err)
	}
	var gvr phase0.Root
	copy(gvr[:], mustHex(testGVR))
	net, err := network.ParseConfig([]byte(testNetworkConfig), gvr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", "") // restored after the test; Provision sets it
	spec := localcluster.Spec{
		Dir: filepath.Join(dir, "cluster"), Signers: n,
		Network: appliance.NetworkConfig{Config: cfgPath, GenesisValidatorsRoot: testGVR},
		Clients: []string{"vc-1"}, Hardening: "off",
	}
	if edit != nil {
		edit(&spec)
	}
	lc, err := localcluster.Provision(context.Background(), spec)
	if err != nil {
		tb.Fatal(err)
	}
	return lc, net
}

func mustHex(s string) []byte {
	var b []byte
	fmt.Sscanf(strings.TrimPrefix(s, "0x"), "%x", &b)
	return b
}

// start runs signer i (0-based) in process on its pre-bound listeners.
func (tc *testCluster) start(i int) {
	tc.t.Helper()
	s := tc.lc.Signers[i]
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("RAMPART_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("signer", s.ID)
	}
	opts := appliance.Options{Logger: log, Listeners: s.Listeners, ConfigFile: s.ConfigPath}
	if tc.clock != nil {
		opts.Now, opts.After = tc.clock.Now, tc.clock.After
	}
	rs, err := s.Run(opts)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.mu.Lock()
	tc.running[i] = rs
	tc.mu.Unlock()
}

func (tc *testCluster) waitReady(i int) {
	tc.t.Helper()
	tc.mu.Lock()
	rs := tc.running[i]
	tc.mu.Unlock()
	if err := rs.Ready(60 * time.Second); err != nil {
		tc.t.Fatalf("signer %d %v", i+1, err)
	}
}

// restart starts a stopped signer again on its configured addresses.
func (tc *testCluster) restart(i int) {
	tc.t.Helper()
	if err := tc.lc.Signers[i].Relisten(); err != nil {
		tc.t.Fatal(err)
	}
	tc.start(i)
	tc.waitReady(i)
}

// stop stops signer i gracefully; its listeners are closed.
func (tc *testCluster) stop(i int) {
	tc.mu.Lock()
	rs := tc.running[i]
	delete(tc.running, i)
	tc.mu.Unlock()
	if rs == nil {
		return
	}
	if err := rs.Stop(); err != nil {
		tc.t.Errorf("signer %d stopped with %v", i+1, err)
	}
}

func (tc *testCluster) stopAll() {
	for i := range tc.lc.Signers {
		tc.stop(i)
	}
}

// client is an mTLS client for signer i with the certificate of name
// ("" for no certificate).
func (tc *testCluster) client(i int, name string) *http.Client {
	tc.t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(tc.lc.CAPath)
	if err != nil {
		tc.t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool, ServerName: tc.lc.Signers[i].Name, MinVersion: tls.VersionTLS13}
	if name != "" {
		cl := tc.lc.Client(name)
		cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
		if err != nil {
			tc.t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: 30 * time.Second}
}

func (tc *testCluster) url(i int, listener, path string) string {
	s := tc.lc.Signers[i]
	addr := s.Config.Listen.Participant
	switch listener {
	case appliance.ListenerCoordinator:
		addr = s.Config.Listen.Coordinator
	case appliance.ListenerInsecureLoopback:
		return "http://" + s.Config.Listen.CoordinatorInsecureLoopback + path
	case appliance.ListenerOperations:
		return "http://" + s.Config.Listen.Operations + path
	}
	return "https://" + addr + path
}

type response struct {
	code int
	body []byte
}

func post(t testing.TB, c *http.Client, url string, body []byte) response {
	t.Helper()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// sign asks signer i's coordinator API for a full signature as vc-1.
func (tc *testCluster) sign(i int, key api.PublicKey, req []byte) response {
	return post(tc.t, tc.client(i, "vc-1"), tc.url(i, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), req)
}

// checkSigned asserts a 200 whose signature verifies under key for the root
// computed from req.
func (tc *testCluster) checkSigned(name string, r response, key api.PublicKey, req []byte) {
	tc.t.Helper()
	if r.code != http.StatusOK {
		tc.t.Errorf("%s: status %d: %s", name, r.code, r.body)
		return
	}
	var sr api.SigningResponse
	if err := json.Unmarshal(r.body, &sr); err != nil {
		tc.t.Errorf("%s: %v", name, err)
		return
	}
	parsed, err := signing.ParseRequest(req)
	if err != nil {
		tc.t.Fatalf("%s: %v", name, err)
	}
	sg, err := parsed.Verify(tc.net)
	if err != nil {
		tc.t.Fatalf("%s: %v", name, err)
	}
	pk, err := bls.PublicKeyFromBytes(key[:])
	if err != nil {
		tc.t.Fatal(err)
	}
	sig, err := bls.SignatureFromBytes(sr.Signature[:])
	if err != nil || !pk.Verify(sg.SigningRoot, sig) {
		tc.t.Errorf("%s: signature does not verify under the composite key: %v", name, err)
	}
}

func errorCode(t testing.TB, r response) int {
	var e api.Error
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Code != r.code {
		t.Fatalf("error body code %d, status %d", e.Code, r.code)
	}
	return e.Code
}

// grantEverything lets client use every account for every request type,
// GENERIC included (which "all" does not cover).
func grantEverything(client string) func(*appliance.Config) {
	var types []string
	for _, t := range signing.Types() {
		types = append(types, string(t))
	}
	return func(c *appliance.Config) {
		for i, r := range c.Authorization {
			if r.Client == client {
				c.Authorization[i].Types = appliance.Selector{List: types}
			}
		}
	}
}

// clientSign signs req through every participant with the vc-1 identity,
// as rampart-vc and rampartctl exit do: the coordinator beside the client.
func (tc *testCluster) clientSign(key api.PublicKey, req []byte) (api.Signature, error) {
	tc.t.Helper()
	cf := tc.lc.File
	_, coord, release, err := cf.Connect(context.Background(), cf.Client)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer release()
	if err := coord.Refresh(context.Background()); err != nil {
		tc.t.Fatal(err)
	}
	parsed, err := signing.ParseRequest(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	sg, err := parsed.Verify(tc.net)
	if err != nil {
		tc.t.Fatal(err)
	}
	canonical, err := parsed.MarshalJSON()
	if err != nil {
		tc.t.Fatal(err)
	}
	sig, err := coord.Sign(context.Background(), key, sg.SigningRoot, canonical)
	if err != nil {
		return api.Signature{}, err
	}
	return sig.Bytes(), nil
}

func TestClusterSignsEveryRequestType(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 2, grantEverything("vc-1"))
	key := tc.keys[0]
	reqs := everyRequest(tc.net, key.String())
	duties := 0
	for name, req := range reqs {
		parsed, err := signing.ParseRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Type.Duty() {
			tc.checkSigned(name, tc.sign(0, key, req), key, req)
			duties++
			continue
		}
		// Not a duty: the signers' coordinator refuses it, since it asks
		// the others with its own identity and peers are granted duties
		// only; a coordinator beside the client, with the client's
		// identity at every signer, gets it.
		r := tc.sign(0, key, req)
		if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "not a validator duty") {
			t.Errorf("%s through the signers' coordinator: %d %s", name, r.code, r.body)
		}
		sig, err := tc.clientSign(key, req)
		if err != nil {
			t.Errorf("%s through the client's coordinator: %v", name, err)
			continue
		}
		tc.checkSigned(name, response{http.StatusOK, mustJSON(api.SigningResponse{Signature: sig})}, key, req)
	}
	// The same through another signer's coordinator and the loopback
	// listener without TLS.
	req := attestationRequest(tc.net, 10, 11, 0x41)
	tc.checkSigned("coordinator of signer 3", tc.sign(2, tc.keys[1], req), tc.keys[1], req)
	r := post(t, http.DefaultClient, tc.url(0, appliance.ListenerInsecureLoopback, "/api/v1/eth2/sign/"+tc.keys[1].String()), req)
	tc.checkSigned("loopback listener, exact repeat", r, tc.keys[1], req)
	t.Logf("signed %d request types through a 3-of-5 cluster (%d duties through the signers' coordinator)", len(reqs)+1, duties)
}

func TestClusterRefuses(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 3, grantEverything("vc-1"))
	key := tc.keys[0]
	first := attestationRequest(tc.net, 20, 21, 0x51)
	tc.checkSigned("first attestation", tc.sign(0, key, first), key, first)

	t.Run("refuses a double vote with 412 at every participant", func(t *testing.T) {
		double := attestationRequest(tc.net, 20, 21, 0x52)
		r := tc.sign(0, key, double)
		if r.code != http.StatusPreconditionFailed || errorCode(t, r) != 412 {
			t.Fatalf("coordinator: %d %s", r.code, r.body)
		}
		// Issue 17: the reason was repeated once per signer (~2 KB). It is
		// stated once with the signers that gave it, the in-process
		// participant's answer grouped with the others'.
		body := string(r.body)
		if strings.Count(body, "double vote") != 1 || len(r.body) > 1024 ||
			!regexp.MustCompile(`\d of 5 signers refused \(status 412\): [^;]*double vote[^;]*\(participants [0-9, ]+\)`).MatchString(body) {
			t.Errorf("coordinator's 412: want the reason once with the participants that gave it, under 1 KB: %s", body)
		}
		for i := range tc.lc.Signers {
			r := post(t, tc.client(i, "vc-1"), tc.url(i, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), double)
			if r.code != http.StatusPreconditionFailed {
				t.Errorf("participant %d: %d %s", i+1, r.code, r.body)
			}
		}
	})
	t.Run("names what it signed to a caller that asks", func(t *testing.T) {
		// A second validator client signs the data the signers signed
		// first (vc/adopt.go): the refusal names its root and data, to a
		// caller sending api.ConflictHeader only.
		parsed, err := signing.ParseRequest(first)
		if err != nil {
			t.Fatal(err)
		}
		sg, err := parsed.Verify(tc.net)
		if err != nil {
			t.Fatal(err)
		}
		double := attestationRequest(tc.net, 20, 21, 0x54)
		url := tc.url(1, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String())
		asking := func(body []byte, url string) response {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(api.ConflictHeader, "1")
			resp, err := tc.client(1, "vc-1").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return response{resp.StatusCode, b}
		}
		check := func(name string, e *api.Error) {
			t.Helper()
			if e == nil || e.Code != http.StatusPreconditionFailed || e.Conflict == nil {
				t.Fatalf("%s: want a 412 naming the signed data, got %+v", name, e)
			}
			if e.Conflict.SigningRoot != api.Root(sg.SigningRoot) {
				t.Errorf("%s: names root %s, the first attestation's is %#x", name, e.Conflict.SigningRoot, sg.SigningRoot)
			}
			var d phase0.AttestationData
			if err := json.Unmarshal(e.Conflict.AttestationData, &d); err != nil || d.String() != parsed.Attestation.String() {
				t.Errorf("%s: names data %s (%v), the first attestation's is %s", name, e.Conflict.AttestationData, err, parsed.Attestation)
			}
		}
		r := asking(double, url)
		e, err := api.DecodeError(r.body)
		if err != nil {
			t.Fatalf("%d %s: %v", r.code, r.body, err)
		}
		check("single", &e)
		batch := mustJSON(map[string]any{"identifiers": []string{key.String()}, "signing_request": json.RawMessage(double)})
		r = asking(batch, tc.url(1, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign"))
		items, err := api.DecodePartialBatchResults(r.body)
		if err != nil || len(items) != 1 {
			t.Fatalf("batch: %d %s: %v", r.code, r.body, err)
		}
		check("batch", items[0].Error)
		// Other clients get the Remote Signing API's error object.
		if r := post(t, tc.client(1, "vc-1"), url, double); r.code != http.StatusPreconditionFailed || bytes.Contains(r.body, []byte("conflict")) {
			t.Errorf("without the header: %d %s", r.code, r.body)
		}
	})
	t.Run("refuses a surround vote with 412", func(t *testing.T) {
		if r := tc.sign(1, key, attestationRequest(tc.net, 19, 22, 0x53)); r.code != http.StatusPreconditionFailed {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a double proposal with 412", func(t *testing.T) {
		b1 := blockRequest(tc.net, 700, 0x61)
		tc.checkSigned("block", tc.sign(0, key, b1), key, b1)
		if r := tc.sign(0, key, blockRequest(tc.net, 700, 0x62)); r.code != http.StatusPreconditionFailed {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("allows an exact repeat", func(t *testing.T) {
		tc.checkSigned("repeat", tc.sign(2, key, first), key, first)
	})
	t.Run("refuses another network with 400", func(t *testing.T) {
		other := bytes.Replace(attestationRequest(tc.net, 30, 31, 0x71), []byte(testGVR), []byte(hexRoot(0x77)), 1)
		if r := tc.sign(0, key, other); r.code != http.StatusBadRequest {
			t.Fatalf("coordinator: %d %s", r.code, r.body)
		}
		r := post(t, tc.client(1, "vc-1"), tc.url(1, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), other)
		if r.code != http.StatusBadRequest {
			t.Fatalf("participant: %d %s", r.code, r.body)
		}
	})
	t.Run("refuses a fork that does not apply with 400", func(t *testing.T) {
		var v map[string]any
		json.Unmarshal(attestationRequest(tc.net, 30, 31, 0x72), &v)
		v["fork_info"] = forkInfo(tc.net, 2)
		if r := tc.sign(0, key, mustJSON(v)); r.code != http.StatusBadRequest {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a wrong signingRoot with 400", func(t *testing.T) {
		var v map[string]any
		json.Unmarshal(attestationRequest(tc.net, 30, 31, 0x73), &v)
		v["signingRoot"] = hexRoot(0x99)
		if r := tc.sign(0, key, mustJSON(v)); r.code != http.StatusBadRequest {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses GENERIC in the attester domain with 400, to a client granted GENERIC", func(t *testing.T) {
		f := tc.net.ForkAtEpoch(6)
		d := signing.ComputeDomain(phase0.DomainType{0x01, 0, 0, 0}, f.Version, tc.net.GenesisValidatorsRoot())
		req := mustJSON(map[string]any{"type": "GENERIC", "signing_data": map[string]any{"object_root": hexRoot(1), "domain": fmt.Sprintf("%#x", d[:])}})
		if r := tc.sign(0, key, req); r.code != http.StatusBadRequest {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a client without rules with 403", func(t *testing.T) {
		req := attestationRequest(tc.net, 30, 31, 0x74)
		r := post(t, tc.client(0, "intruder"), tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), req)
		if r.code != http.StatusForbidden {
			t.Fatalf("coordinator: %d %s", r.code, r.body)
		}
		r = post(t, tc.client(0, "intruder"), tc.url(0, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), req)
		if r.code != http.StatusForbidden {
			t.Fatalf("participant: %d %s", r.code, r.body)
		}
	})
	t.Run("refuses a client without a certificate", func(t *testing.T) {
		_, err := tc.client(0, "").Post(tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), "application/json", bytes.NewReader(first))
		if err == nil {
			t.Fatal("request without a client certificate was answered")
		}
	})
	t.Run("refuses an unknown key with 404", func(t *testing.T) {
		var unknown api.PublicKey
		unknown[0] = 0xa0
		if r := tc.sign(0, unknown, attestationRequest(tc.net, 30, 31, 0x75)); r.code != http.StatusNotFound {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses malformed requests with 400 naming the field", func(t *testing.T) {
		for name, body := range map[string]string{
			"unknown type":      `{"type":"SIGN_ANYTHING"}`,
			"bad hex":           strings.Replace(string(first), hexRoot(0x51), "0xzz", 1),
			"missing target":    strings.Replace(string(first), `"target"`, `"tarjet"`, 1),
			"not json":          `{`,
			"negative slot":     strings.Replace(string(first), `"slot":"672"`, `"slot":"-1"`, 1),
			"short root length": strings.Replace(string(first), hexRoot(0x51), "0x51", 1),
		} {
			r := tc.sign(0, key, []byte(body))
			if r.code != http.StatusBadRequest {
				t.Errorf("%s: %d %s", name, r.code, r.body)
			}
		}
	})
}

func TestClusterSurvivesFailures(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 2)
	key := tc.keys[0]
	tc.stop(3)
	tc.stop(4)
	req := attestationRequest(tc.net, 40, 41, 0x81)
	tc.checkSigned("two participants down", tc.sign(0, key, req), key, req)

	// Signer 5 comes back; signer 2 is replaced by an impostor holding
	// signer 2's own TLS identity that answers with garbage partials.
	tc.restart(4)
	tc.stop(1)
	stopFake := tc.startGarbageParticipant(1)
	defer stopFake()
	req = attestationRequest(tc.net, 41, 42, 0x82)
	tc.checkSigned("one down, one returning garbage", tc.sign(0, key, req), key, req)

	// Now only signers 1 and 5 are honest: fewer than t, and the error
	// names every participant that gave no share and why.
	tc.stop(2)
	r := tc.sign(0, key, attestationRequest(tc.net, 42, 43, 0x83))
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("fewer than t: %d %s", r.code, r.body)
	}
	// The message groups participants by reason: "1 of 5 signers failed:
	// invalid partial signature (participant 2); 2 of 5 signers failed:
	// ... (participants 3, 4)".
	if !strings.Contains(string(r.body), "2 valid partial signatures, 3 needed") || !strings.Contains(string(r.body), "invalid partial signature (participant 2)") {
		t.Errorf("error does not count the partials or name participant 2's invalid partial: %s", r.body)
	}
	for _, id := range []string{"3", "4"} {
		if !regexp.MustCompile(`\(participants? [0-9, ]*\b` + id + `\b`).Match(r.body) {
			t.Errorf("error does not name participant %s: %s", id, r.body)
		}
	}
}

// startGarbageParticipant serves signer i's participant address with the
// signer's real TLS identity but answers every signing request with a
// well-formed partial signature made by an unrelated key.
func (tc *testCluster) startGarbageParticipant(i int) func() {
	tc.t.Helper()
	s := tc.lc.Signers[i]
	cert := tc.hsmCertificate(i)
	wrong, _ := bls.GenerateSecretKey(rand.Reader)
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := signing.ParseRequest(body)
		if err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		sg, _ := req.Verify(tc.net)
		json.NewEncoder(w).Encode(api.PartialSignature{ParticipantID: api.Uint64(s.ID), SigningRoot: api.Root(sg.SigningRoot), Signature: wrong.Sign(sg.SigningRoot).Bytes()})
	}
	mux.HandleFunc("POST /api/v1/eth2/distributed/sign/{id}", answer)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) })
	ln, err := tls.Listen("tcp", s.Config.Listen.Participant, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		tc.t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return func() { srv.Close() }
}

// hsmCertificate loads signer i's TLS identity from its token.
func (tc *testCluster) hsmCertificate(i int) tls.Certificate {
	tc.t.Helper()
	s := tc.lc.Signers[i]
	chain, err := os.ReadFile(s.Config.TLS.Certificate)
	if err != nil {
		tc.t.Fatal(err)
	}
	tok, uri := openToken(tc.t, s.Config.TLS.Key)
	cert, err := tok.TLSCertificate(context.Background(), uri.ObjectRef(), chain)
	if err != nil {
		tc.t.Fatal(err)
	}
	return cert
}

func TestClusterBatch(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 40)
	ids := make([]string, len(tc.keys))
	for i, k := range tc.keys {
		ids[i] = k.String()
	}
	var att map[string]any
	json.Unmarshal(attestationRequest(tc.net, 50, 51, 0x91), &att)
	body := mustJSON(map[string]any{"identifiers": ids, "signing_request": att})
	r := post(t, tc.client(0, "vc-1"), tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign"), body)
	if r.code != http.StatusOK {
		t.Fatalf("%d %s", r.code, r.body)
	}
	rs, err := api.DecodeBatchResults(r.body)
	if err != nil || len(rs) != len(ids) {
		t.Fatalf("%v %s", err, r.body)
	}
	parsed, _ := signing.ParseRequest(mustJSON(att))
	sg, _ := parsed.Verify(tc.net)
	for i, res := range rs {
		if res.Error != nil || res.Identifier != tc.keys[i] {
			t.Fatalf("item %d: %+v", i, res)
		}
		pk, _ := bls.PublicKeyFromBytes(tc.keys[i][:])
		sig, err := bls.SignatureFromBytes(res.Signature[:])
		if err != nil || !pk.Verify(sg.SigningRoot, sig) {
			t.Fatalf("item %d does not verify", i)
		}
	}
	// A conflicting batch: every item refused with 412, in order.
	json.Unmarshal(attestationRequest(tc.net, 50, 51, 0x92), &att)
	r = post(t, tc.client(1, "vc-1"), tc.url(1, appliance.ListenerCoordinator, "/api/v1/eth2/sign"), mustJSON(map[string]any{"identifiers": ids, "signing_request": att}))
	rs, err = api.DecodeBatchResults(r.body)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range rs {
		if res.Error == nil || res.Error.Code != 412 {
			t.Fatalf("item %d of a conflicting batch: %+v", i, res)
		}
	}
}
