package protect_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/protect"
)

// Benchmarks for the goals. Figures depend on the disk's fsync
// latency and on what else runs on the machine; they are measured, never
// asserted.

const (
	benchValidators = 100_000
	burstSize       = 3_125 // 100,000 validators / 32 slots
)

func benchKey(i int) protect.PublicKey {
	var k protect.PublicKey
	k[0] = 0x8f
	binary.BigEndian.PutUint64(k[8:], uint64(i))
	return k
}

func benchRoot(i int, epoch uint64) protect.Root {
	var r protect.Root
	binary.BigEndian.PutUint64(r[:], uint64(i))
	binary.BigEndian.PutUint64(r[8:], epoch)
	return r
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkSlotBurst measures goal (a): one slot's attestations for 100,000
// validators, 3,125 in one ApproveAttestations call, checked and durably
// recorded (fsync). Every validator first gets a full history
// (Config.HistoryEpochs of attestations, then a checkpoint), so the checks
// run against the steady-state history. It also reports the in-memory state
// for those 100,000 validators, the time of a checkpoint round that writes
// all their snapshots, and the time to reopen the file.
func BenchmarkSlotBurst(b *testing.B) {
	ctx := context.Background()
	cfg := protect.DefaultConfig()
	cfg.Limit = protect.NoLimit
	path := filepath.Join(b.TempDir(), "burst.db")
	before := heapInUse()
	db, err := protect.Create(ctx, path, testGVR, cfg)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]protect.PublicKey, benchValidators)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	if err := db.Register(ctx, keys...); err != nil {
		b.Fatal(err)
	}
	reqs := make([]protect.AttestationRequest, benchValidators)
	for epoch := uint64(1); epoch <= cfg.HistoryEpochs; epoch++ {
		for i := range reqs {
			reqs[i] = protect.AttestationRequest{Key: keys[i], Attestation: protect.Attestation{Source: epoch - 1, Target: epoch, SigningRoot: benchRoot(i, epoch)}}
		}
		if _, err := db.ApproveAttestations(ctx, testGVR, reqs); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := db.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	checkpointTime := time.Since(start)
	reqs = nil
	state := heapInUse() - before
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	db, err = protect.Open(ctx, path, cfg)
	if err != nil {
		b.Fatal(err)
	}
	openTime := time.Since(start)
	defer db.Close()

	burst := make([]protect.AttestationRequest, burstSize)
	n := 0
	for b.Loop() {
		slot := n % 32
		epoch := cfg.HistoryEpochs + 1 + uint64(n/32)
		for j := range burst {
			i := slot*burstSize + j
			burst[j] = protect.AttestationRequest{Key: keys[i], Attestation: protect.Attestation{Source: epoch - 1, Target: epoch, SigningRoot: benchRoot(i, epoch)}}
		}
		vs, err := db.ApproveAttestations(ctx, testGVR, burst)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range vs {
			if v.Err != nil {
				b.Fatal(v.Err)
			}
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/burst")
	b.ReportMetric(float64(state)/(1<<20), "MiB-state/100k-validators")
	b.ReportMetric(float64(openTime.Milliseconds()), "ms-open/100k-validators")
	b.ReportMetric(float64(checkpointTime.Milliseconds()), "ms-checkpoint/100k-validators")
}

// benchConcurrent runs 64 clients, each submitting single attestations for
// its own 100 validators, one epoch after another.
func benchConcurrent(b *testing.B, cfg protect.Config) {
	const clients, perClient = 64, 100
	ctx := context.Background()
	db := createDB(b, testGVR, cfg)
	keys := make([]protect.PublicKey, clients*perClient)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	if err := db.Register(ctx, keys...); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range clients {
		wg.Go(func() {
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				k := c*perClient + i%perClient
				epoch := uint64(i/perClient) + 1
				_, err := db.ApproveAttestation(ctx, testGVR, keys[k], protect.Attestation{Source: epoch - 1, Target: epoch, SigningRoot: benchRoot(k, epoch)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
	s := db.Stats()
	if s.Commits > 0 {
		b.ReportMetric(float64(s.Operations)/float64(s.Commits), "records/commit")
	}
}

// BenchmarkConcurrentClients measures goal (b): 64 concurrent clients,
// single attestations, every verdict after an fsync'd commit.
func BenchmarkConcurrentClients(b *testing.B) {
	cfg := protect.DefaultConfig()
	cfg.Limit = protect.NoLimit
	benchConcurrent(b, cfg)
}

// BenchmarkConcurrentClientsNoSync is (c): the same without fsync, for
// comparison only; never a configuration to run.
func BenchmarkConcurrentClientsNoSync(b *testing.B) {
	cfg := protect.DefaultConfig()
	cfg.UnsafeNoSync = true
	cfg.Limit = protect.NoLimit
	benchConcurrent(b, cfg)
}
