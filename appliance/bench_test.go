package appliance_test

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
)

// BenchmarkSlotBurst sends one slot's attestations (one batch request to
// signer 1's coordinator API) through a 3-of-5 cluster of in-process
// signers on this machine and measures the time to the last verified
// signature. In the same run it measures raw BLS signing of the partials
// the burst needs (3 per attestation) on all CPUs, and reports the ratio.
// "all" asks every participant (the default); "hedged" asks the first three
// (and the others only if they fail), which on one shared machine avoids
// doing 5/3 of the necessary signing work.
func BenchmarkSlotBurst(b *testing.B) {
	for _, validators := range []int{313, 3125} {
		for _, mode := range []struct {
			name  string
			hedge time.Duration
		}{{"hedged", time.Minute}, {"all", 0}} {
			b.Run(fmt.Sprintf("%d/%s", validators, mode.name), func(b *testing.B) {
				tc := newTestCluster(b, 5, 3, validators, func(c *appliance.Config) {
					c.Cluster.HedgeDelay = mode.hedge
					// Five signers share this machine's two cores: a
					// participant signs far slower than on its own server.
					c.Cluster.TimeoutPerItem = 5 * time.Millisecond
				})
				ids := make([]string, len(tc.keys))
				for i, k := range tc.keys {
					ids[i] = k.String()
				}
				client := tc.client(0, "vc-1")
				url := tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign")
				raw := rawSigning(b, 3*validators)
				epoch := uint64(100)
				// One burst untimed: every coordinator of the cluster
				// finishes discovering the accounts (the signers came up one
				// after the other) before the measured bursts.
				var warm map[string]any
				json.Unmarshal(attestationRequest(tc.net, epoch-1, epoch, 0xee), &warm)
				if r := post(b, client, url, mustJSON(map[string]any{"identifiers": ids, "signing_request": warm})); r.code != http.StatusOK {
					b.Fatalf("warm-up burst: %d %s", r.code, r.body)
				}
				time.Sleep(6 * time.Second)
				b.ResetTimer()
				start := time.Now()
				for b.Loop() {
					epoch++
					var att map[string]any
					json.Unmarshal(attestationRequest(tc.net, epoch-1, epoch, byte(epoch)), &att)
					r := post(b, client, url, mustJSON(map[string]any{"identifiers": ids, "signing_request": att}))
					if r.code != http.StatusOK {
						b.Fatalf("%d %s", r.code, r.body)
					}
					rs, err := api.DecodeBatchResults(r.body)
					if err != nil || len(rs) != validators {
						b.Fatalf("burst answer: %v", err)
					}
					for _, res := range rs {
						if res.Error != nil {
							b.Fatalf("burst item refused: %d %s", res.Error.Code, res.Error.Message)
						}
					}
				}
				per := time.Since(start) / time.Duration(b.N)
				b.ReportMetric(float64(raw.Microseconds())/1000, "raw-sign-ms")
				b.ReportMetric(float64(per)/float64(raw), "burst/raw")
			})
		}
	}
}

// rawSigning times n BLS signatures spread over every CPU.
func rawSigning(b *testing.B, n int) time.Duration {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.NumCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				sk.Sign([32]byte{byte(i), byte(i >> 8)})
			}
		}(w)
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkImport1000Keys imports 1,000 existing keys into a 3-of-5
// cluster in batches of 100, as rampartctl import does after decrypting
// the keystores (keystore decryption is measured in tss/keystore: scrypt
// at the EIP's cost dominates a real import by design).
func BenchmarkImport1000Keys(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		tc := newTestCluster(b, 5, 3, 0)
		im := tc.adminImporter(b)
		keys := make([]adminapi.ImportKey, 1000)
		for i := range keys {
			keys[i].Secret, _ = bls.GenerateSecretKey(rand.Reader)
		}
		b.StartTimer()
		for lo := 0; lo < len(keys); lo += 100 {
			if _, err := im.Import(b.Context(), keys[lo:lo+100]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		tc.stopAll()
		b.StartTimer()
	}
}

// BenchmarkConcurrentSingles sends one slot's attestations as a standard
// validator client does, one single request per validator (POST
// /api/v1/eth2/sign/{key}), all at once, to signer 1's coordinator API of
// an in-process 2-of-3 cluster that asks every participant (hedge_delay 0,
// the default), over HTTP/1.1 with one kept connection per request in
// flight, and measures the time to the last verified signature. In the
// same run it measures the batch endpoint with the same keys and raw BLS
// signing of the partials the burst needs (3 per attestation) on all
// CPUs, and reports both ratios. Run with -cpuprofile to see where a
// single request's time goes (signers and coordinator share the process).
func BenchmarkConcurrentSingles(b *testing.B) {
	const validators = 313
	tc := newTestCluster(b, 3, 2, validators, func(c *appliance.Config) { c.Cluster.HedgeDelay = 0 })
	client := tc.client(0, "vc-1")
	tr := client.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.MaxIdleConnsPerHost = 2 * validators
	ids := make([]string, len(tc.keys))
	for i, k := range tc.keys {
		ids[i] = k.String()
	}
	epoch := uint64(100)
	burst := func() {
		epoch++
		req := attestationRequest(tc.net, epoch-1, epoch, byte(epoch))
		var wg sync.WaitGroup
		for _, k := range tc.keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := post(b, client, tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+k.String()), req)
				if r.code != http.StatusOK {
					b.Errorf("%d %s", r.code, r.body)
				}
			}()
		}
		wg.Wait()
	}
	batch := func() time.Duration {
		epoch++
		var att map[string]any
		json.Unmarshal(attestationRequest(tc.net, epoch-1, epoch, byte(epoch)), &att)
		start := time.Now()
		r := post(b, client, tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign"), mustJSON(map[string]any{"identifiers": ids, "signing_request": att}))
		if r.code != http.StatusOK {
			b.Fatalf("%d %s", r.code, r.body)
		}
		return time.Since(start)
	}
	burst() // discovery, connections
	batchTime := batch()
	raw := rawSigning(b, 3*validators)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		burst()
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	batchTime = min(batchTime, batch())
	b.ReportMetric(float64(per)/float64(time.Millisecond), "burst-ms")
	b.ReportMetric(float64(per)/float64(batchTime), "burst/batch")
	b.ReportMetric(float64(per)/float64(raw), "burst/raw")
}
