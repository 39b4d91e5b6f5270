package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's collectors. Every label takes a bounded set of
// values: endpoint names, request types (or "unknown"), HTTP statuses,
// refusal reasons and participant ids.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refusals *prometheus.CounterVec
	signerUp *prometheus.GaugeVec
	accounts prometheus.Gauge
	short    prometheus.Gauge
	healthy  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_gateway_requests_total",
			Help: "Signing requests answered, by endpoint (sign, batch, public_keys), request type and HTTP status; a batch counts once per item.",
		}, []string{"endpoint", "type", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_gateway_request_seconds",
			Help:    "Time to answer a request, by endpoint and request type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"endpoint", "type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_gateway_refusals_total",
			Help: "Requests or batch items refused, by reason: bad_request, wrong_network, signing_root_mismatch, slashable_generic, type_not_granted, account_not_granted (all refused here, before any signer is asked), unknown_account, slashing, unauthorised, unavailable (from the signers), client_gone (the client closed the connection or cancelled before the answer).",
		}, []string{"reason"}),
		signerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_gateway_signer_up",
			Help: "1 when the signer answered its last health probe with 200, else 0.",
		}, []string{"participant"}),
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_gateway_accounts",
			Help: "Accounts the gateway serves (discovered and granted).",
		}),
		short: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_gateway_accounts_below_threshold",
			Help: "Accounts served for which fewer than the threshold of signers answered the last health probe.",
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_gateway_healthy",
			Help: "1 while /healthcheck answers 200, else 0.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.refusals, m.signerUp, m.accounts, m.short, m.healthy} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
