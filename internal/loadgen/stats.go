package loadgen

import (
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
)

// Summary describes a set of latencies (failed samples excluded).
type Summary struct {
	Count  int           `json:"count"`
	Min    time.Duration `json:"min_ns"`
	Median time.Duration `json:"median_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
	Mean   time.Duration `json:"mean_ns"`
}

// Summarize computes the summary of the successful samples.
func Summarize(samples []Sample) Summary {
	var ls []time.Duration
	for _, s := range samples {
		if s.Failed == "" {
			ls = append(ls, s.Latency)
		}
	}
	return summarizeDurations(ls)
}

func summarizeDurations(ls []time.Duration) Summary {
	if len(ls) == 0 {
		return Summary{}
	}
	ls = slices.Clone(ls)
	slices.Sort(ls)
	var sum time.Duration
	for _, l := range ls {
		sum += l
	}
	return Summary{
		Count: len(ls), Min: ls[0], Max: ls[len(ls)-1], Mean: sum / time.Duration(len(ls)),
		Median: Percentile(ls, 50), P90: Percentile(ls, 90), P99: Percentile(ls, 99),
	}
}

// Percentile of sorted latencies, nearest rank: the smallest value with
// at least p% of the values at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Raw is the local BLS signing speed, measured in the same run as the
// endpoint: the denominator of every ratio.
type Raw struct {
	// One is a single signature on one core.
	One Summary `json:"one_signature"`
	// Bursts is the median wall time of N signatures over all cores, by N.
	Bursts map[int]time.Duration `json:"bursts_ns"`
	// CPUs is the number of cores used for the bursts.
	CPUs int `json:"cpus"`
}

// MeasureRaw times samples single signatures one after the other, and for
// each n in bursts, rounds times n signatures spread over every core
// (the median is kept).
func MeasureRaw(samples int, bursts []int, rounds int) (Raw, error) {
	sk, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		return Raw{}, err
	}
	defer sk.Zero()
	var msg [32]byte
	ls := make([]time.Duration, samples)
	for i := range ls {
		msg[0], msg[1] = byte(i), byte(i>>8)
		start := time.Now()
		sk.Sign(msg)
		ls[i] = time.Since(start)
	}
	raw := Raw{One: summarizeDurations(ls), Bursts: map[int]time.Duration{}, CPUs: runtime.GOMAXPROCS(0)}
	for _, n := range bursts {
		var times []time.Duration
		for range max(rounds, 1) {
			times = append(times, signAll(sk, n, raw.CPUs))
		}
		raw.Bursts[n] = summarizeDurations(times).Median
	}
	return raw, nil
}

// signAll signs n distinct messages with workers goroutines.
func signAll(sk *bls.SecretKey, n, workers int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msg [32]byte
			for i := w; i < n; i += workers {
				msg[0], msg[1], msg[2] = byte(i), byte(i>>8), 0xb
				sk.Sign(msg)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// progress prints at most one line a second while a step runs.
type progress struct {
	w     io.Writer
	label string
	total int
	last  time.Time
}

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, label: label, total: total, last: time.Now()}
}

func (p *progress) tick(done int) {
	if p.w == nil || time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "%s: %d/%d\n", p.label, done, p.total)
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintf(p.w, "%s: done\n", p.label)
	}
}

// MergeRaw combines raw measurements taken at several moments of one run
// (a shared machine's load changes during it): the median of each
// figure's medians.
func MergeRaw(raws ...Raw) Raw {
	if len(raws) == 0 {
		return Raw{}
	}
	out := raws[0]
	var ones []time.Duration
	bursts := map[int][]time.Duration{}
	for _, r := range raws {
		ones = append(ones, r.One.Median)
		for n, d := range r.Bursts {
			bursts[n] = append(bursts[n], d)
		}
	}
	out.One.Median = summarizeDurations(ones).Median
	out.Bursts = map[int]time.Duration{}
	for n, ds := range bursts {
		out.Bursts[n] = summarizeDurations(ds).Median
	}
	return out
}
