package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// EnterSpec says where a process of a simulated host runs.
type EnterSpec struct {
	// Netns is the namespace file to join (/run/netns/NAME).
	Netns string
	// Procs is the cgroup.procs file of the host's group ("" for none).
	Procs string
	// Hosts is bind-mounted over /etc/hosts in a mount namespace of the
	// process's own ("" leaves /etc/hosts alone).
	Hosts string
	// Argv is the program and its arguments.
	Argv []string
}

// Args are the arguments of `chaos enter` for s, after "enter".
func (s EnterSpec) Args() []string {
	return append([]string{"--netns", s.Netns, "--procs", s.Procs, "--hosts", s.Hosts, "--"}, s.Argv...)
}

// Enter turns the calling process into s.Argv on s's host: it joins the
// cgroup (so every thread and child the program makes is counted against
// the host's quota), gets a mount namespace of its own with the host's
// hosts file over /etc/hosts, joins the network namespace, and execs the
// program, keeping its process id (the caller's record of it stays
// valid). It returns only on failure.
func Enter(s EnterSpec) error {
	if len(s.Argv) == 0 {
		return errors.New("chaos enter: no program")
	}
	path, err := exec.LookPath(s.Argv[0])
	if err != nil {
		return fmt.Errorf("chaos enter: %w", err)
	}
	// Namespaces belong to threads: everything below happens on this one,
	// which then becomes the program.
	runtime.LockOSThread()
	if s.Procs != "" {
		if err := os.WriteFile(s.Procs, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("chaos enter: joining the cgroup: %w", err)
		}
	}
	if s.Hosts != "" {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("chaos enter: mount namespace: %w", err)
		}
		// Nothing mounted here may reach the host's own mount table.
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("chaos enter: making / a slave mount: %w", err)
		}
		if err := unix.Mount(s.Hosts, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("chaos enter: binding %s over /etc/hosts: %w", s.Hosts, err)
		}
	}
	f, err := os.Open(s.Netns)
	if err != nil {
		return fmt.Errorf("chaos enter: %w", err)
	}
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("chaos enter: joining %s: %w", s.Netns, err)
	}
	f.Close()
	return unix.Exec(path, s.Argv, os.Environ())
}
