// Package parallel runs independent, CPU-bound work items over the CPUs:
// BLS signing of a slot burst, threshold recoveries of a batch. It starts
// goroutines only for the duration of a call.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For runs f(0), ..., f(n-1) on up to runtime.NumCPU() goroutines and
// returns when all have returned. Items are handed out one at a time, so
// uneven items balance.
func For(n int, f func(i int)) {
	workers := min(runtime.NumCPU(), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
