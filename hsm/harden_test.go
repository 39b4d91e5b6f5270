//go:build linux

package hsm_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rampart-signer/rampart/hsm"
)

const hardenChildEnv = "RAMPART_HSM_HARDEN_CHILD"

// TestHardenInChildProcess hardens a child copy of the test binary (so
// this process stays debuggable) and checks from inside it that each step
// took effect, or was refused with an explanation when the environment
// does not allow it.
func TestHardenInChildProcess(t *testing.T) {
	if os.Getenv(hardenChildEnv) == "1" {
		hardenChild()
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHardenInChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), hardenChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	results := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if step, res, ok := strings.Cut(sc.Text(), ": "); ok && strings.HasPrefix(step, "step ") {
			results[strings.TrimPrefix(step, "step ")] = res
		}
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Fatal(err)
	}
	mayLock := os.Geteuid() == 0 || lim.Cur == unix.RLIM_INFINITY
	for _, step := range []string{"lock memory", "disable core dumps", "disable ptrace attach"} {
		res, ok := results[step]
		switch {
		case !ok:
			t.Errorf("%s: no result from the child:\n%s", step, out)
		case res == "ok":
		case step == "lock memory" && !mayLock && strings.HasPrefix(res, "refused: hsm: process hardening not possible: lock memory: RLIMIT_MEMLOCK"):
			t.Logf("%s refused as the environment requires: %s", step, res)
		default:
			t.Errorf("%s: %s", step, res)
		}
	}
}

// hardenChild runs in the child: it hardens, checks each effect and prints
// one line per step.
func hardenChild() {
	for _, r := range hsm.Harden() {
		res := "ok"
		if r.Err != nil {
			if !errors.Is(r.Err, hsm.ErrHardening) {
				res = "error without ErrHardening: " + r.Err.Error()
			} else {
				res = "refused: " + r.Err.Error()
			}
		} else if err := verifyHardening(r.Step); err != nil {
			res = "not in effect: " + err.Error()
		}
		fmt.Printf("step %s: %s\n", r.Step, res)
	}
}

func verifyHardening(step string) error {
	switch step {
	case "lock memory":
		// Touch fresh memory: with MCL_FUTURE|MCL_ONFAULT it is locked as
		// it is faulted in.
		buf := make([]byte, 8<<20)
		for i := range buf {
			buf[i] = byte(i)
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(status)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmLck:" {
				kb, err := strconv.Atoi(f[1])
				if err != nil || kb < 8<<10 {
					return fmt.Errorf("VmLck is %s kB after touching 8 MiB", f[1])
				}
				return nil
			}
		}
		return errors.New("no VmLck in /proc/self/status")
	case "disable core dumps":
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 {
			return fmt.Errorf("RLIMIT_CORE is %d/%d (%v)", lim.Cur, lim.Max, err)
		}
	case "disable ptrace attach":
		if v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || v != 0 {
			return fmt.Errorf("PR_GET_DUMPABLE is %d (%v)", v, err)
		}
	}
	return nil
}
