package chaos

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	m, _ := ParseMetrics(strings.NewReader(exposition))
	ok := &Result{Scenario: Scenario{Name: "signer-kill", Title: "signer 2 killed", Affected: 1}, From: 16, To: 26, Metrics: m, Obs: &Observation{},
		Tally: Tally{Proposals: 10, ProposalsIncluded: 10, Attestations: 80, AttestationsIncluded: 80}, Verdict: Verdict{Pass: true}}
	ok.Obs.Notef("restarted, healthy 1.8s after the restart")
	ok.Obs.sawHealth("signer 2: unreachable")
	bad := &Result{Scenario: Scenario{Name: "site-partition", Title: "site a cut off", Affected: 2}, From: 26, To: 36, Metrics: Samples{}, Obs: &Observation{},
		Tally: Tally{Proposals: 10, ProposalsIncluded: 8, Attestations: 80, AttestationsIncluded: 70}}
	bad.Verdict = Decide(bad.Tally, Tally{}, 2, 2, 0, 0)
	return &Report{Mode: "ci", Date: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC), Commit: "abc<def", Duration: 9 * time.Minute, Cgroups: "v1",
		Plan: CIPlan(), Results: []*Result{ok, bad}, Approvals: []ApprovalCheck{{Signer: 1, Partials: 10}}, Tolerance: 2}
}

func TestReportTableNamesEveryScenarioAndItsVerdict(t *testing.T) {
	r := sampleReport()
	md := r.Markdown("reliability-ci.svg")
	for _, want := range []string{"| signer-kill | 1 | 16-25 | 90 | 0 | 0.00 | 0.00 | 80/80 | 10/10 |", "invalid_partial 7, timeout 2",
		"**FAIL**: missed 12 of 90", "**1 passed, 1 failed**", "![duties missed", "| 1 | 10 | 0 |", "signer 2: unreachable ×1"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if r.Passed() {
		t.Error("a report with a failed scenario passed")
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	svg := sampleReport().SVG()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
	}
	if !strings.Contains(svg, "abc&lt;def") {
		t.Error("the commit was not escaped")
	}
}

func TestUpdateDocReplacesOnlyItsPlansSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reliability.md")
	doc := "# R\n\n<!-- chaos:ci:begin -->\nold ci\n<!-- chaos:ci:end -->\n\n<!-- chaos:full:begin -->\nold full\n<!-- chaos:full:end -->\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(path, "ci", "new ci"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "<!-- chaos:ci:begin -->\nnew ci\n<!-- chaos:ci:end -->") || !strings.Contains(string(b), "old full") || strings.Contains(string(b), "old ci") {
		t.Errorf("document after the update:\n%s", b)
	}
	if err := UpdateDoc(path, "nightly", "x"); err == nil {
		t.Error("a plan without a section was accepted")
	}
}

// TestSafetyGateFailsOnlyOnWhatIsUnsafe: `chaos run --gate safety` (CI)
// lets missed duties through but never a slashing, a lost approval or a
// scenario the harness could not run.
func TestSafetyGateFailsOnlyOnWhatIsUnsafe(t *testing.T) {
	rep := sampleReport()
	if rep.Passed() || !rep.SafetyHeld() {
		t.Fatalf("a scenario that only missed duties: Passed %v SafetyHeld %v, want false, true", rep.Passed(), rep.SafetyHeld())
	}
	for name, spoil := range map[string]func(r *Report){
		"a slashing in a block":       func(r *Report) { r.Results[0].Tally.Slashings = 1 },
		"a validator slashed":         func(r *Report) { r.Slashed = []uint64{7} },
		"a slashing in a pool":        func(r *Report) { r.PoolSlashings = 1 },
		"a lost approval":             func(r *Report) { r.Approvals = []ApprovalCheck{{Missing: make([]string, 1)}} },
		"a harness failure":           func(r *Report) { r.Failures = []string{"lost-approval check: no database"} },
		"a scenario that did not run": func(r *Report) { r.Results[1].Err = os.ErrDeadlineExceeded },
	} {
		r := sampleReport()
		spoil(r)
		if r.SafetyHeld() {
			t.Errorf("%s: SafetyHeld true", name)
		}
	}
}
