package vc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus collectors. A nil *metrics records
// nothing (no Registerer given).
type metrics struct {
	signatures   *prometheus.CounterVec
	adopted      prometheus.Counter
	published    *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	validators   *prometheus.GaugeVec
	doppelganger prometheus.Gauge
	slot         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_vc_signatures_total",
			Help: "Signatures asked of the cluster, by duty and result (ok, refused: slashing protection, failed).",
		}, []string{"duty", "result"}),
		adopted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_vc_attestations_adopted_total",
			Help: "Attestations signed with the data another instance had the signers sign first (named by their refusals) instead of this instance's own.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_vc_published_total",
			Help: "Signed messages sent to the beacon nodes, by duty and result (ok, failed).",
		}, []string{"duty", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_vc_duty_seconds",
			Help:    "Time from a duty's start (its moment in the slot) to its publication, by duty.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"duty"}),
		validators: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_vc_validators",
			Help: "The cluster's validators this client serves, by beacon chain status (unknown: no deposit seen).",
		}, []string{"status"}),
		doppelganger: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_vc_doppelganger_checking",
			Help: "1 while doppelganger detection holds every signature back, else 0.",
		}),
		slot: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_vc_slot",
			Help: "The last slot whose duties were started.",
		}),
	}
	for _, c := range []prometheus.Collector{m.signatures, m.adopted, m.published, m.latency, m.validators, m.doppelganger, m.slot} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) signature(duty, result string) {
	if m != nil {
		m.signatures.WithLabelValues(duty, result).Inc()
	}
}

func (m *metrics) adopt(n int) {
	if m != nil {
		m.adopted.Add(float64(n))
	}
}

func (m *metrics) publish(duty string, err error, n int, since time.Time) {
	if m == nil {
		return
	}
	if err != nil {
		m.published.WithLabelValues(duty, "failed").Add(float64(n))
		return
	}
	m.published.WithLabelValues(duty, "ok").Add(float64(n))
	m.latency.WithLabelValues(duty).Observe(time.Since(since).Seconds())
}

func (m *metrics) setValidators(counts map[string]int) {
	if m == nil {
		return
	}
	m.validators.Reset()
	for s, n := range counts {
		m.validators.WithLabelValues(s).Set(float64(n))
	}
}

func (m *metrics) setDoppelganger(checking bool) {
	if m == nil {
		return
	}
	v := 0.0
	if checking {
		v = 1
	}
	m.doppelganger.Set(v)
}

func (m *metrics) setSlot(s uint64) {
	if m != nil {
		m.slot.Set(float64(s))
	}
}
