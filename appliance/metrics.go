package appliance

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the signer's own collectors; the coordinator and the Go
// runtime register theirs on the same registry.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	refusals   *prometheus.CounterVec
	signatures *prometheus.CounterVec
	approve    prometheus.Histogram
	accounts   prometheus.Gauge
	pending    prometheus.Gauge

	auditFsync prometheus.Histogram
	diskFree   *prometheus.GaugeVec
	diskSize   *prometheus.GaugeVec
	diskRatio  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_signer_requests_total",
			Help: "Signing requests by API (participant, coordinator), request type and HTTP status; batch items count one each.",
		}, []string{"api", "type", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_signer_request_seconds",
			Help:    "Time to answer a signing request (a whole batch counts once), by API and request type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"api", "type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_signer_refusals_total",
			Help: "Requests refused, by reason (unauthorised, bad_request, wrong_network, signing_root_mismatch, generic_typed_domain, coordinator_duty_only, unknown_account, slashing_<rule>, unavailable).",
		}, []string{"reason"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_signer_signatures_total",
			Help: "Signatures released, by kind (partial, full).",
		}, []string{"kind"}),
		approve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rampart_signer_slashing_commit_seconds",
			Help:    "Time from asking slashing protection to holding durable permits (check, record and fsync'd commit).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_signer_accounts",
			Help: "Accounts whose share is unsealed and ready.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_accounts_pending_destruction",
			Help: "Removed accounts whose sealed share awaits destruction (accounts.destroy_after); each can be restored until then.",
		}),
	}
	m.auditFsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rampart_signer_audit_fsync_seconds",
		Help:    "Time of each fsync of the audit log (one covers every record written while the previous ran).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	vol := []string{"volume"}
	m.diskFree = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_signer_disk_free_bytes",
		Help: "Bytes the signer can still write on the filesystem of a volume (audit: the audit log; slashing_db: the slashing protection database).",
	}, vol)
	m.diskSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_signer_disk_size_bytes",
		Help: "Size of the filesystem of a volume.",
	}, vol)
	m.diskRatio = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_signer_disk_free_ratio",
		Help: "Free fraction (0 to 1) of the filesystem of a volume, as the signer sees it.",
	}, vol)
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.refusals, m.signatures, m.approve, m.accounts, m.pending, m.auditFsync, m.diskFree, m.diskSize, m.diskRatio} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
