package hsm_test

import (
	"testing"

	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// BenchmarkUnsealAll10000 measures start-up: unsealing 10,000 shares in
// one bulk call (goal: under 2 s).
func BenchmarkUnsealAll10000(b *testing.B) {
	env := softhsm.New(b, "signer-1")
	_, k := sealingKey(b, env.Tokens[0])
	const n = 10000
	blobs := make([][]byte, n)
	var a account
	for i := range blobs {
		a = newAccount(b, 1)
		blobs[i] = seal(b, k, a)
		a.share.Zero()
	}
	b.ResetTimer()
	for b.Loop() {
		set, err := k.UnsealAll(b.Context(), blobs, a.placement())
		if err != nil {
			b.Fatal(err)
		}
		set.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/share")
}

// BenchmarkSeal measures sealing one share (including the check that the
// new blob unseals).
func BenchmarkSeal(b *testing.B) {
	env := softhsm.New(b, "signer-1")
	_, k := sealingKey(b, env.Tokens[0])
	a := newAccount(b, 1)
	for b.Loop() {
		if _, err := k.Seal(b.Context(), a.share, a.binding); err != nil {
			b.Fatal(err)
		}
	}
}
