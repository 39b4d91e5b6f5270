//go:build redteam

package redteam_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
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

// expectFixed reports whether the hole tests of issue 13's item are on:
// REDTEAM_EXPECT_FIXED is "all" or a comma-separated list of items.
func expectFixed(item int) bool {
	v := strings.TrimSpace(os.Getenv("REDTEAM_EXPECT_FIXED"))
	if v == "all" {
		return true
	}
	return slices.Contains(strings.Split(strings.ReplaceAll(v, " ", ""), ","), strconv.Itoa(item))
}

// hole skips a test of a hole that item of issue 13 fixes, unless
// REDTEAM_EXPECT_FIXED turns it on.
func hole(t *testing.T, item int, what string) {
	t.Helper()
	section := "Holes of issue 13 (REDTEAM_EXPECT_FIXED=" + os.Getenv("REDTEAM_EXPECT_FIXED") + ")"
	if !expectFixed(item) {
		record(row{section: section, attack: fmt.Sprintf("item %d: %s", item, t.Name()), outcome: counts{"skipped: waits for the fix": 1}})
		t.Skipf("waits for issue 13 item %d (%s); REDTEAM_EXPECT_FIXED=%d runs it", item, what, item)
	}
	t.Cleanup(func() {
		out := "holds"
		if t.Failed() {
			out = "FAILS"
		}
		record(row{section: section, attack: fmt.Sprintf("item %d: %s", item, t.Name()), attempts: 1, outcome: counts{out: 1}})
	})
}
