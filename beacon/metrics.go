package beacon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus collectors, labelled by node name.
// A nil *metrics records nothing.
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	failovers     *prometheus.CounterVec
	state         *prometheus.GaugeVec
	headSlot      *prometheus.GaugeVec
	events        *prometheus.CounterVec
	disagreements *prometheus.CounterVec
}

// Outcomes of a request, the values of the "outcome" label.
const (
	outcomeOK          = "ok"
	outcomeRejected    = "rejected"
	outcomeUnavailable = "unavailable"
	outcomeInvalid     = "invalid"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_beacon_requests_total",
			Help: "Requests to beacon nodes, by node, operation and outcome (ok, rejected, unavailable, invalid).",
		}, []string{"node", "op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_beacon_request_seconds",
			Help:    "Latency of beacon node requests that got an answer, by node and operation.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
		}, []string{"node", "op"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_beacon_failovers_total",
			Help: "Reads that moved on to another node after a failure, by operation.",
		}, []string{"op"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_beacon_node_state",
			Help: "1 for the state each node is in (healthy, degraded, syncing, unreachable, wrong_network, unknown), 0 for the others.",
		}, []string{"node", "state"}),
		headSlot: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_beacon_node_head_slot",
			Help: "Head slot each node last reported (health check or head event).",
		}, []string{"node"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_beacon_events_total",
			Help: "Events received from each node's event stream, by topic (head, chain_reorg) and result (ok, invalid).",
		}, []string{"node", "topic", "result"}),
		disagreements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_beacon_attestation_data_disagreements_total",
			Help: "Attestation data answers that differed from the chosen data, by node.",
		}, []string{"node"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.failovers, m.state, m.headSlot, m.events, m.disagreements} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) request(node, op, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(node, op, outcome).Inc()
	if outcome != outcomeUnavailable {
		m.latency.WithLabelValues(node, op).Observe(took.Seconds())
	}
}

func (m *metrics) failover(op string) {
	if m != nil {
		m.failovers.WithLabelValues(op).Inc()
	}
}

func (m *metrics) nodeState(node string, s State) {
	if m == nil {
		return
	}
	for _, st := range allStates {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(node, st.String()).Set(v)
	}
}

func (m *metrics) head(node string, slot uint64) {
	if m != nil {
		m.headSlot.WithLabelValues(node).Set(float64(slot))
	}
}

func (m *metrics) event(node, topic, result string) {
	if m != nil {
		m.events.WithLabelValues(node, topic, result).Inc()
	}
}

func (m *metrics) disagreement(node string) {
	if m != nil {
		m.disagreements.WithLabelValues(node).Inc()
	}
}
