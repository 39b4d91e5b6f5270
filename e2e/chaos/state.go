package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rampart-signer/rampart/internal/proc"
)

// stateFile is a run's record of everything it made outside its
// directory, written before each thing is made, so that Cleanup (at the
// end of the run, after a failure, or by the next run after a crash)
// removes exactly those things and nothing else.
const stateFile = "chaos-run.json"

// RunState is that record.
type RunState struct {
	// Owner is the harness process; a later run cleans up only after it is
	// gone.
	Owner proc.Record `json:"owner"`
	// Namespaces made by `ip netns add`.
	Namespaces []string `json:"namespaces"`
	// Cgroups is the run's parent group under Cgroup.Root.
	Cgroups string   `json:"cgroups,omitempty"`
	Cgroup  CgroupFS `json:"cgroup_fs"`
	// Mounts are filesystems mounted for the run (a signer's small data
	// volume).
	Mounts []string `json:"mounts"`
	// Processes are every process the run started, by name.
	Processes map[string]proc.Record `json:"processes"`

	mu   sync.Mutex
	path string
}

// NewRunState starts the record in dir, owned by this process.
func NewRunState(dir string) (*RunState, error) {
	owner, err := proc.Of(os.Getpid())
	if err != nil {
		return nil, err
	}
	s := &RunState{Owner: owner, Processes: map[string]proc.Record{}, path: filepath.Join(dir, stateFile)}
	return s, s.save()
}

// LoadRunState reads the record a run left in dir.
func LoadRunState(dir string) (*RunState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	s := &RunState{path: filepath.Join(dir, stateFile)}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("chaos: %s: %w", s.path, err)
	}
	if s.Processes == nil {
		s.Processes = map[string]proc.Record{}
	}
	return s, nil
}

func (s *RunState) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

func (s *RunState) update(fn func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
	return s.save()
}

// AddNamespace records a namespace about to be made.
func (s *RunState) AddNamespace(ns Netns) error {
	return s.update(func() { s.Namespaces = append(s.Namespaces, ns.Name) })
}

// SetCgroups records the run's parent cgroup.
func (s *RunState) SetCgroups(fs CgroupFS, parent string) error {
	return s.update(func() { s.Cgroup, s.Cgroups = fs, parent })
}

// AddMount records a mount point about to be mounted.
func (s *RunState) AddMount(dir string) error {
	return s.update(func() { s.Mounts = append(s.Mounts, dir) })
}

// SetProcess records (or, with a zero record, forgets) a process.
func (s *RunState) SetProcess(name string, r proc.Record) error {
	return s.update(func() {
		if r.PID == 0 {
			delete(s.Processes, name)
		} else {
			s.Processes[name] = r
		}
	})
}

// Cleanup stops every recorded process (SIGKILL: the run is over and
// nothing it started keeps state worth a clean stop), unmounts the
// mounts, removes the cgroups and deletes the namespaces. It goes on
// after an error and returns them all. It refuses while the owner runs,
// unless the caller is the owner.
func (s *RunState) Cleanup(ctx context.Context) error {
	if s.Owner.PID != os.Getpid() && s.Owner.Alive() {
		return fmt.Errorf("chaos: the run of %s is still going (harness pid %d)", filepath.Dir(s.path), s.Owner.PID)
	}
	var errs []error
	names := make([]string, 0, len(s.Processes))
	for n := range s.Processes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := s.Processes[n]
		if err := r.Stop(ctx, 0); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s (pid %d): %w", n, r.PID, err))
			continue
		}
		_ = s.SetProcess(n, proc.Record{})
	}
	for i := len(s.Mounts) - 1; i >= 0; i-- {
		if err := unmount(s.Mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Cgroups != "" {
		// A killed process leaves its group a moment after it is reaped.
		var err error
		for try := 0; try < 50; try++ {
			if err = s.Cgroup.RemoveGroups(s.Cgroups); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("removing cgroups %s: %w", s.Cgroups, err))
		}
	}
	for i := len(s.Namespaces) - 1; i >= 0; i-- {
		if err := DeleteNetns(ctx, Netns{Name: s.Namespaces[i]}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		_ = s.update(func() { s.Namespaces, s.Mounts, s.Cgroups = nil, nil, "" })
	}
	return errors.Join(errs...)
}

// unmount detaches dir if something is mounted there.
func unmount(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // EINVAL: not a mount point (any more)
	}
	return fmt.Errorf("unmounting %s: %w", dir, err)
}

// procOf records a running process.
func procOf(pid int) (proc.Record, error) { return proc.Of(pid) }
