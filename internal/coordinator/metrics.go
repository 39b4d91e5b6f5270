package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the coordinator's Prometheus collectors.
type Metrics struct {
	calls      *prometheus.CounterVec
	failures   *prometheus.CounterVec
	recoveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// NewMetrics registers the coordinator's collectors with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_coordinator_participant_calls_total",
			Help: "Calls made to participants, by participant.",
		}, []string{"participant"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_coordinator_participant_failures_total",
			Help: "Partial signatures not obtained, by participant and reason (timeout, unavailable, refused_<status>, malformed, invalid_partial).",
		}, []string{"participant", "reason"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_coordinator_recoveries_total",
			Help: "Signature recoveries, by result (ok, failed).",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_coordinator_participant_seconds",
			Help:    "Latency of participant calls that answered, by participant.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"participant"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.failures, m.recoveries, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
