package chaos

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The controllers' files are plain files here: the test checks what the
// harness writes and reads, on either cgroup version.
func TestCgroupQuotaOnBothVersions(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		root := t.TempDir()
		fs := CgroupFS{Root: root, V2: v2}
		g, err := fs.MakeGroup("run", "s1", 0.5)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.Quota(g)
		if err != nil || got != 0.5 {
			t.Errorf("%s: quota %g (%v), want 0.5", fs.Version(), got, err)
		}
		if v2 {
			b, _ := os.ReadFile(filepath.Join(root, "run", "cgroup.subtree_control"))
			if string(b) != "+cpu" {
				t.Errorf("v2: the cpu controller was not enabled for the run's groups: %q", b)
			}
		}
		stat := "nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n"
		if v2 {
			stat = "usage_usec 900000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 2500000\n"
		}
		if err := os.WriteFile(filepath.Join(g.Dir, "cpu.stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := fs.Stat(g)
		if err != nil || st.Throttled != 4 || st.ThrottledTime != 2500*time.Millisecond {
			t.Errorf("%s: stat %+v (%v)", fs.Version(), st, err)
		}
		if g.Procs() != filepath.Join(root, "run", "s1", "cgroup.procs") {
			t.Errorf("procs file %s", g.Procs())
		}
	}
}

func TestDetectCgroupsOnThisMachine(t *testing.T) {
	fs, err := DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("no CPU controller here: %v", err)
	}
	if _, err := os.Stat(fs.Root); err != nil {
		t.Errorf("detected %s at %s, which does not exist", fs.Version(), fs.Root)
	}
	t.Logf("cgroup %s, CPU controller at %s", fs.Version(), fs.Root)
}
