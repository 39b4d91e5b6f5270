package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cfsPeriod is the CPU bandwidth period, in microseconds.
const cfsPeriod = 100000

// CgroupFS is the CPU controller of this machine's cgroup hierarchy.
type CgroupFS struct {
	// Root is the directory the run's groups go under: the cpu
	// controller's mount on cgroup v1 (/sys/fs/cgroup/cpu), the unified
	// hierarchy's root on v2 (/sys/fs/cgroup).
	Root string
	// V2 is set on the unified hierarchy (cpu.max), clear on v1
	// (cpu.cfs_quota_us and cpu.cfs_period_us).
	V2 bool
}

// DetectCgroups finds the CPU controller under mount (/sys/fs/cgroup).
func DetectCgroups(mount string) (CgroupFS, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil {
		return CgroupFS{}, fmt.Errorf("chaos: cgroups: %w", err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return CgroupFS{Root: mount, V2: true}, nil
	}
	for _, d := range []string{"cpu", "cpu,cpuacct"} {
		p := filepath.Join(mount, d)
		if _, err := os.Stat(filepath.Join(p, "cpu.cfs_quota_us")); err == nil {
			return CgroupFS{Root: p}, nil
		}
	}
	return CgroupFS{}, fmt.Errorf("chaos: no CPU controller under %s (neither cgroup v2 nor v1's cpu hierarchy)", mount)
}

// Version is "v1" or "v2".
func (c CgroupFS) Version() string {
	if c.V2 {
		return "v2"
	}
	return "v1"
}

// Group is one host's cgroup.
type Group struct {
	Dir string
}

// Procs is the file a process writes its pid into to join the group.
func (g Group) Procs() string { return filepath.Join(g.Dir, "cgroup.procs") }

// MakeGroup creates parent/name with a CPU quota of cores (none when 0).
// On v2 the cpu controller is enabled for parent's children first.
func (c CgroupFS) MakeGroup(parent, name string, cores float64) (Group, error) {
	dir := filepath.Join(c.Root, parent, name)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return Group{}, err
	}
	if c.V2 {
		for _, d := range []string{c.Root, filepath.Join(c.Root, parent)} {
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
				return Group{}, fmt.Errorf("chaos: enabling the cpu controller in %s: %w", d, err)
			}
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return Group{}, err
	}
	g := Group{Dir: dir}
	if cores <= 0 {
		return g, nil
	}
	quota := int(cores * cfsPeriod)
	var err error
	if c.V2 {
		err = os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, cfsPeriod)), 0o644)
	} else {
		err = os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(cfsPeriod)), 0o644)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.Itoa(quota)), 0o644)
		}
	}
	if err != nil {
		return g, fmt.Errorf("chaos: CPU quota of %s: %w", dir, err)
	}
	return g, nil
}

// Quota reads the group's CPU quota back, in cores (0: none).
func (c CgroupFS) Quota(g Group) (float64, error) {
	if c.V2 {
		b, err := os.ReadFile(filepath.Join(g.Dir, "cpu.max"))
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) != 2 || f[0] == "max" {
			return 0, nil
		}
		q, err1 := strconv.Atoi(f[0])
		p, err2 := strconv.Atoi(f[1])
		if err := errors.Join(err1, err2); err != nil || p == 0 {
			return 0, fmt.Errorf("chaos: %s/cpu.max: %q", g.Dir, b)
		}
		return float64(q) / float64(p), nil
	}
	read := func(f string) (int, error) {
		b, err := os.ReadFile(filepath.Join(g.Dir, f))
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	q, err := read("cpu.cfs_quota_us")
	if err != nil || q < 0 {
		return 0, err
	}
	p, err := read("cpu.cfs_period_us")
	if err != nil || p == 0 {
		return 0, err
	}
	return float64(q) / float64(p), nil
}

// RemoveGroups removes the run's groups under parent, children first. A
// group that still holds processes cannot be removed (EBUSY): the caller
// stops its processes first.
func (c CgroupFS) RemoveGroups(parent string) error {
	dir := filepath.Join(c.Root, parent)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CPUStat is a group's CPU accounting: time used (v2 only; 0 on v1, whose
// usage is in another hierarchy) and time throttled by the quota.
type CPUStat struct {
	Periods, Throttled int64
	ThrottledTime      time.Duration
	Usage              time.Duration
}

// Stat reads the group's cpu.stat.
func (c CgroupFS) Stat(g Group) (CPUStat, error) {
	b, err := os.ReadFile(filepath.Join(g.Dir, "cpu.stat"))
	if err != nil {
		return CPUStat{}, err
	}
	var st CPUStat
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "nr_periods":
			st.Periods = v
		case "nr_throttled":
			st.Throttled = v
		case "throttled_time": // v1, nanoseconds
			st.ThrottledTime = time.Duration(v)
		case "throttled_usec": // v2
			st.ThrottledTime = time.Duration(v) * time.Microsecond
		case "usage_usec": // v2
			st.Usage = time.Duration(v) * time.Microsecond
		}
	}
	return st, nil
}
