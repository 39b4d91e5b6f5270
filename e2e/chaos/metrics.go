package chaos

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Samples are the samples of one Prometheus text exposition, keyed by the
// series as written ("name{label=\"v\",...}"); labels keep their order.
type Samples map[string]float64

// ParseMetrics reads the Prometheus text format (comments skipped).
func ParseMetrics(r io.Reader) (Samples, error) {
	out := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the series; labels may hold spaces, so cut at
		// the closing brace when there is one.
		series, rest := line, ""
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			series, rest = line[:i+1], strings.TrimSpace(line[i+1:])
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			series, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("chaos: metrics line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("chaos: metrics line %q: %w", line, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

// Sub returns s - before, series by series (a series missing before counts
// from 0), so counters and histograms give what happened in between.
func (s Samples) Sub(before Samples) Samples {
	out := Samples{}
	for k, v := range s {
		out[k] = v - before[k]
	}
	return out
}

// Add adds o into s.
func (s Samples) Add(o Samples) {
	for k, v := range o {
		s[k] += v
	}
}

// labels parses a series' labels.
func labels(series string) (name string, ls map[string]string) {
	i := strings.IndexByte(series, '{')
	if i < 0 {
		return series, map[string]string{}
	}
	name, body := series[:i], strings.TrimSuffix(series[i+1:], "}")
	ls = map[string]string{}
	for body != "" {
		eq := strings.IndexByte(body, '=')
		if eq < 0 || len(body) < eq+2 || body[eq+1] != '"' {
			break
		}
		key := body[:eq]
		rest := body[eq+2:]
		var val strings.Builder
		j := 0
		for ; j < len(rest); j++ {
			if rest[j] == '\\' && j+1 < len(rest) {
				j++
				val.WriteByte(rest[j])
				continue
			}
			if rest[j] == '"' {
				break
			}
			val.WriteByte(rest[j])
		}
		ls[key] = val.String()
		body = strings.TrimPrefix(rest[min(j+1, len(rest)):], ",")
	}
	return name, ls
}

// Sum adds the samples of metric name whose labels include match.
func (s Samples) Sum(name string, match map[string]string) float64 {
	total := 0.0
	for series, v := range s {
		n, ls := labels(series)
		if n != name || !matches(ls, match) {
			continue
		}
		total += v
	}
	return total
}

// ByLabel adds the samples of metric name by the value of one label.
func (s Samples) ByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range s {
		n, ls := labels(series)
		if n == name {
			out[ls[label]] += v
		}
	}
	return out
}

func matches(ls, match map[string]string) bool {
	for k, v := range match {
		if ls[k] != v {
			return false
		}
	}
	return true
}

// Histogram is a Prometheus histogram's cumulative buckets, summed over
// the series that matched.
type Histogram struct {
	Bounds []float64 // upper bounds, ascending, +Inf last
	Counts []float64 // cumulative
	Sum    float64
	Count  float64
}

// Histogram gathers histogram name (its _bucket, _sum and _count series)
// over the series whose labels include match.
func (s Samples) Histogram(name string, match map[string]string) Histogram {
	byLE := map[float64]float64{}
	h := Histogram{}
	for series, v := range s {
		n, ls := labels(series)
		if !matches(ls, match) {
			continue
		}
		switch n {
		case name + "_bucket":
			le := math.Inf(1)
			if ls["le"] != "+Inf" {
				f, err := strconv.ParseFloat(ls["le"], 64)
				if err != nil {
					continue
				}
				le = f
			}
			byLE[le] += v
		case name + "_sum":
			h.Sum += v
		case name + "_count":
			h.Count += v
		}
	}
	for le := range byLE {
		h.Bounds = append(h.Bounds, le)
	}
	sort.Float64s(h.Bounds)
	for _, le := range h.Bounds {
		h.Counts = append(h.Counts, byLE[le])
	}
	return h
}

// Quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear interpolation inside the bucket that holds it (the lowest
// bucket from 0). With exponential buckets the estimate is within a
// factor of two of the truth; it is NaN without observations, and the
// highest finite bound when the quantile lies in the +Inf bucket.
func (h Histogram) Quantile(q float64) float64 {
	if len(h.Counts) == 0 || h.Counts[len(h.Counts)-1] <= 0 {
		return math.NaN()
	}
	total := h.Counts[len(h.Counts)-1]
	rank := q * total
	for i, c := range h.Counts {
		if c < rank {
			continue
		}
		if math.IsInf(h.Bounds[i], 1) {
			if i == 0 {
				return math.NaN()
			}
			return h.Bounds[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.Bounds[i-1], h.Counts[i-1]
		}
		if c == below {
			return h.Bounds[i]
		}
		return lo + (h.Bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.Bounds[len(h.Bounds)-1]
}
