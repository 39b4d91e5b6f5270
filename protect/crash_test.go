package protect_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/protect"
)

// The crash test re-runs this test binary as a child signer (selected by
// crashChildEnv), lets it stream signing requests against a durable
// database, kills it with SIGKILL at a random point and starts it again,
// several times. The child prints a line for every permit before anything
// could sign with it. Afterwards every reported permit must be in the
// database, and no two records in it may be slashable.

const (
	crashChildEnv  = "RAMPART_PROTECT_CRASH_CHILD"
	crashRoundsEnv = "RAMPART_PROTECT_CRASH_ROUNDS"
	crashKeys      = 4
)

func crashConfig() protect.Config {
	cfg := protect.DefaultConfig() // fsync on
	cfg.HistoryEpochs = 1 << 20    // keep everything so presence is exact
	cfg.Limit = protect.NoLimit
	return cfg
}

// TestCrashChild is the child role; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("helper for TestCrashRecovery")
	}
	// spec is "path round seed".
	f := strings.Fields(spec)
	round, _ := strconv.ParseUint(f[1], 10, 64)
	s, _ := strconv.ParseUint(f[2], 10, 64)
	ctx := context.Background()
	db, err := protect.Open(ctx, f[0], crashConfig())
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		os.Exit(3)
	}
	var outMu sync.Mutex
	report := func(line string) {
		outMu.Lock()
		// One write per line: a pipe write this small is atomic, so the
		// parent never sees half a line from a killed child.
		_, _ = os.Stdout.WriteString(line + "\n")
		outMu.Unlock()
	}
	go func() {
		for {
			_ = db.Checkpoint(ctx)
			time.Sleep(time.Millisecond)
		}
	}()
	base := round * 8 // each life can sign new messages as well as conflict with old ones
	for w := range 8 {
		r := rand.New(rand.NewPCG(s, uint64(w)))
		go func() {
			for {
				ki := r.IntN(crashKeys)
				k := key(ki)
				rt := root(r.IntN(3))
				switch r.IntN(3) {
				case 0:
					slot := base + r.Uint64N(24)
					if p, err := db.ApproveBlock(ctx, testGVR, k, protect.Block{Slot: slot, SigningRoot: rt}); err == nil {
						report(fmt.Sprintf("P B %d %d 0 %s", ki, slot, hexRoot(p.SigningRoot())))
					}
				case 1:
					src := base + r.Uint64N(12)
					tgt := src + r.Uint64N(5)
					if p, err := db.ApproveAttestation(ctx, testGVR, k, protect.Attestation{Source: src, Target: tgt, SigningRoot: rt}); err == nil {
						report(fmt.Sprintf("P A %d %d %d %s", ki, src, tgt, hexRoot(p.SigningRoot())))
					}
				default:
					reqs := make([]protect.AttestationRequest, 1+r.IntN(6))
					idx := make([]int, len(reqs))
					for j := range reqs {
						idx[j] = r.IntN(crashKeys)
						src := base + r.Uint64N(12)
						reqs[j] = protect.AttestationRequest{Key: key(idx[j]), Attestation: protect.Attestation{Source: src, Target: src + r.Uint64N(5), SigningRoot: root(r.IntN(3))}}
					}
					vs, err := db.ApproveAttestations(ctx, testGVR, reqs)
					if err != nil {
						continue
					}
					for j, v := range vs {
						if v.Err == nil {
							report(fmt.Sprintf("P A %d %d %d %s", idx[j], reqs[j].Source, reqs[j].Target, hexRoot(v.Permit.SigningRoot())))
						}
					}
				}
			}
		}()
	}
	select {} // until killed
}

func hexRoot(r protect.Root) string { return hex.EncodeToString(r[:]) }

