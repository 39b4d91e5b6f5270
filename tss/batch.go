package tss

import (
	"fmt"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/parallel"
)

// Request is one recovery of a batch: the arguments of [Recover].
type Request struct {
	Root      [32]byte
	Composite *bls.PublicKey
	Threshold int
	Partials  []Partial
}

// Outcome is the answer to one [Request]: a result or an error, never both.
type Outcome struct {
	Result *Result
	Err    error
}

// RecoverBatch recovers many signatures at once, typically a slot's
// attestations, with the semantics of [Recover] for each request and one
// outcome per request in the same order. A failing request never affects
// another.
//
// It is faster than calling Recover in a loop because candidates are
// checked together with one randomised batch verification (one
// multi-pairing instead of one pairing check each). When that fails it
// finds the failing requests by bisection, checks the partials they used
// grouped by participant (a participant that returns garbage for every
// request costs one failed batch check and one check per partial, while
// each honest participant's partials are cleared with one batch check), and
// recovers again from valid partials and not yet checked replacements; the
// new candidates are again verified together.
func RecoverBatch(reqs []Request) []Outcome {
	out := make([]Outcome, len(reqs))
	var pending []*job
	for i, r := range reqs {
		if err := checkRequest(r.Composite, r.Threshold, r.Partials); err != nil {
			out[i].Err = err
			continue
		}
		pending = append(pending, &job{index: i, req: r, status: make([]int8, len(r.Partials))})
	}
	// The optimistic candidates: one G2 multi-exponentiation each, spread
	// over the CPUs since a slot burst has thousands.
	parallel.For(len(pending), func(k int) { pending[k].use(firstN(pending[k].req.Threshold)) })
	for round := 0; len(pending) > 0; round++ {
		failed := failedCandidates(pending)
		for _, j := range pending {
			if !failed[j] {
				out[j.index].Result = j.result()
			}
		}
		if round == 0 {
			// The optimistic candidates of the failed requests: find the
			// bad partials among those they used.
			screen(filter(pending, failed))
		}
		var next []*job
		for _, j := range filter(pending, failed) {
			if round > 0 && !j.checkUsed() {
				// Every partial it used is valid. Bisection may have
				// counted it as failed with a failing neighbour, so check
				// it alone before concluding that the component keys do
				// not fit the composite key.
				if j.cand != nil && j.req.Composite.Verify(j.req.Root, j.cand) {
					out[j.index].Result = j.result()
					continue
				}
				out[j.index].Err = fmt.Errorf("%w: valid partials of participants %s do not recover a signature under the composite key",
					ErrInconsistentKeys, joinIDs(j.usedIDs()))
				continue
			}
			if err := j.choose(); err != nil {
				out[j.index].Err = err
				continue
			}
			next = append(next, j)
		}
		pending = next
	}
	return out
}

func filter(jobs []*job, keep map[*job]bool) []*job {
	var out []*job
	for _, j := range jobs {
		if keep[j] {
			out = append(out, j)
		}
	}
	return out
}

// Partial status values.
const (
	unchecked int8 = 0
	valid     int8 = 1
	invalid   int8 = -1
)

// job is one request on its way through RecoverBatch.
type job struct {
	index  int
	req    Request
	status []int8 // per partial
	used   []int  // indexes of the partials combined into cand
	cand   *bls.Signature
}

