package appliance

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthState collects the start-up and run-time checks behind
// /healthcheck. Every check starts pending; the signer is healthy when all
// passed.
type healthState struct {
	mu     sync.Mutex
	checks map[string]error
	seen   map[string]bool
	// details are facts shown with the checks that do not make the signer
	// unhealthy (pending destructions of removed shares).
	details map[string]any
}

var healthChecks = []string{"hsm", "shares", "slashing_db", "audit", "ready"}

func newHealthState() *healthState {
	h := &healthState{checks: map[string]error{}, seen: map[string]bool{}, details: map[string]any{}}
	return h
}

// detail sets a fact shown in the report.
func (h *healthState) detail(name string, v any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.details[name] = v
}

func (h *healthState) set(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = err
	h.seen[name] = true
}

func (h *healthState) ok() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range healthChecks {
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
}

type checkReport struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

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
	healthy := true
	for _, c := range names {
		switch {
		case !h.seen[c]:
			r.Checks[c] = checkReport{Status: "STARTING"}
			healthy = false
		case h.checks[c] != nil:
			r.Checks[c] = checkReport{Status: "DOWN", Error: h.checks[c].Error()}
			healthy = false
		default:
			r.Checks[c] = checkReport{Status: "UP"}
		}
	}
	if !healthy {
		r.Status = "DOWN"
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
	return mux
}
