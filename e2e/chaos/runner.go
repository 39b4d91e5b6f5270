package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Plan says how long each scenario holds its fault.
type Plan struct {
	// Mode names the plan in the report ("ci" or "full").
	Mode string
	// WarmupEpochs pass after genesis before anything is judged (the
	// clients start, the chain settles).
	WarmupEpochs uint64
	// BaselineSlots is the window of the fault-free baseline.
	BaselineSlots uint64
	// HoldSlots is how long each fault lasts.
	HoldSlots uint64
	// Only, when set, runs just these scenarios (the baseline always).
	Only []string
}

// CIPlan fits CI's budget: one epoch per fault.
func CIPlan() Plan {
	return Plan{Mode: "ci", WarmupEpochs: 2, BaselineSlots: 8, HoldSlots: 8}
}

// FullPlan holds each fault for three epochs.
func FullPlan() Plan {
	return Plan{Mode: "full", WarmupEpochs: 2, BaselineSlots: 16, HoldSlots: 24}
}

// Result is one scenario's outcome.
type Result struct {
	Scenario Scenario
	// From and To bound the judged window of slots, [From, To): from the
	// fault until the stack was whole again.
	From, To uint64
	// HealSlot is the slot in which the fault ended.
	HealSlot uint64
	Tally    Tally
	// Control is the control group's tally over the same window: the
	// validators with local keys (ChainFacts.Control).
	Control Tally
	// Metrics are the validator clients' metrics over the window, summed
	// over both instances.
	Metrics Samples
	Obs     *Observation
	Verdict Verdict
	// Err is a failure of the harness itself (inject, heal, recovery).
	Err error
	// Load is the machine's 1-minute load average at the window's start
	// and end (the machine is shared: it says how busy it was).
	Load [2]float64
	// Throttled is how long each host's processes waited for their CPU
	// quota during the window.
	Throttled map[string]time.Duration
}

// loadAverage reads the 1-minute load average (0 if unreadable).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscanf(string(b), "%g", &v)
	return v
}

// cpuStats reads every host's cgroup CPU accounting.
func (s *Stack) cpuStats() map[string]CPUStat {
	out := map[string]CPUStat{}
	for name, g := range s.Launcher.Procs {
		if st, err := s.cgroups.Stat(g); err == nil {
			out[name] = st
		}
	}
	return out
}

// slotAt returns the slot at t.
func (s *Stack) slotAt(t time.Time) uint64 {
	d := t.Sub(s.Devnet.GenesisTime)
	if d < 0 {
		return 0
	}
	return uint64(d / s.Devnet.SlotDuration())
}

// waitSlot waits until slot has begun, plus a little so duties are under
// way.
func (s *Stack) waitSlot(ctx context.Context, slot uint64) error {
	at := s.Devnet.GenesisTime.Add(time.Duration(slot)*s.Devnet.SlotDuration() + 100*time.Millisecond)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
		return nil
	}
}

// metricsTracker sums validator-client metrics over a window across
// restarts: a restarted process counts from zero.
type metricsTracker struct {
	last  map[string]Samples
	pid   map[string]int
	total Samples
}

func newMetricsTracker() *metricsTracker {
	return &metricsTracker{last: map[string]Samples{}, pid: map[string]int{}, total: Samples{}}
}

// checkpoint scrapes each running client and adds what it counted since
// the previous checkpoint.
func (m *metricsTracker) checkpoint(ctx context.Context, vcs []*VC) {
	for _, v := range vcs {
		pid := v.Proc.PID()
		if pid == 0 {
			continue
		}
		cur, err := v.Scrape(ctx)
		if err != nil {
			continue
		}
		if prev, ok := m.last[v.Name]; ok && m.pid[v.Name] == pid {
			m.total.Add(cur.Sub(prev))
		} else if ok {
			m.total.Add(cur) // restarted: everything since its start
		}
		m.last[v.Name], m.pid[v.Name] = cur, pid
	}
}

// reset starts a new window from the last checkpoint.
func (m *metricsTracker) reset() { m.total = Samples{} }

// Whole waits until the stack is back to normal: every signer healthy,
// both beacon nodes serving, both validator clients serving metrics.
func (s *Stack) Whole(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for id := range s.Signers {
		if err := s.WaitSignerHealthy(ctx, id, time.Until(deadline)); err != nil {
			return err
		}
	}
	for _, b := range s.Beacons {
		if err := s.waitBeacon(ctx, b, time.Until(deadline)); err != nil {
			return err
		}
	}
	for _, v := range s.VCs {
		if err := s.waitVC(ctx, v, time.Until(deadline)); err != nil {
			return err
		}
	}
	return nil
}

