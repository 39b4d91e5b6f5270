package dkg_test

import (
	"fmt"
	"testing"
)

// BenchmarkCeremony runs a whole ceremony, 3-of-5, with all five
// participants simulated in this process (each in its own goroutine, as
// separate machines), messages encoded and parsed as on the wire. The
// 1,000-validator case is the DESIGN goal (under 30 s on the 2-core
// development machine).
func BenchmarkCeremony(b *testing.B) {
	for _, validators := range []int{10, 1000} {
		b.Run(fmt.Sprintf("3of5/%d-validators", validators), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				cfg := config(b, 3, 5, validators)
				b.StartTimer()
				c := newCluster(b, cfg)
				c.run()
				b.StopTimer()
				if got := len(c.results(cfg.Participants...)); got != 5 {
					b.Fatalf("%d participants finished", got)
				}
				b.StartTimer()
			}
		})
	}
}
