package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rampart-signer/rampart/tss"
)

// healthState is the outcome of the last probe of every signer.
type healthState struct {
	mu     sync.Mutex
	at     time.Time // of the last probe; zero before the first
	report HealthReport
	ok     bool
}

func newHealthState() *healthState {
	return &healthState{report: HealthReport{Status: "DOWN", Checks: map[string]CheckReport{
		"signers": {Status: "STARTING"}, "accounts": {Status: "STARTING"},
	}}}
}

// HealthReport is the body of /healthcheck.
type HealthReport struct {
	// Status is UP or DOWN.
	Status string                 `json:"status"`
	Checks map[string]CheckReport `json:"checks"`
	// Signers is every signer's answer to the last probe, by participant
	// id.
	Signers map[string]CheckReport `json:"signers,omitempty"`
}

// CheckReport is one check of a HealthReport: its Status (UP, DOWN,
// STARTING), what it found when UP, and why it is not when DOWN.
type CheckReport struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Bounds of the report: a signer's error, and the signers named in the
// signers check.
const (
	maxProbeError = 200
	maxDownListed = 8
)

// Probe asks every signer's /healthcheck at once, each call bounded by
// cluster.timeout, and recomputes the gateway's health from the answers
// and the accounts the coordinator knows: healthy when at least one
// account is served, every account listed in the configuration is held by
// the cluster, and for every account at least its threshold of members
// answered and listed the account to the gateway at discovery.
func (g *Gateway) Probe(ctx context.Context) {
	errs := make([]error, len(g.signers))
	var wg sync.WaitGroup
	for i, s := range g.signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, g.cfg.Cluster.Timeout)
			defer cancel()
			errs[i] = s.Healthcheck(pctx)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	up := map[tss.ID]bool{}
	r := HealthReport{Status: "UP", Checks: map[string]CheckReport{}, Signers: map[string]CheckReport{}}
	var down []string
	for i, s := range g.signers {
		id := s.ID()
		if errs[i] == nil {
			up[id] = true
			r.Signers[id.String()] = CheckReport{Status: "UP"}
			g.m.signerUp.WithLabelValues(id.String()).Set(1)
			continue
		}
		msg := shorten(errs[i].Error(), maxProbeError)
		r.Signers[id.String()] = CheckReport{Status: "DOWN", Error: msg}
		g.m.signerUp.WithLabelValues(id.String()).Set(0)
		down = append(down, fmt.Sprintf("signer %s: %s", id, msg))
	}
	r.Checks["accounts"], r.Checks["signers"] = g.judge(up, down)
	ok := true
	for _, c := range r.Checks {
		if c.Status != "UP" {
			ok = false
		}
	}
	if !ok {
		r.Status = "DOWN"
	}
	g.health.mu.Lock()
	was := g.health.ok
	g.health.at, g.health.report, g.health.ok = g.now(), r, ok
	g.health.mu.Unlock()
	if ok {
		g.m.healthy.Set(1)
	} else {
		g.m.healthy.Set(0)
	}
	if ok != was {
		if ok {
			g.log.Info("healthy", "signers", r.Checks["signers"].Detail)
		} else {
			g.log.Warn("unhealthy", "accounts", r.Checks["accounts"].Error, "signers", r.Checks["signers"].Error)
		}
	}
}

// judge decides the accounts and signers checks from the signers that
// answered.
func (g *Gateway) judge(up map[tss.ID]bool, down []string) (accounts, signers CheckReport) {
	served := 0
	below := 0
	// The account with the smallest margin over its threshold names the
	// numbers of the signers check.
	worst := struct{ answer, members, threshold int }{-1, 0, 0}
	for _, k := range g.coord.PublicKeys() {
		if !g.granted(k) {
			continue
		}
		info, ok := g.coord.Account(k)
		if !ok {
			continue
		}
		served++
		// A member counts when it answered the probe and discovery has
		// its component key: a signer that is up but refuses to list
		// the account to this gateway cannot sign for it either.
		answer := 0
		for _, m := range info.Known {
			if up[m] {
				answer++
			}
		}
		if answer < info.Threshold {
			below++
		}
		if worst.answer < 0 || answer-info.Threshold < worst.answer-worst.threshold {
			worst.answer, worst.members, worst.threshold = answer, len(info.Members), info.Threshold
		}
	}
	g.m.accounts.Set(float64(served))
	g.m.short.Set(float64(below))

	accounts = CheckReport{Status: "UP", Detail: fmt.Sprintf("%d accounts", served)}
	var missing []string
	for k := range g.accounts {
		if _, ok := g.coord.Account(k); !ok {
			missing = append(missing, k.String())
		}
	}
	sort.Strings(missing)
	switch {
	case served == 0:
		accounts = CheckReport{Status: "DOWN", Error: "no account discovered: no signer has listed an account this gateway may use (is its identity in the signers' authorization rules?)"}
	case len(missing) > 0:
		accounts = CheckReport{Status: "DOWN", Error: fmt.Sprintf("%d accounts of the configuration are not held by the cluster for this gateway, first %s", len(missing), missing[0])}
	}

	if worst.answer < 0 {
		n := len(up)
		return accounts, CheckReport{Status: "DOWN", Error: fmt.Sprintf("%d of %d signers answer; no account to compare with a threshold", n, len(g.signers))}
	}
	detail := fmt.Sprintf("%d of %d signers answer; %d needed", worst.answer, worst.members, worst.threshold)
	if below == 0 {
		return accounts, CheckReport{Status: "UP", Detail: detail}
	}
	msg := fmt.Sprintf("%s, for %d of %d accounts", detail, below, served)
	if len(down) > maxDownListed {
		down = append(down[:maxDownListed], fmt.Sprintf("and %d more", len(down)-maxDownListed))
	}
	if len(down) > 0 {
		msg += ": " + strings.Join(down, "; ")
	}
	return accounts, CheckReport{Status: "DOWN", Error: msg}
}

// staleAfter is how old the last probe may be before the health it found
// no longer counts: a stuck prober must not keep reporting UP.
func (g *Gateway) staleAfter() time.Duration {
	return 3*g.cfg.Health.Interval + g.cfg.Cluster.Timeout
}

// Health returns the current report and whether the gateway is healthy.
func (g *Gateway) Health() (HealthReport, bool) {
	g.health.mu.Lock()
	defer g.health.mu.Unlock()
	r, ok := g.health.report, g.health.ok
	if !g.health.at.IsZero() {
		if age := g.now().Sub(g.health.at); age > g.staleAfter() {
			checks := map[string]CheckReport{}
			for k, v := range r.Checks {
				checks[k] = v
			}
			checks["probe"] = CheckReport{Status: "DOWN", Error: fmt.Sprintf("last probe %s ago (longer than %s)", age.Round(time.Second), g.staleAfter())}
			r.Checks, r.Status, ok = checks, "DOWN", false
		}
	}
	if ok {
		g.m.healthy.Set(1)
	} else {
		g.m.healthy.Set(0)
	}
	return r, ok
}

func (g *Gateway) healthcheck(w http.ResponseWriter, _ *http.Request) {
	r, ok := g.Health()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

// shorten cuts s to at most n bytes on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
