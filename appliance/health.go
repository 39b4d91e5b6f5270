package appliance

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthState collects the start-up and run-time checks behind
// /healthcheck. Every check starts pending; the signer is ready when none
// is pending or down. A degraded check (it works, but needs attention, such
// as a filling disk) is reported without taking readiness away.
type healthState struct {
	mu       sync.Mutex
	checks   map[string]error
	seen     map[string]bool
	degraded map[string]string
	// details are facts shown with the checks that do not make the signer
	// unhealthy (pending destructions of removed shares).
	details map[string]any
}

var healthChecks = []string{"hsm", "shares", "slashing_db", "audit", "disk", "ready"}

// readinessOnly checks take readiness away when down but do not stop the
// watchdog: a restart would not give a full disk any space back, and the
// running signer logs in to its HSM again by itself once the token is
// back (a restart without the token would only fail to start).
var readinessOnly = map[string]bool{"disk": true, "hsm": true}

func newHealthState() *healthState {
	h := &healthState{checks: map[string]error{}, seen: map[string]bool{}, degraded: map[string]string{}, details: map[string]any{}}
	return h
}

// detail sets a fact shown in the report.
func (h *healthState) detail(name string, v any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.details[name] = v
}

// set marks a check passed (nil) or down.
func (h *healthState) set(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = err
	h.seen[name] = true
	delete(h.degraded, name)
}

// degrade marks a check passed but degraded, saying why.
func (h *healthState) degrade(name, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = nil
	h.seen[name] = true
	h.degraded[name] = why
}

// message is a check's error or degradation, for logs.
func (h *healthState) message(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checks[name]; err != nil {
		return err.Error()
	}
	return h.degraded[name]
}

// alive reports whether every check but the readiness-only ones was seen
// and is not down: what the watchdog pings for.
func (h *healthState) alive() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range healthChecks {
		if readinessOnly[c] {
			continue
		}
		if !h.seen[c] || h.checks[c] != nil {
			return false
		}
	}
	return true
}

type healthReport struct {
	Status  string                 `json:"status"`
	Checks  map[string]checkReport `json:"checks"`
	Details map[string]any         `json:"details,omitempty"`
	// Quorum is whether the cluster can sign, reported apart: it never
	// changes Status, which is whether this signer can sign.
	Quorum *quorumReport `json:"quorum,omitempty"`
}

type checkReport struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// report is /healthcheck's body: each check UP, DEGRADED, DOWN or
// STARTING, and the whole DOWN if any is down or starting, else DEGRADED if
// any is degraded, else UP. healthy is readiness.
func (h *healthState) report() (healthReport, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := healthReport{Status: "UP", Checks: map[string]checkReport{}}
	if len(h.details) > 0 {
		r.Details = make(map[string]any, len(h.details))
		for k, v := range h.details {
			r.Details[k] = v
		}
	}
	names := append([]string(nil), healthChecks...)
	sort.Strings(names)
	healthy, degraded := true, false
	for _, c := range names {
		switch {
		case !h.seen[c]:
			r.Checks[c] = checkReport{Status: "STARTING"}
			healthy = false
		case h.checks[c] != nil:
			r.Checks[c] = checkReport{Status: "DOWN", Error: h.checks[c].Error()}
			healthy = false
		case h.degraded[c] != "":
			r.Checks[c] = checkReport{Status: "DEGRADED", Error: h.degraded[c]}
			degraded = true
		default:
			r.Checks[c] = checkReport{Status: "UP"}
		}
	}
	switch {
	case !healthy:
		r.Status = "DOWN"
	case degraded:
		r.Status = "DEGRADED"
	}
	return r, healthy
}

// upcheck answers 200 while the process serves HTTP, as Web3Signer's does.
func upcheck(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

func (a *Appliance) healthcheck(w http.ResponseWriter, _ *http.Request) {
	r, ok := a.health.report()
	r.Quorum = a.quorum.get()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

// operationsHandler serves metrics and health in plain HTTP.
func (a *Appliance) operationsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /upcheck", upcheck)
	mux.HandleFunc("GET /healthcheck", a.healthcheck)
	mux.HandleFunc("GET /audit/anchor", a.auditAnchor)
	return mux
}
