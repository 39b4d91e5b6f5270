//go:build !linux

package proc

import (
	"errors"
	"syscall"
)

// errPlatform: process records are read from /proc, so Linux only.
var errPlatform = errors.New("proc: supported on Linux only")

func detached() *syscall.SysProcAttr { return nil }

func startTicks(int) (uint64, error) { return 0, errPlatform }

func alive(Record) bool { return false }

func signal(Record, bool) error { return errPlatform }