func parsePermitLine(line string) (message, error) {
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "P" {
		return message{}, fmt.Errorf("bad line %q", line)
	}
	nums := make([]uint64, 3)
	for i := range nums {
		v, err := strconv.ParseUint(f[2+i], 10, 64)
		if err != nil {
			return message{}, err
		}
		nums[i] = v
	}
	rb, err := hex.DecodeString(f[5])
	if err != nil || len(rb) != 32 {
		return message{}, fmt.Errorf("bad root in %q", line)
	}
	m := message{key: key(int(nums[0])), root: protect.Root(rb)}
	if f[1] == "B" {
		m.isBlock, m.slot = true, nums[1]
	} else {
		m.source, m.target = nums[1], nums[2]
	}
	return m, nil
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	s := seed(t, time.Now().UnixNano())
	rounds := 8
	if v := os.Getenv(crashRoundsEnv); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s: %v", crashRoundsEnv, err)
		}
	}
	r := rand.New(rand.NewPCG(uint64(s), 0))
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	db, err := protect.Create(ctx, path, testGVR, crashConfig())
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]protect.PublicKey, crashKeys)
	for i := range keys {
		keys[i] = key(i)
	}
	if err := db.Register(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var permits []message
	for round := range rounds {
		// Kill after a random number of reported permits plus a random
		// pause, so kills land mid-commit, mid-checkpoint or in between.
		killAfter := 1 + r.IntN(300)
		var pause time.Duration
		if r.IntN(2) == 0 {
			pause = time.Duration(r.IntN(3000)) * time.Microsecond
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", crashChildEnv, path, round, r.Uint64()))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		got := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break // killed (or exited): a line without its newline never counts
			}
			line = strings.TrimSuffix(line, "\n")
			if strings.HasPrefix(line, "ERR ") {
				t.Fatalf("round %d: child: %s", round, line)
			}
			if !strings.HasPrefix(line, "P ") {
				continue
			}
			m, err := parsePermitLine(line)
			if err != nil {
				t.Fatal(err)
			}
			permits = append(permits, m)
			got++
			if got == killAfter {
				time.Sleep(pause)
				_ = cmd.Process.Kill()
			}
		}
		_, _ = io.Copy(io.Discard, br)
		_ = cmd.Wait()
		t.Logf("round %d: child reported %d permits before SIGKILL", round, got)
	}

	db, err = protect.Open(ctx, path, crashConfig())
	if err != nil {
		t.Fatalf("reopening after the last kill: %v", err)
	}
	defer db.Close()
	checkNoSlashablePair(t, permits)
	// Every record in the file, reported or not, is free of conflicts.
	ic, err := db.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stored []message
	for _, v := range ic.Data {
		for _, b := range v.SignedBlocks {
			stored = append(stored, message{key: v.PublicKey, isBlock: true, slot: b.Slot, root: b.SigningRoot})
		}
		for _, a := range v.SignedAttestations {
			stored = append(stored, message{key: v.PublicKey, source: a.SourceEpoch, target: a.TargetEpoch, root: a.SigningRoot})
		}
	}
	checkNoSlashablePair(t, stored)
	have := map[message]bool{}
	for _, m := range stored {
		have[m] = true
	}
	missing := 0
	for _, m := range permits {
		if !have[m] {
			missing++
			t.Errorf("child reported a permit for %v %v, but the database does not hold it", m.key, m)
		}
	}
	// And the database acts on them: a different root in the same place is
	// refused.
	for _, m := range permits {
		var err error
		if m.isBlock {
			_, err = db.ApproveBlock(ctx, testGVR, m.key, protect.Block{Slot: m.slot, SigningRoot: root(77)})
		} else {
			_, err = db.ApproveAttestation(ctx, testGVR, m.key, protect.Attestation{Source: m.source, Target: m.target, SigningRoot: root(77)})
		}
		if !errors.Is(err, protect.ErrRefused) {
			t.Errorf("after recovery, a conflicting variant of %v was not refused: %v", m, err)
		}
	}
	t.Logf("%d rounds, %d permits reported, %d records stored, %d reported permits missing", rounds, len(permits), len(stored), missing)
}