func firstN(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// use combines the partials at idx into the candidate signature. A
// combination that fails (it can only be infinity, from bad partials)
// leaves no candidate, which counts as a failed verification.
func (j *job) use(idx []int) {
	j.used = idx
	ps := make([]Partial, len(idx))
	for k, i := range idx {
		ps[k] = j.req.Partials[i]
	}
	sig, err := combine(ps)
	if err != nil {
		sig = nil
	}
	j.cand = sig
}

// choose combines the first threshold partials, in the order given, that
// are valid or not yet checked; invalid ones are skipped. Unchecked ones
// are used optimistically: the candidate's verification decides.
func (j *job) choose() error {
	var idx []int
	for i := range j.req.Partials {
		if len(idx) == j.req.Threshold {
			break
		}
		if j.status[i] != invalid {
			idx = append(idx, i)
		}
	}
	if len(idx) < j.req.Threshold {
		var bad []ID
		for i, s := range j.status {
			if s == invalid {
				bad = append(bad, j.req.Partials[i].ID)
			}
		}
		return &ShortfallError{Threshold: j.req.Threshold, Valid: len(idx), Bad: bad}
	}
	j.use(idx)
	return nil
}

// checkUsed verifies the unchecked partials of the last candidate one by
// one and reports whether any was unchecked.
func (j *job) checkUsed() bool {
	found := false
	for _, i := range j.used {
		if j.status[i] == unchecked {
			found = true
			p := j.req.Partials[i]
			j.status[i] = invalid
			if p.PublicKey.Verify(j.req.Root, p.Signature) {
				j.status[i] = valid
			}
		}
	}
	return found
}

func (j *job) usedIDs() []ID {
	ids := make([]ID, len(j.used))
	for k, i := range j.used {
		ids[k] = j.req.Partials[i].ID
	}
	return ids
}

func (j *job) result() *Result {
	r := &Result{Signature: j.cand, Used: j.usedIDs()}
	for i, s := range j.status {
		if s == invalid {
			r.Bad = append(r.Bad, j.req.Partials[i].ID)
		}
	}
	return r
}

// failedCandidates returns the jobs whose candidate does not verify under
// the composite key. All candidates are checked with one batch
// verification; if that fails, halves are checked recursively. Where both
// halves fail the failure is widespread and the whole range is returned
// without further splitting: a request wrongly counted as failed only
// takes the careful path, which still recovers its signature, whereas
// bisecting a mostly failing batch down to single requests would cost
// about log2(n) times a full batch check.
func failedCandidates(jobs []*job) map[*job]bool {
	failed := map[*job]bool{}
	var idx []int
	for k, j := range jobs {
		if j.cand == nil {
			failed[j] = true
		} else {
			idx = append(idx, k)
		}
	}
	check := func(idx []int) bool {
		if len(idx) == 1 {
			j := jobs[idx[0]]
			return j.req.Composite.Verify(j.req.Root, j.cand)
		}
		keys := make([]*bls.PublicKey, len(idx))
		msgs := make([][32]byte, len(idx))
		sigs := make([]*bls.Signature, len(idx))
		for n, k := range idx {
			keys[n], msgs[n], sigs[n] = jobs[k].req.Composite, jobs[k].req.Root, jobs[k].cand
		}
		return bls.BatchVerify(keys, msgs, sigs)
	}
	if len(idx) > 0 && !check(idx) {
		for _, k := range failing(idx, check) {
			failed[jobs[k]] = true
		}
	}
	return failed
}

// failing narrows down which members of idx fail check, given that
// check(idx) failed.
func failing(idx []int, check func([]int) bool) []int {
	if len(idx) == 1 {
		return idx
	}
	mid := len(idx) / 2
	left, right := idx[:mid], idx[mid:]
	lok, rok := check(left), check(right)
	switch {
	case !lok && !rok:
		return idx
	case !lok:
		return failing(left, check)
	case !rok:
		return failing(right, check)
	}
	// Both halves pass although the whole did not: impossible for a sound
	// batch check; take the careful path for all.
	return idx
}

// screen checks the partials that failed jobs used, grouped by
// participant, with one batch verification per participant, and records
// the outcome in each job's status. A participant that sent garbage for
// every request is thereby found with one failed batch while the honest
// participants' partials are cleared with one batch each; only the
// partials of a failing group are then verified one by one.
func screen(jobs []*job) {
	type ref struct{ job, partial int }
	groups := map[ID][]ref{}
	var order []ID
	for jn, j := range jobs {
		for _, i := range j.used {
			id := j.req.Partials[i].ID
			if _, seen := groups[id]; !seen {
				order = append(order, id)
			}
			groups[id] = append(groups[id], ref{jn, i})
		}
	}
	for _, id := range order {
		refs := groups[id]
		keys := make([]*bls.PublicKey, len(refs))
		msgs := make([][32]byte, len(refs))
		sigs := make([]*bls.Signature, len(refs))
		for n, r := range refs {
			p := jobs[r.job].req.Partials[r.partial]
			keys[n], msgs[n], sigs[n] = p.PublicKey, jobs[r.job].req.Root, p.Signature
		}
		if len(refs) > 1 && bls.BatchVerify(keys, msgs, sigs) {
			for _, r := range refs {
				jobs[r.job].status[r.partial] = valid
			}
			continue
		}
		for n, r := range refs {
			jobs[r.job].status[r.partial] = invalid
			if keys[n].Verify(msgs[n], sigs[n]) {
				jobs[r.job].status[r.partial] = valid
			}
		}
	}
}
