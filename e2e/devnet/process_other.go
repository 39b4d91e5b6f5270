//go:build !linux

package devnet

import (
	"errors"
	"syscall"
)

// errPlatform: process control reads /proc, so devnets run on Linux only.
var errPlatform = errors.New("devnet: running processes is supported on Linux only")

func detached() *syscall.SysProcAttr { return nil }

func startTicks(int) (uint64, error) { return 0, errPlatform }

func alive(*process) bool { return false }

func terminate(*process, bool) error { return errPlatform }
