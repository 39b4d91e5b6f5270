//go:build redteam

package redteam_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// row is one line of a table: an attack, how often it was tried, how many
// slashable pairs (or lost approvals) it got fully signed, and what the
// signers answered instead.
type row struct {
	section   string
	attack    string
	attempts  int
	slashable int
	outcome   counts
	refusals  counts
}

var summary struct {
	mu    sync.Mutex
	rows  []*row
	index map[string]*row
}

// record adds r to the summary, merged with earlier rows of the same
// section and attack.
func record(r row) {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	if summary.index == nil {
		summary.index = map[string]*row{}
	}
	k := r.section + "\x00" + r.attack
	s := summary.index[k]
	if s == nil {
		s = &row{section: r.section, attack: r.attack, outcome: counts{}, refusals: counts{}}
		summary.index[k] = s
		summary.rows = append(summary.rows, s)
	}
	s.attempts += r.attempts
	s.slashable += r.slashable
	s.outcome.add(r.outcome)
	s.refusals.add(r.refusals)
}

// table renders rows as a Markdown table.
func table(rows []*row) string {
	var b strings.Builder
	b.WriteString("| Attack | Attempts | Slashable signed | Outcome | Refusals by status/reason |\n")
	b.WriteString("| --- | ---: | ---: | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s |\n", r.attack, r.attempts, r.slashable, r.outcome, r.refusals)
	}
	return b.String()
}

// logTable prints an attack's own table in its test's log.
func logTable(t *testing.T, rows ...*row) {
	t.Helper()
	t.Logf("\n%s", table(rows))
}

// summaryTable is what make redteam ends with, grouped by section, ready to
// paste into a closing note.
func summaryTable(took time.Duration) string {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Red-team summary (seed %d, %v)\n", the.seed, took.Round(time.Second))
	var sections []string
	by := map[string][]*row{}
	total := row{outcome: counts{}, refusals: counts{}}
	for _, r := range summary.rows {
		if by[r.section] == nil {
			sections = append(sections, r.section)
		}
		by[r.section] = append(by[r.section], r)
		total.attempts += r.attempts
		total.slashable += r.slashable
	}
	// The core's attacks first, the holes last, whatever order the tests
	// ran in.
	rank := func(section string) int {
		for i, p := range []string{"Concurrent", "kill", "Forged", "Oversized", "Holes"} {
			if strings.HasPrefix(section, p) {
				return i
			}
		}
		return 99
	}
	sort.SliceStable(sections, func(i, j int) bool { return rank(sections[i]) < rank(sections[j]) })
	for _, s := range sections {
		rows := by[s]
		if rank(s) == 4 {
			// The holes by item ("item 1, ..."), whatever order they ran in.
			sort.SliceStable(rows, func(i, j int) bool { return rows[i].attack < rows[j].attack })
		}
		fmt.Fprintf(&b, "\n### %s\n\n%s", s, table(rows))
	}
	fmt.Fprintf(&b, "\nTotal: %d attempts, %d slashable pairs or lost approvals fully signed.\n", total.attempts, total.slashable)
	return b.String()
}
