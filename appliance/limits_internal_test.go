package appliance

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

func exampleAppliance(t *testing.T, edit func(*Config)) *Appliance {
	t.Helper()
	data, err := os.ReadFile("signer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestClientFloodingRequestsGets429: a client with more requests in flight
// than listen.limits.max_in_flight_per_client is answered 429 with
// Retry-After at once, before its body; others are not affected; its place
// comes back when a request ends.
func TestClientFloodingRequestsGets429(t *testing.T) {
	a := exampleAppliance(t, func(c *Config) { c.Listen.Limits.MaxInFlightPerClient = 2 })
	release := make(chan struct{})
	var entered sync.WaitGroup
	g := a.newGate(ListenerCoordinator, func(r *http.Request) (string, bool) {
		return r.Header.Get("X-Client"), true
	})
	h := a.admit(g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			entered.Done()
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	serve := func(client string, hold bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/eth2/sign", strings.NewReader("{}"))
		r.Header.Set("X-Client", client)
		if hold {
			r.Header.Set("X-Hold", "1")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var done sync.WaitGroup
	entered.Add(2)
	for range 2 {
		done.Add(1)
		go func() { defer done.Done(); serve("vc-1", true) }()
	}
	entered.Wait()
	w := serve("vc-1", false)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "max_in_flight_per_client") {
		t.Fatalf("third request in flight: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := serve("vc-2", false); w.Code != http.StatusOK {
		t.Fatalf("another client: %d %s", w.Code, w.Body)
	}
	close(release)
	done.Wait()
	if w := serve("vc-1", false); w.Code != http.StatusOK {
		t.Fatalf("after the earlier requests ended: %d %s", w.Code, w.Body)
	}
	if len(g.inFlight.n) != 0 {
		t.Fatalf("nothing in flight, but the table keeps %v", g.inFlight.n)
	}
}

// TestInFlightTableIsBounded: the table of clients in flight never holds
// more names than its bound, and forgets names with nothing in flight.
func TestInFlightTableIsBounded(t *testing.T) {
	f := newInFlight(1, 2)
	for _, c := range []string{"a", "b"} {
		if ok, err := f.acquire(c); !ok || err != nil {
			t.Fatalf("%s: %v %v", c, ok, err)
		}
	}
	if ok, err := f.acquire("c"); ok || !errors.Is(err, errTooManyNames) {
		t.Fatalf("third name: %v %v", ok, err)
	}
	if ok, err := f.acquire("a"); ok || err != nil {
		t.Fatalf("second request of a: %v %v", ok, err)
	}
	f.release("a")
	f.release("b")
	if len(f.n) != 0 {
		t.Fatalf("table keeps %v", f.n)
	}
}

// TestClientWithNoRoleIsRefusedBeforeTheHandler: admit answers 403 with
// Connection: close and never calls the handler, which would read the body.
func TestClientWithNoRoleIsRefusedBeforeTheHandler(t *testing.T) {
	a := exampleAppliance(t, nil)
	called := false
	h := a.admit(a.newGate(ListenerParticipant, func(*http.Request) (string, bool) { return "intruder", false }),
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/eth2/distributed/sign", strings.NewReader("{")))
	if called || w.Code != http.StatusForbidden || w.Header().Get("Connection") != "close" || !strings.Contains(w.Body.String(), `intruder\" has no role on the participant listener`) {
		t.Fatalf("called=%v %d %v %s", called, w.Code, w.Header(), w.Body)
	}
}

// TestRolesOfTheListeners: who may reach each listener at all.
func TestRolesOfTheListeners(t *testing.T) {
	a := exampleAppliance(t, nil)
	named := func(name string) clientNamer { return func(*http.Request, *policy) string { return name } }
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"vc-1.example.internal", true},
		{"signer-2.example.internal", true},
		{"someone-else", false},
		{"", false},
	} {
		if _, got := a.authz.coordinatorRole(named(tc.name))(r); got != tc.want {
			t.Errorf("coordinator role of %q: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, ok := operationsRole(r); !ok {
		t.Error("operations listener refuses")
	}
	if _, ok := a.authz.participantRole(r); ok {
		t.Error("a request without a certificate has a role on the participant listener")
	}
}

func TestLimitsConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*LimitsConfig)
	}{
		{"listen.limits.max_connections.coordinator", func(l *LimitsConfig) { l.MaxConnections.Coordinator = 0 }},
		{"listen.limits.max_connections.operations", func(l *LimitsConfig) { l.MaxConnections.Operations = -1 }},
		{"listen.limits.max_in_flight_per_client", func(l *LimitsConfig) { l.MaxInFlightPerClient = 0 }},
		{"listen.limits.read_body_timeout", func(l *LimitsConfig) { l.ReadBodyTimeout = 0 }},
		{"listen.limits.read_header_timeout", func(l *LimitsConfig) { l.ReadHeaderTimeout = -1 }},
		{"listen.limits.admin_timeout", func(l *LimitsConfig) { l.AdminTimeout = 0 }},
		{"listen.limits.max_header_bytes", func(l *LimitsConfig) { l.MaxHeaderBytes = 100 }},
		{"listen.limits.http2_max_concurrent_streams", func(l *LimitsConfig) { l.HTTP2MaxConcurrentStreams = 0 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			l := DefaultLimits()
			tc.edit(&l)
			if err := l.validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("%v", err)
			}
		})
	}
	if err := (&LimitsConfig{}).validate(); err == nil {
		t.Fatal("zero limits accepted")
	}
	l := DefaultLimits()
	if err := l.validate(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteDeadlineCoversTheLongestCoordination: the write deadline of a
// signing request is derived from the cluster's timing, so no coordination
// the configuration allows is cut.
func TestWriteDeadlineCoversTheLongestCoordination(t *testing.T) {
	a := exampleAppliance(t, nil)
	c := a.cfg
	got := c.signingWriteTimeout()
	if min := c.Listen.Limits.ReadBodyTimeout + 2*c.Cluster.Timeout + c.Cluster.HedgeDelay; got <= min {
		t.Fatalf("write deadline %v does not exceed body + coordination %v", got, min)
	}
	if !isAdminPath("/rampart/v1/accounts") || !isAdminPath("/eth/v1/keystores") || isAdminPath("/api/v1/eth2/sign") {
		t.Fatal("route classes")
	}
}
