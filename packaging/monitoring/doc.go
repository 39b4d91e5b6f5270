// Package monitoring holds no code. Its directory holds the Prometheus
// alerting rules (rampart-alerts.yml, with their promtool unit tests in
// rampart-alerts_test.yml) and the Grafana dashboard (rampart-dashboard.json)
// that the rampartctl package installs under /usr/share/rampart/; its test
// checks that every metric they name is one the daemons register and
// docs/metrics.md or docs/validator-client.md describes.
package monitoring
