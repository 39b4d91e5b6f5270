// Package proc starts background programs and stops exactly the processes
// it started. A Record holds a process id and the process's start time, so
// a later process that reuses the id is never mistaken for it, and signals
// go through a pidfd opened on the recorded process (Linux only; elsewhere
// every call reports that it is unsupported).
package proc

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// Record identifies one started process.
type Record struct {
	PID int `json:"pid"`
	// StartTicks is the process's start time in clock ticks since boot
	// (/proc/PID/stat field 22).
	StartTicks uint64 `json:"start_ticks"`
}

// Start starts cmd in a session of its own (it neither receives the
// terminal's signals nor dies with the caller) and returns its record. If
// the record cannot be read, the process is killed.
func Start(cmd *exec.Cmd) (Record, error) {
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		return Record{}, err
	}
	ticks, err := startTicks(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return Record{}, err
	}
	return Record{PID: cmd.Process.Pid, StartTicks: ticks}, nil
}

// Of returns the record of the running process pid.
func Of(pid int) (Record, error) {
	ticks, err := startTicks(pid)
	return Record{PID: pid, StartTicks: ticks}, err
}

// Alive reports whether the recorded process still runs: its id exists,
// it started at the recorded time (not a reused id), and it is not a
// zombie.
func (r Record) Alive() bool { return r.PID > 0 && alive(r) }

// Signal sends SIGTERM, or SIGKILL when force is set, to the recorded
// process and no other. A process that is gone is not an error.
func (r Record) Signal(force bool) error {
	if r.PID <= 0 {
		return nil
	}
	return signal(r, force)
}

// Stop asks the recorded process to stop (SIGTERM), forces it (SIGKILL)
// if it still runs after grace, and waits until it is gone.
func (r Record) Stop(ctx context.Context, grace time.Duration) error {
	if !r.Alive() {
		return nil
	}
	if err := r.Signal(false); err != nil {
		return err
	}
	if r.waitGone(ctx, grace) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Signal(true); err != nil {
		return err
	}
	if r.waitGone(ctx, 10*time.Second) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("still running after SIGKILL")
}

// waitGone polls until the process is gone, ctx ends or limit passes.
func (r Record) waitGone(ctx context.Context, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if !r.Alive() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}
