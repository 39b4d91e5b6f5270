//go:build linux

package hsm

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMemlockAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   uint64
		capable bool
		ok      bool
	}{
		{"allows an unlimited RLIMIT_MEMLOCK", unix.RLIM_INFINITY, false, true},
		{"allows CAP_IPC_LOCK with a finite limit", 8 << 20, true, true},
		{"refuses a finite limit without CAP_IPC_LOCK", 8 << 20, false, false},
		{"refuses a zero limit without CAP_IPC_LOCK", 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := memlockAllowed(tc.limit, tc.capable)
			if tc.ok != (err == nil) {
				t.Fatalf("got %v", err)
			}
			if err != nil && (!errors.Is(err, ErrHardening) || !strings.Contains(err.Error(), "LimitMEMLOCK=infinity")) {
				t.Fatalf("refusal does not say how to allow it: %v", err)
			}
		})
	}
}