// RunScenarios runs the plan's scenarios one after the other on the
// running stack, each from a slot boundary, and returns their windows
// (judged later, once the chain has the rewards).
func (s *Stack) RunScenarios(ctx context.Context, plan Plan) ([]*Result, error) {
	all := Scenarios(s.Topo)
	var run []Scenario
	for _, sc := range all {
		if sc.Name == "baseline" || len(plan.Only) == 0 || contains(plan.Only, sc.Name) {
			run = append(run, sc)
		}
	}
	spe := s.Devnet.Config.SlotsPerEpoch
	start := plan.WarmupEpochs * spe
	if cur := s.slotAt(time.Now()) + 1; cur > start {
		start = cur
	}
	s.logf("waiting for slot %d (epoch %d) to start the scenarios", start, start/spe)
	if err := s.waitSlot(ctx, start); err != nil {
		return nil, err
	}
	tracker := newMetricsTracker()
	tracker.checkpoint(ctx, s.VCs)
	var results []*Result
	next := start
	for _, sc := range run {
		r := &Result{Scenario: sc, From: next, Obs: &Observation{}}
		results = append(results, r)
		if err := s.waitSlot(ctx, next); err != nil {
			return results, err
		}
		tracker.checkpoint(ctx, s.VCs)
		tracker.reset()
		r.Load[0] = loadAverage()
		cpuBefore := s.cpuStats()
		hold := plan.HoldSlots
		if sc.Name == "baseline" {
			hold = plan.BaselineSlots
		}
		s.logf("scenario %s: %s (slots %d-%d)", sc.Name, sc.Title, next, next+hold-1)
		wctx, stopWatch := context.WithCancel(ctx)
		watchDone := make(chan struct{})
		go func() {
			watchHealth(wctx, s, sc, r.Obs, s.Devnet.SlotDuration()/2)
			close(watchDone)
		}()
		if sc.Inject != nil {
			if err := sc.Inject(ctx, s, r.Obs); err != nil {
				r.Err = fmt.Errorf("inject: %w", err)
				s.logf("scenario %s: inject failed: %v", sc.Name, err)
			}
		}
		tracker.checkpoint(ctx, s.VCs)
		if err := s.waitSlot(ctx, next+hold); err != nil {
			stopWatch()
			return results, err
		}
		tracker.checkpoint(ctx, s.VCs)
		stopWatch()
		<-watchDone
		r.HealSlot = s.slotAt(time.Now())
		if sc.Heal != nil {
			if err := sc.Heal(ctx, s, r.Obs); err != nil {
				r.Err = errorsJoin(r.Err, fmt.Errorf("heal: %w", err))
				s.logf("scenario %s: heal failed: %v", sc.Name, err)
			}
		}
		if err := s.Whole(ctx, 2*time.Minute); err != nil {
			r.Err = errorsJoin(r.Err, fmt.Errorf("recovery: %w", err))
			s.logf("scenario %s: the stack did not recover: %v", sc.Name, err)
			return results, r.Err
		}
		next = s.slotAt(time.Now()) + 1
		if sc.Heal == nil {
			next = r.From + hold
		}
		r.To = next
		if err := s.waitSlot(ctx, next); err != nil {
			return results, err
		}
		tracker.checkpoint(ctx, s.VCs)
		r.Metrics = tracker.total
		r.Load[1] = loadAverage()
		r.Throttled = map[string]time.Duration{}
		for name, st := range s.cpuStats() {
			if d := st.ThrottledTime - cpuBefore[name].ThrottledTime; d > 0 {
				r.Throttled[name] = d
			}
		}
		for _, n := range r.Obs.Notes {
			s.logf("  %s", n)
		}
		if h := r.Obs.HealthSummary(); h != "" {
			s.logf("  health seen: %s", h)
		}
	}
	return results, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errorsJoin(a, b error) error {
	if a == nil {
		return b
	}
	return fmt.Errorf("%w; %w", a, b)
}

// healthStatus summarises a /healthcheck body: the overall status and
// the checks that are not UP.
func healthStatus(body string) string {
	var r struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"checks"`
	}
	if json.Unmarshal([]byte(body), &r) != nil {
		return strings.TrimSpace(tailString(body, 80))
	}
	var bad []string
	for name, c := range r.Checks {
		if c.Status != "UP" {
			bad = append(bad, name+" "+c.Status)
		}
	}
	sort.Strings(bad)
	if len(bad) == 0 {
		return r.Status
	}
	return r.Status + " (" + strings.Join(bad, ", ") + ")"
}
