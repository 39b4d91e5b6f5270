package hsm

// HardeningResult is the outcome of one process hardening step.
type HardeningResult struct {
	// Step names the step: "lock memory", "disable core dumps" or
	// "disable ptrace attach".
	Step string
	// Err is nil when the step took effect; otherwise it wraps
	// ErrHardening and says how to allow the step.
	Err error
}

// Harden applies every hardening step and reports each. The daemon calls it
// first thing, before any share is unsealed, and decides from the results
// whether it may run (it should refuse to unseal when memory cannot be
// locked, unless the operator explicitly accepts that).
func Harden() []HardeningResult {
	return []HardeningResult{
		{Step: "lock memory", Err: LockMemory()},
		{Step: "disable core dumps", Err: DisableCoreDumps()},
		{Step: "disable ptrace attach", Err: DisableTracing()},
	}
}
