package chaos

import (
	"math"
	"strings"
	"testing"
)

const exposition = `# HELP rampart_coordinator_participant_seconds Latency.
# TYPE rampart_coordinator_participant_seconds histogram
rampart_coordinator_participant_seconds_bucket{participant="1",le="0.001"} 0
rampart_coordinator_participant_seconds_bucket{participant="1",le="0.002"} 10
rampart_coordinator_participant_seconds_bucket{participant="1",le="0.004"} 90
rampart_coordinator_participant_seconds_bucket{participant="1",le="+Inf"} 100
rampart_coordinator_participant_seconds_sum{participant="1"} 0.3
rampart_coordinator_participant_seconds_count{participant="1"} 100
rampart_coordinator_participant_seconds_bucket{participant="2",le="0.001"} 0
rampart_coordinator_participant_seconds_bucket{participant="2",le="0.002"} 0
rampart_coordinator_participant_seconds_bucket{participant="2",le="0.004"} 0
rampart_coordinator_participant_seconds_bucket{participant="2",le="+Inf"} 0
rampart_coordinator_participant_failures_total{participant="3",reason="invalid_partial"} 7
rampart_coordinator_participant_failures_total{participant="4",reason="timeout"} 2
rampart_vc_signatures_total{duty="attestation",result="ok"} 5
odd_label{msg="a \"quoted\" value, with a comma"} 1
`

func TestParseMetricsAndHistogramQuantiles(t *testing.T) {
	s, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Histogram("rampart_coordinator_participant_seconds", nil)
	if h.Count != 100 || len(h.Bounds) != 4 || !math.IsInf(h.Bounds[3], 1) {
		t.Fatalf("histogram %+v", h)
	}
	for _, tc := range []struct {
		q, want float64
	}{
		{0.05, 0.0015}, // halfway through the 1-2 ms bucket
		{0.50, 0.003},  // 50th of 100: 40 of the 80 in 2-4 ms
		{0.95, 0.004},  // in +Inf: the highest finite bound
	} {
		if got := h.Quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("q%.2f = %g, want %g", tc.q, got, tc.want)
		}
	}
	if q := s.Histogram("rampart_coordinator_participant_seconds", map[string]string{"participant": "2"}).Quantile(0.5); !math.IsNaN(q) {
		t.Errorf("a histogram without observations gave %g, want NaN", q)
	}
	if got := s.Sum("rampart_coordinator_participant_failures_total", map[string]string{"reason": "invalid_partial"}); got != 7 {
		t.Errorf("invalid partials %g, want 7", got)
	}
	by := s.ByLabel("rampart_coordinator_participant_failures_total", "reason")
	if by["timeout"] != 2 || by["invalid_partial"] != 7 {
		t.Errorf("by reason %v", by)
	}
	if got := s.Sum("odd_label", map[string]string{"msg": `a "quoted" value, with a comma`}); got != 1 {
		t.Errorf("escaped label not matched: %v", s)
	}
}

func TestSamplesSubCountsWhatHappenedInBetween(t *testing.T) {
	before := Samples{`c{a="1"}`: 5}
	after := Samples{`c{a="1"}`: 8, `c{a="2"}`: 3}
	d := after.Sub(before)
	if d[`c{a="1"}`] != 3 || d[`c{a="2"}`] != 3 {
		t.Errorf("delta %v", d)
	}
	total := Samples{}
	total.Add(d)
	total.Add(d)
	if total[`c{a="1"}`] != 6 {
		t.Errorf("sum %v", total)
	}
}

func TestParseMetricsRefusesALineWithoutAValue(t *testing.T) {
	if _, err := ParseMetrics(strings.NewReader("metric_without_value\n")); err == nil {
		t.Error("accepted")
	}
}
