package bls

import (
	"fmt"
	"runtime"
	"sync"
)

// PublicKeysFromBytes decodes many compressed public keys at once, with
// exactly the checks of [PublicKeyFromBytes] (canonical encoding, on the
// curve, in the prime-order subgroup, not infinity), spread over the CPUs.
// It exists for bulk input such as DKG commitments. An error names the
// first bad item's index.
func PublicKeysFromBytes(encs [][]byte) ([]*PublicKey, error) {
	ensureInit()
	out := make([]*PublicKey, len(encs))
	err := forEach(len(encs), func(i int) error {
		pk, err := decodePublicKey(encs[i], fmt.Sprintf("public key %d", i))
		out[i] = pk
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SignaturesFromBytes decodes many compressed signatures at once, with
// exactly the checks of [SignatureFromBytes], like [PublicKeysFromBytes].
func SignaturesFromBytes(encs [][]byte) ([]*Signature, error) {
	ensureInit()
	out := make([]*Signature, len(encs))
	err := forEach(len(encs), func(i int) error {
		sig, err := decodeSignature(encs[i], fmt.Sprintf("signature %d", i))
		out[i] = sig
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// forEach runs f(0..n-1) in contiguous chunks over the CPUs and returns the
// error of the lowest failing index, so the result does not depend on
// scheduling.
func forEach(n int, f func(i int) error) error {
	workers := min(runtime.NumCPU(), (n+63)/64)
	errs := make([]error, max(workers, 1))
	inChunks(n, workers, func(w, lo, hi int) {
		for i := lo; i < hi; i++ {
			if err := f(i); err != nil {
				errs[w] = err
				return
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// inChunks splits 0..n into workers contiguous ranges and runs f on each,
// in parallel when there is more than one.
func inChunks(n, workers int, f func(w, lo, hi int)) {
	if workers <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, w*n/workers, (w+1)*n/workers)
		}()
	}
	wg.Wait()
}
