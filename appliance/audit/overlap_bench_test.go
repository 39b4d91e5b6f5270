package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/protect"
)

// BenchmarkSlashingAndAudit measures what a participant's durable steps
// cost per attestation, with real fsyncs of a real slashing database and
// log, for 1 and 16 concurrent requests:
//   - "slashing-only": the slashing commit alone, what 108c238 waited for
//     (its audit write had no fsync);
//   - "serial": the slashing commit, then Append (the record's own fsync
//     after it);
//   - "overlapped": what the signer does: the record written once the
//     rules passed (protect.WhenDecided), its fsync started by Run's
//     syncer while the slashing commit runs, both waited for.
func BenchmarkSlashingAndAudit(b *testing.B) {
	for _, mode := range []string{"slashing-only", "serial", "overlapped"} {
		for _, conc := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/requests=%d", mode, conc), func(b *testing.B) {
				ctx := context.Background()
				dir := b.TempDir()
				db, err := protect.Create(ctx, filepath.Join(dir, "p.db"), protect.Root{1}, protect.DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				keys := make([]protect.PublicKey, conc)
				for i := range keys {
					keys[i][0], keys[i][1] = 0xa0, byte(i)
				}
				if err := db.Register(ctx, keys...); err != nil {
					b.Fatal(err)
				}
				l, _, err := audit.Open(ctx, filepath.Join(dir, "audit"), audit.Options{Anchors: db})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				rctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { l.Run(rctx); close(done) }()
				defer func() { stop(); <-done }()
				lat := make([][]time.Duration, conc)
				b.ResetTimer()
				var wg sync.WaitGroup
				for g := 0; g < conc; g++ {
					n := b.N / conc
					wg.Go(func() {
						for i := 1; i <= n; i++ {
							a := protect.Attestation{Source: uint64(i - 1), Target: uint64(i), SigningRoot: protect.Root{byte(i), byte(i >> 8), byte(g)}}
							r := audit.Record{Kind: audit.KindPartial, Type: "ATTESTATION", PublicKey: fmt.Sprintf("0x%096x", g), SigningRoot: fmt.Sprintf("0x%064x", i), Client: "vc-1"}
							t0 := time.Now()
							var err error
							switch mode {
							case "slashing-only":
								_, err = db.ApproveAttestation(ctx, protect.Root{1}, keys[g], a)
							case "serial":
								if _, err = db.ApproveAttestation(ctx, protect.Root{1}, keys[g], a); err == nil {
									err = l.Append(r)
								}
							case "overlapped":
								var p audit.Pending
								_, err = db.ApproveAttestation(ctx, protect.Root{1}, keys[g], a, protect.WhenDecided(func([]bool) { p = l.Write(r) }))
								if err == nil {
									err = p.Wait()
								}
							}
							lat[g] = append(lat[g], time.Since(t0))
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}
