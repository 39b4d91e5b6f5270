package coordinator_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
)

// BenchmarkBurstOfSingles measures, in one run, a slot's attestations (313
// keys, one signed object) asked as concurrent single requests of a 2-of-3
// cluster of in-process participants that sign with real shares, every
// participant asked: "Sign" makes one call per request and participant,
// "SignShared" coalesces them into batch calls; both verify concurrent
// recoveries together. The participants here commit nothing to disk, so
// what coalescing saves a signer (a slashing-database and an audit commit
// per key) does not show: cpu-ms/op (the fakes' signing included, the same
// in both) shows that coalescing costs the coordinator nothing, and the
// profile that verification is no longer a pairing per signature. `make
// bench-cluster` measures whole signers.
func BenchmarkBurstOfSingles(b *testing.B) {
	cfg := testConfig()
	cfg.HedgeDelay = 0
	cfg.CacheSize = 0 // every round signs anew
	c := newCluster(b, 2, 3, 313, cfg)
	for _, mode := range []string{"Sign", "SignShared"} {
		b.Run(mode, func(b *testing.B) {
			sign := c.coord.Sign
			if mode == "SignShared" {
				sign = c.coord.SignShared
			}
			round := byte(0)
			cpu0 := cpuTime()
			for b.Loop() {
				round++
				root := [32]byte{0xbe, round, byte(len(mode))}
				req := request(root)
				var wg sync.WaitGroup
				sigs := make([]*bls.Signature, len(c.keys))
				for i, k := range c.keys {
					wg.Add(1)
					go func() {
						defer wg.Done()
						sig, err := sign(context.Background(), k, root, req)
						if err != nil {
							b.Error(err)
						}
						sigs[i] = sig
					}()
				}
				wg.Wait()
				if sigs[0] == nil || !c.pubs[0].Verify(root, sigs[0]) {
					b.Fatalf("%s: no valid signature", mode)
				}
			}
			// CPU time, not wall time, is what a shared machine's load
			// leaves comparable.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
