//go:build redteam

package redteam_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// suite holds what the tests share: the clusters (expensive to start, so
// started once, on first use), the seeded randomness and the summary.
type suite struct {
	dir  string
	seed uint64

	mu       sync.Mutex
	rnd      *rand.Rand
	clusters map[string]*cluster
	failed   map[string]error
	bins     map[string]string
	binsErr  error
	closers  []func()
}

var the = &suite{clusters: map[string]*cluster{}, failed: map[string]error{}}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redteam-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	the.dir = dir
	the.seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("REDTEAM_SEED"); s != "" {
		if the.seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			fmt.Fprintf(os.Stderr, "REDTEAM_SEED=%q: want a decimal number\n", s)
			os.Exit(2)
		}
	}
	the.rnd = rand.New(rand.NewPCG(the.seed, 0x7265647465616d))
	start := time.Now()
	code := m.Run()
	the.close()
	if code == 0 && os.Getenv("REDTEAM_KEEP") == "" {
		os.RemoveAll(dir)
	} else {
		fmt.Printf("redteam: clusters, logs and configurations kept in %s\n", dir)
	}
	fmt.Print(summaryTable(time.Since(start)))
	os.Exit(code)
}

// random returns a source seeded from the suite's seed, for one test.
func random() *rand.Rand {
	the.mu.Lock()
	defer the.mu.Unlock()
	return rand.New(rand.NewPCG(the.rnd.Uint64(), the.rnd.Uint64()))
}

func (s *suite) close() {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

func (s *suite) onClose(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, f)
}

// holesSection is the summary's section of the regression tests of issue
// 13's holes.
const holesSection = "Holes of issue 13 (fixed; each test attacks what the fix closed)"

// holeRecord is what one hole test tried: its attempts, and the signers'
// answers by status and reason.
type holeRecord struct {
	mu       sync.Mutex
	attempts int
	outcome  counts
	refusals counts
}

// pass counts what an attempt that was meant to pass got: outcome names
// it ("authenticated"), for the summary.
func (h *holeRecord) pass(outcome string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	h.outcome[outcome]++
}

// note counts one attempt, and its refusal or, for a 2xx, its answer.
func (h *holeRecord) note(code int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if err != nil || code < 200 || code > 299 {
		h.refusals[reason(code, err)]++
		return
	}
	h.outcome[fmt.Sprintf("answered %d", code)]++
}

// noteAs counts one attempt refused for a reason that is no HTTP status
// (an exit status, a verification failure).
func (h *holeRecord) noteAs(why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	h.refusals[why]++
}

// hole marks a regression test of issue 13's item: its row in the
// summary's holes section says whether the hole stays closed, with the
// attempts and refusals the test noted.
func hole(t *testing.T, item int, what string) *holeRecord {
	t.Helper()
	h := &holeRecord{outcome: counts{}, refusals: counts{}}
	t.Cleanup(func() {
		out := "holds"
		if t.Failed() {
			out = "FAILS"
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.outcome[out]++
		record(row{section: holesSection, attack: fmt.Sprintf("item %d, %s: %s", item, t.Name(), what), attempts: max(h.attempts, 1), outcome: h.outcome, refusals: h.refusals})
	})
	return h
}
