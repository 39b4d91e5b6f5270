package devnet

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// detached puts a started program in a session of its own: it neither
// receives the terminal's signals nor dies with the command that started
// it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// procStat returns the state and start time (field 3 and 22 of
// /proc/PID/stat) of a process.
func procStat(pid int) (state byte, ticks uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself; the fields that follow start after the last ')'.
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ticks, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return fields[0][0], ticks, nil
}

func startTicks(pid int) (uint64, error) {
	_, ticks, err := procStat(pid)
	return ticks, err
}

// alive reports whether the recorded process still runs: its pid exists,
// started at the recorded time (not a reused pid), and is not a zombie.
func alive(p *process) bool {
	state, ticks, err := procStat(p.PID)
	return err == nil && ticks == p.StartTicks && state != 'Z' && state != 'X'
}

// terminate sends SIGTERM, or SIGKILL when force is set, to the recorded
// process and no other: it opens a pidfd first and checks the start time
// through it, so a pid reused since the check cannot receive the signal.
func terminate(p *process, force bool) error {
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	fd, err := unix.PidfdOpen(p.PID, 0)
	if err == unix.ESRCH {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(fd)
	// The pidfd pins the process it was opened for; if that process has
	// the recorded start time, it is ours.
	if !alive(p) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("pidfd_send_signal: %w", err)
	}
	return nil
}
