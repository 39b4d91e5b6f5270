package vc

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OperationsHandler serves the operations listener: /metrics (Prometheus
// text format, from g), /healthz and its alias /healthcheck (200 while the
// client performs duties with a usable beacon node, else 503; the body is
// the status line), and /upcheck (200 while the process serves HTTP).
func (c *Client) OperationsHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	health := func(w http.ResponseWriter, _ *http.Request) {
		ok, status := c.Health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(status + "\n"))
	}
	// /healthcheck and /upcheck as the signer serves them (issue 17: one
	// set of probe paths for every Rampart program); /healthz stays.
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /healthcheck", health)
	mux.HandleFunc("GET /upcheck", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	})
	return mux
}
