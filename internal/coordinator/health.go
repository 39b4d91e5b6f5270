package coordinator

import (
	"sort"
	"sync"
	"time"

	"github.com/rampart-signer/rampart/tss"
)

// suspectFor is how long a participant that failed is asked last.
const suspectFor = 30 * time.Second

// health remembers how each participant has been answering, so the first
// participants asked are the ones likely to answer fast.
type health struct {
	mu sync.Mutex
	by map[tss.ID]*record
}

type record struct {
	latency  time.Duration // exponentially weighted moving average
	failures int           // consecutive
	failedAt time.Time
}

func newHealth() *health { return &health{by: map[tss.ID]*record{}} }

func (h *health) get(id tss.ID) *record {
	r := h.by[id]
	if r == nil {
		r = &record{}
		h.by[id] = r
	}
	return r
}

// success records an answer; it reports whether the participant had been
// failing until then.
func (h *health) success(id tss.ID, d time.Duration) (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.get(id)
	recovered = r.failures > 0
	r.failures = 0
	if r.latency == 0 {
		r.latency = d
	} else {
		r.latency = (r.latency*7 + d) / 8
	}
	return recovered
}

// failure records a failed call; it reports whether it is the first of a
// run of failures.
func (h *health) failure(id tss.ID, now time.Time) (first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.get(id)
	r.failures++
	r.failedAt = now
	return r.failures == 1
}

// order sorts participants: those without a recent failure first, by
// latency; then suspects, least recently failed first.
func (h *health) order(ps []Participant, now time.Time) []Participant {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]Participant(nil), ps...)
	suspect := func(p Participant) bool {
		r := h.by[p.ID()]
		return r != nil && r.failures > 0 && now.Sub(r.failedAt) < suspectFor
	}
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := suspect(out[i]), suspect(out[j])
		if si != sj {
			return !si
		}
		ri, rj := h.by[out[i].ID()], h.by[out[j].ID()]
		var li, lj time.Duration
		if ri != nil {
			li = ri.latency
		}
		if rj != nil {
			lj = rj.latency
		}
		if si {
			return ri.failedAt.Before(rj.failedAt)
		}
		return li < lj
	})
	return out
}
