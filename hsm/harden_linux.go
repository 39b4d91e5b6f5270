//go:build linux

package hsm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// LockMemory locks every page of the process in RAM, now and in future
// (mlockall with MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT), so unsealed shares
// are never written to swap. MCL_ONFAULT locks pages as they are touched
// instead of populating every mapping at once, which matters for Go: the
// runtime reserves large address ranges it never uses.
//
// Locking future memory is refused up front when RLIMIT_MEMLOCK is finite
// and the process lacks CAP_IPC_LOCK: the kernel would then fail the
// runtime's later allocations and crash the process once the heap outgrew
// the limit.
func LockMemory() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("%w: lock memory: reading RLIMIT_MEMLOCK: %w", ErrHardening, err)
	}
	capable, err := hasCapability(unix.CAP_IPC_LOCK)
	if err != nil {
		return fmt.Errorf("%w: lock memory: reading capabilities: %w", ErrHardening, err)
	}
	if err := memlockAllowed(lim.Cur, capable); err != nil {
		return err
	}
	err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: lock memory: the kernel lacks mlockall(MCL_ONFAULT) (Linux 4.4 or later needed)", ErrHardening)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w: lock memory: mlockall not permitted; grant CAP_IPC_LOCK or set LimitMEMLOCK=infinity in the systemd unit", ErrHardening)
	case errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: lock memory: RLIMIT_MEMLOCK (%d bytes) is too small; set LimitMEMLOCK=infinity in the systemd unit", ErrHardening, lim.Cur)
	}
	return fmt.Errorf("%w: lock memory: mlockall: %w", ErrHardening, err)
}

// memlockAllowed decides whether locking all future memory is safe under
// the given RLIMIT_MEMLOCK and capability.
func memlockAllowed(limit uint64, capIPCLock bool) error {
	if capIPCLock || limit == unix.RLIM_INFINITY {
		return nil
	}
	return fmt.Errorf("%w: lock memory: RLIMIT_MEMLOCK is %d bytes and the process lacks CAP_IPC_LOCK; "+
		"locking future memory would make allocations fail once the heap outgrows it; "+
		"set LimitMEMLOCK=infinity (or AmbientCapabilities=CAP_IPC_LOCK) in the systemd unit", ErrHardening, limit)
}

// hasCapability reports whether cap is in the calling thread's effective
// set. Go threads share their process's capabilities unless code changes
// them per thread, which nothing in Rampart does.
func hasCapability(cap int) (bool, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, err
	}
	return data[cap/32].Effective&(1<<(uint(cap)%32)) != 0, nil
}

// DisableCoreDumps sets RLIMIT_CORE to zero (soft and hard), so a crash
// never writes process memory, shares included, to disk.
func DisableCoreDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("%w: disable core dumps: setrlimit(RLIMIT_CORE, 0): %w", ErrHardening, err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 {
		return fmt.Errorf("%w: disable core dumps: RLIMIT_CORE did not stay at zero", ErrHardening)
	}
	return nil
}

// DisableTracing clears the process's dumpable flag (PR_SET_DUMPABLE 0):
// processes of the same user can no longer ptrace it or read its memory
// through /proc, and no core dump is written. Root with CAP_SYS_PTRACE still
// can; the kernel's Yama ptrace_scope closes that.
func DisableTracing() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("%w: disable ptrace attach: prctl(PR_SET_DUMPABLE, 0): %w", ErrHardening, err)
	}
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil || v != 0 {
		return fmt.Errorf("%w: disable ptrace attach: the process is still dumpable", ErrHardening)
	}
	return nil
}
