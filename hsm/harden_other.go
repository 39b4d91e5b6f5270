//go:build !linux

package hsm

import (
	"fmt"
	"runtime"
)

// LockMemory is available on Linux only; elsewhere it reports so.
func LockMemory() error {
	return fmt.Errorf("%w: lock memory: not supported on %s", ErrHardening, runtime.GOOS)
}

// DisableCoreDumps is available on Linux only; elsewhere it reports so.
func DisableCoreDumps() error {
	return fmt.Errorf("%w: disable core dumps: not supported on %s", ErrHardening, runtime.GOOS)
}

// DisableTracing is available on Linux only; elsewhere it reports so.
func DisableTracing() error {
	return fmt.Errorf("%w: disable ptrace attach: not supported on %s", ErrHardening, runtime.GOOS)
}
