package appliance_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

// BenchmarkAttestationLatency signs one attestation at a time through
// signer 1's coordinator API (mTLS) of an in-process cluster on this
// machine and reports the median and 99th percentile of the round trip:
// the coordinator's own partial (slashing commit, audit record), the other
// participants' over HTTPS, recovery, verification and the full
// signature's audit record. Every fsync in it is a real one.
func BenchmarkAttestationLatency(b *testing.B) {
	for _, size := range []struct{ n, t int }{{1, 1}, {5, 3}} {
		b.Run(fmt.Sprintf("%d-of-%d", size.t, size.n), func(b *testing.B) {
			tc := newTestCluster(b, size.n, size.t, 1)
			client := tc.client(0, "vc-1")
			url := tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+tc.keys[0].String())
			epoch := uint64(100)
			if r := post(b, client, url, attestationRequest(tc.net, epoch-1, epoch, 0xee)); r.code != http.StatusOK {
				b.Fatalf("warm-up: %d %s", r.code, r.body)
			}
			time.Sleep(6 * time.Second) // discovery by every coordinator
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				epoch++
				req := attestationRequest(tc.net, epoch-1, epoch, byte(epoch))
				t0 := time.Now()
				r := post(b, client, url, req)
				lat = append(lat, time.Since(t0))
				if r.code != http.StatusOK {
					b.Fatalf("%d %s", r.code, r.body)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
