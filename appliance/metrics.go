package appliance

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-signer/rampart/internal/buildinfo"
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

	hsmUp         prometheus.Gauge
	hsmReopens    *prometheus.CounterVec
	peerReachable *prometheus.GaugeVec
	peerReady     *prometheus.GaugeVec
	readySigners  prometheus.Gauge
	threshold     prometheus.Gauge
	quorum        prometheus.Gauge
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
	m.hsmUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_hsm_up",
		Help: "1 while this signer's HSM session answers its probe (hsm.probe_interval), 0 while it is lost.",
	})
	m.hsmReopens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_hsm_reopen_attempts_total",
		Help: "Attempts to log in to the HSM again after a lost session, by result (ok, failed, gave_up: a wrong or locked PIN, never tried again).",
	}, []string{"result"})
	id := []string{"signer"}
	m.peerReachable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_cluster_signer_reachable",
		Help: "1 when the signer (participant id) answered its /healthcheck at the last check (cluster.probe_interval), this signer included.",
	}, id)
	m.peerReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_cluster_signer_ready",
		Help: "1 when the signer (participant id) was ready to sign at the last check.",
	}, id)
	m.readySigners = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_cluster_ready_signers",
		Help: "Signers of the cluster ready to sign at the last check, this one included.",
	})
	m.threshold = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_cluster_threshold",
		Help: "Signers needed for a signature (the highest threshold of this signer's accounts).",
	})
	m.quorum = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_cluster_quorum",
		Help: "1 when at least rampart_cluster_threshold signers were ready at the last check: the cluster can sign.",
	})
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.refusals, m.signatures, m.approve, m.accounts, m.pending, m.auditFsync, m.diskFree, m.diskSize, m.diskRatio,
		m.hsmUp, m.hsmReopens, m.peerReachable, m.peerReady, m.readySigners, m.threshold, m.quorum} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerStateMetrics registers the metrics computed when scraped: the
// build, each health check, and the expiry of the node's certificate and
// of the cluster CA.
func (a *Appliance) registerStateMetrics() error {
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "rampart_build_info",
		Help:        "Always 1; the labels say which build of rampart-signer runs.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Version(), "goversion": runtime.Version()},
	})
	build.Set(1)
	cs := []prometheus.Collector{build, &stateCollector{a}}
	for _, c := range cs {
		if err := a.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var (
	healthDesc = prometheus.NewDesc("rampart_health_check_up",
		"1 when the /healthcheck check is UP or DEGRADED, 0 when DOWN or STARTING.", []string{"check"}, nil)
	readyDesc = prometheus.NewDesc("rampart_ready",
		"1 when this signer is ready to sign (/healthcheck answers 200).", nil, nil)
	expiryDesc = prometheus.NewDesc("rampart_tls_certificate_expiry_seconds",
		"Seconds until the certificate expires (negative once expired): node is this signer's tls.certificate, ca each certificate of tls.ca.", []string{"certificate", "subject"}, nil)
)

// stateCollector reads health and certificates at each scrape.
type stateCollector struct{ a *Appliance }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- healthDesc
	ch <- readyDesc
	ch <- expiryDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	r, ok := c.a.health.report()
	for name, chk := range r.Checks {
		ch <- prometheus.MustNewConstMetric(healthDesc, prometheus.GaugeValue, b2f(chk.Status == "UP" || chk.Status == "DEGRADED"), name)
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, b2f(ok))
	now := c.a.now()
	if s := c.a.hsmCur.Load(); s != nil && s.cert.Leaf != nil {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, s.cert.Leaf.NotAfter.Sub(now).Seconds(), "node", s.cert.Leaf.Subject.CommonName)
	}
	if cas := c.a.caCerts.Load(); cas != nil {
		for _, ca := range *cas {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, ca.NotAfter.Sub(now).Seconds(), "ca", ca.Subject.CommonName)
		}
	}
}
