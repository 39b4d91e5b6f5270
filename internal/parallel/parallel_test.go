package parallel_test

import (
	"sync/atomic"
	"testing"

	"github.com/rampart-signer/rampart/internal/parallel"
)

func TestForRunsEveryItemOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17, 1000} {
		seen := make([]atomic.Int32, n)
		parallel.For(n, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("n=%d: item %d ran %d times", n, i, seen[i].Load())
			}
		}
	}
}
