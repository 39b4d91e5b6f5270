package chaos

import (
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// Report is what a run found, ready to write.
type Report struct {
	Mode     string
	Date     time.Time
	Commit   string
	Duration time.Duration
	Topology *Topology
	Cgroups  string
	Plan     Plan
	Results  []*Result
	// Approvals holds each signer's lost-approval check.
	Approvals []ApprovalCheck
	// Slashed and PoolSlashings are the chain's state at the end.
	Slashed       []uint64
	PoolSlashings int
	// Epochs is the chain's tally of each judged epoch, for the chart.
	Epochs map[uint64]Tally
	// Tolerance is n-t.
	Tolerance int
	// Justified and Finalized are the chain's checkpoints when the facts
	// were read, LastEpoch the last epoch judged.
	Justified, Finalized, LastEpoch uint64
	// Validators and ClusterValidators are the devnet's validators and
	// how many of them the cluster holds.
	Validators, ClusterValidators int
	// Failures are problems of the run as a whole (a harness error).
	Failures []string
}

// LostApprovals counts the missing records over every signer.
func (r *Report) LostApprovals() int {
	n := 0
	for _, a := range r.Approvals {
		n += len(a.Missing)
	}
	return n
}

// Passed reports whether every scenario passed and nothing failed.
func (r *Report) Passed() bool {
	if len(r.Failures) > 0 {
		return false
	}
	for _, res := range r.Results {
		if !res.Verdict.Pass {
			return false
		}
	}
	return true
}

// SafetyHeld reports whether the run showed nothing unsafe: no slashing on
// the chain or in a pool, no lost approval, and every check that could show
// one was made (no failure of the run as a whole, no scenario the harness
// could not run). Missed duties do not count here.
func (r *Report) SafetyHeld() bool {
	if len(r.Failures) > 0 || len(r.Slashed) > 0 || r.PoolSlashings > 0 || r.LostApprovals() > 0 {
		return false
	}
	for _, res := range r.Results {
		if res.Tally.Slashings > 0 || res.Err != nil {
			return false
		}
	}
	return true
}

// Counts returns how many scenarios passed and failed.
func (r *Report) Counts() (passed, failed int) {
	for _, res := range r.Results {
		if res.Verdict.Pass {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// latency is a window's latency figures in milliseconds.
type latency struct {
	callP50, callP95, callP99 float64
	attP50, attP99            float64
	calls                     float64
}

func windowLatency(m Samples) latency {
	call := m.Histogram("rampart_coordinator_participant_seconds", nil)
	att := m.Histogram("rampart_vc_duty_seconds", map[string]string{"duty": "attestation"})
	return latency{
		callP50: 1000 * call.Quantile(0.50), callP95: 1000 * call.Quantile(0.95), callP99: 1000 * call.Quantile(0.99),
		attP50: 1000 * att.Quantile(0.50), attP99: 1000 * att.Quantile(0.99), calls: call.Count,
	}
}

// discarded lists the coordinator's failures by reason ("invalid_partial
// 64, timeout 12").
func discarded(m Samples) (string, float64) {
	by := m.ByLabel("rampart_coordinator_participant_failures_total", "reason")
	var keys []string
	total := 0.0
	for k, v := range by {
		if v > 0 {
			keys = append(keys, k)
			total += v
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return by[keys[i]] > by[keys[j]] || by[keys[i]] == by[keys[j]] && keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, by[k]))
	}
	if len(parts) == 0 {
		return "0", 0
	}
	return strings.Join(parts, ", "), total
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Markdown renders the report: context, the table, notes, lost approvals.
func (r *Report) Markdown(chart string) string {
	var b strings.Builder
	passed, failed := r.Counts()
	fmt.Fprintf(&b, "Run of %s (`make chaos%s`), commit `%s`, %s, %s: **%d passed, %d failed**.\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 UTC"), map[bool]string{true: "-full", false: ""}[r.Mode == "full"], r.Commit, r.Mode+" plan",
		r.Duration.Round(time.Second), passed, failed)
	fmt.Fprintf(&b, "Each fault held %d slots (3 s each, 8 per epoch); the baseline %d. A window runs from the fault until the stack was whole again; "+
		"duties of the cluster's %d validators (of the devnet's %d) are judged from the chain (beacon node 2's API). CPU quotas on cgroup %s.\n\n",
		r.Plan.HoldSlots, r.Plan.BaselineSlots, r.ClusterValidators, r.Validators, r.Cgroups)
	b.WriteString("The control group is the devnet's other validators, whose keys are local to Prysm's validator client beside beacon node 2 and which no fault touches: " +
		"what they miss in a window is what the machine and the chain cost any validator then. A scenario within tolerance passes with at most 1% of its duties missed beyond the control group's share.\n\n")
	b.WriteString("| scenario | signers hit | slots | duties | missed | missed % | control missed % | attestations | blocks | sync msgs | slashings | signer call p50 / p95 / p99 ms | attestation p50 / p99 ms | partials discarded (coordinator) | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, res := range r.Results {
		t := res.Tally
		lat := windowLatency(res.Metrics)
		disc, _ := discarded(res.Metrics)
		verdict := "pass"
		switch {
		case !res.Verdict.Pass && len(res.Verdict.Reasons) == 0:
			verdict = "**not judged**: the run failed before the chain was read"
		case !res.Verdict.Pass:
			verdict = "**FAIL**: " + strings.Join(res.Verdict.Reasons, "; ")
		}
		slots := fmt.Sprintf("%d-%d", res.From, res.To-1)
		if res.To <= res.From {
			slots = fmt.Sprintf("%d-(aborted)", res.From)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %.2f | %.2f | %d/%d | %d/%d | %d/%d | %d | %s / %s / %s | %s / %s | %s | %s |\n",
			res.Scenario.Name, res.Scenario.Affected, slots, t.Duties(), t.Missed(), 100*t.MissedShare(), 100*res.Control.MissedShare(),
			t.AttestationsIncluded, t.Attestations, t.ProposalsIncluded, t.Proposals, t.SyncIncluded, t.SyncMessages, t.Slashings,
			ms(lat.callP50), ms(lat.callP95), ms(lat.callP99), ms(lat.attP50), ms(lat.attP99), disc, verdict)
	}
	b.WriteString("\n")
	if chart != "" {
		fmt.Fprintf(&b, "![duties missed and signer latency per scenario](%s)\n\n", chart)
	}
	b.WriteString("What each scenario did and what the harness saw beside the chain:\n\n")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "- **%s**: %s.", res.Scenario.Name, res.Scenario.Title)
		for _, n := range res.Obs.Notes {
			fmt.Fprintf(&b, " %s.", strings.TrimSuffix(n, "."))
		}
		fmt.Fprintf(&b, " Load average %.1f at the start, %.1f at the end.", res.Load[0], res.Load[1])
		if th := throttledSummary(res.Throttled); th != "" {
			fmt.Fprintf(&b, " Waiting for the CPU quota: %s.", th)
		}
		if h := res.Obs.HealthSummary(); h != "" {
			fmt.Fprintf(&b, " Health answers sampled every half slot: %s.", h)
		}
		t := res.Tally
		if t.Attestations > 0 {
			fmt.Fprintf(&b, " Timely source %d/%d, timely head %d/%d.", t.SourceTimely, t.Attestations, t.HeadTimely, t.Attestations)
		}
		if t.Unknown > 0 {
			fmt.Fprintf(&b, " %d attestation duties without rewards from the node (not counted).", t.Unknown)
		}
		if res.Err != nil {
			fmt.Fprintf(&b, " Harness error: %v.", res.Err)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nLost approvals (a partial signature for a block or an attestation in a signer's audit log whose record its slashing protection database no longer holds, checked after the run):\n\n")
	b.WriteString("| signer | slashable partials in the audit log | missing from the database: lost | missing, recorded just before a kill or a failed write: never released |\n|---|---|---|---|\n")
	for _, a := range r.Approvals {
		fmt.Fprintf(&b, "| %d | %d | %d | %d |\n", a.Signer, a.Partials, len(a.Missing), len(a.Unreleased))
	}
	fmt.Fprintf(&b, "\nSlashed validators at the end: %d; slashings in the beacon nodes' pools: %d. The chain had justified epoch %d and finalised epoch %d when it was read (last epoch judged: %d).\n",
		len(r.Slashed), r.PoolSlashings, r.Justified, r.Finalized, r.LastEpoch)
	if len(r.Failures) > 0 {
		b.WriteString("\nRun failures:\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}

// SVG draws two panels per scenario row: the share of duties missed (with
// the 1% bar) and the signer call latency (p50 and p99, log scale).
func (r *Report) SVG() string {
	const (
		rowH    = 26
		top     = 56
		labelW  = 170
		panelW  = 300
		gap     = 40
		width   = labelW + 2*panelW + gap + 20
		maxMiss = 0.05 // 5%: the panel's right edge
	)
	height := top + rowH*len(r.Results) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="14" font-weight="bold">Rampart 3-of-5 over three sites: %s plan, %s, commit %s</text>`+"\n",
		html.EscapeString(r.Mode), r.Date.UTC().Format("2006-01-02"), html.EscapeString(r.Commit))
	x1, x2 := labelW, labelW+panelW+gap
	fmt.Fprintf(&b, `<text x="%d" y="44">duties missed (0 to 5%%; red line: the 1%% bar)</text>`+"\n", x1)
	fmt.Fprintf(&b, `<text x="%d" y="44">signer call latency, ms (log; grey p50, blue p99)</text>`+"\n", x2)
	// Latency axis: 1 ms to 10 s, log.
	logX := func(v float64) float64 {
		if math.IsNaN(v) || v <= 1 {
			return 0
		}
		return math.Min(1, math.Log10(v)/4) * panelW
	}
	for _, tick := range []float64{1, 10, 100, 1000, 10000} {
		x := float64(x2) + logX(tick)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top-4, x, top+rowH*len(r.Results))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%g</text>`+"\n", x, top+rowH*len(r.Results)+14, tick)
	}
	for _, p := range []float64{0, 0.01, 0.02, 0.03, 0.04, 0.05} {
		x := float64(x1) + p/maxMiss*panelW
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top-4, x, top+rowH*len(r.Results))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%g%%</text>`+"\n", x, top+rowH*len(r.Results)+14, 100*p)
	}
	for i, res := range r.Results {
		y := top + i*rowH
		fill := "#2a7"
		if !res.Verdict.Pass {
			fill = "#c33"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+15, html.EscapeString(res.Scenario.Name))
		share := res.Tally.MissedShare()
		w := math.Min(share/maxMiss, 1) * panelW
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x1, y+4, math.Max(w, 1), rowH-8, fill)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333">%.2f%% (%d/%d)</text>`+"\n", float64(x1)+math.Max(w, 1)+4, y+15, 100*share, res.Tally.Missed(), res.Tally.Duties())
		lat := windowLatency(res.Metrics)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#36c"/>`+"\n", x2, y+4, logX(lat.callP99), rowH-8)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#aaa"/>`+"\n", x2, y+8, logX(lat.callP50), rowH-16)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333">%s / %s</text>`+"\n", float64(x2)+logX(lat.callP99)+4, y+15, ms(lat.callP50), ms(lat.callP99))
	}
	x := float64(x1) + MaxMissedShare/maxMiss*panelW
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-dasharray="4 3"/>`+"\n", x, top-4, x, top+rowH*len(r.Results))
	b.WriteString("</svg>\n")
	return b.String()
}

// Markers delimit a plan's generated section in docs/reliability.md.
func markers(mode string) (string, string) {
	return "<!-- chaos:" + mode + ":begin -->", "<!-- chaos:" + mode + ":end -->"
}

// UpdateDoc replaces the plan's generated section of the document at path
// with section (the section must already have its markers).
func UpdateDoc(path, mode, section string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := markers(mode)
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return errors.New("chaos: " + path + " has no " + begin + " ... " + end + " section")
	}
	out := s[:i+len(begin)] + "\n" + section + "\n" + s[j:]
	return os.WriteFile(path, []byte(out), 0o644)
}

// throttledSummary lists the hosts that waited for their quota, longest
// first.
func throttledSummary(th map[string]time.Duration) string {
	var names []string
	for n := range th {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return th[names[i]] > th[names[j]] || th[names[i]] == th[names[j]] && names[i] < names[j]
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f s", n, th[n].Seconds()))
	}
	return strings.Join(parts, ", ")
}
