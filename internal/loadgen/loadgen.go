package loadgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// Errors of a run.
var (
	// ErrHorizon: the plan needs target epochs beyond the signers'
	// horizon (current epoch + Options.EpochsAhead).
	ErrHorizon = errors.New("loadgen: the plan needs target epochs beyond the signers' horizon")
	// ErrNoKeys: the endpoint lists no key, and none was given.
	ErrNoKeys = errors.New("loadgen: no validator keys")
	// ErrInvalidSignature: a signature received does not verify.
	ErrInvalidSignature = errors.New("loadgen: a signature received does not verify")
	// ErrBadStep: a step's parameters are out of range.
	ErrBadStep = errors.New("loadgen: invalid step")
)

// maxBody bounds every response read.
const maxBody = 8 << 20

// Options configure a Runner.
type Options struct {
	// URL is the endpoint's base URL (scheme, host and port).
	URL string
	// Client sends the requests; its transport carries the TLS identity.
	Client *http.Client
	// Network gives the fork schedule, the genesis validators root and
	// the wall clock's epoch.
	Network *network.Network
	// Keys to sign with; empty: GET /api/v1/eth2/publicKeys.
	Keys []api.PublicKey
	// MaxKeys, when positive, uses only the first MaxKeys keys.
	MaxKeys int
	// EpochOffset starts the targets this many epochs after the current
	// one: a second run against the same signers continues where the
	// first stopped (its Runner.NextOffset).
	EpochOffset uint64
	// EpochsAhead is the signers' slashing.future_epochs: the last target
	// allowed is the current epoch + EpochsAhead.
	EpochsAhead uint64
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Progress receives progress lines (nil: none).
	Progress io.Writer
}

// Mode is how a step sends its requests.
type Mode string

// The modes.
const (
	// Single: one request at a time (or open-loop at Step.Rate per second).
	Single Mode = "single"
	// Concurrent: rounds of Step.N single requests sent at once, as a
	// validator client sends a slot's duties.
	Concurrent Mode = "concurrent"
	// Batch: rounds of Rampart's batch endpoint (POST /api/v1/eth2/sign)
	// carrying Step.N keys (several calls at once when N exceeds the keys).
	Batch Mode = "batch"
)

// Step is one measurement.
type Step struct {
	Label string `json:"label"`
	Mode  Mode   `json:"mode"`
	// N is the burst size (concurrent, batch); 1 for single.
	N int `json:"n"`
	// Count is the number of requests (single) or rounds (concurrent,
	// batch) measured.
	Count int `json:"count"`
	// Warmup requests (single) or rounds are sent first and not counted.
	Warmup int `json:"warmup"`
	// Rate, single mode only: requests per second, open loop (0: one
	// after the other).
	Rate float64 `json:"rate,omitempty"`
}

func (s Step) validate(keys int) error {
	switch {
	case s.Mode != Single && s.Mode != Concurrent && s.Mode != Batch:
		return fmt.Errorf("%w: mode %q is not single, concurrent or batch", ErrBadStep, s.Mode)
	case s.Count < 1:
		return fmt.Errorf("%w: count %d: at least one request or round", ErrBadStep, s.Count)
	case s.Warmup < 0:
		return fmt.Errorf("%w: warmup %d is negative", ErrBadStep, s.Warmup)
	case s.Mode != Single && s.N < 1:
		return fmt.Errorf("%w: n %d: a burst has at least one request", ErrBadStep, s.N)
	case s.Rate < 0 || (s.Rate > 0 && s.Mode != Single):
		return fmt.Errorf("%w: rate %v is for single mode only, and not negative", ErrBadStep, s.Rate)
	case keys == 0:
		return ErrNoKeys
	}
	return nil
}

// epochs is how many target epochs the step consumes.
func (s Step) epochs(keys int) uint64 {
	if s.Mode == Single {
		return uint64(ceilDiv(s.Count+s.Warmup, keys))
	}
	return uint64((s.Count + s.Warmup) * ceilDiv(s.N, keys))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Sample is one timed request (single) or round (concurrent, batch).
type Sample struct {
	// At is when it started, from the step's start.
	At time.Duration `json:"at_ns"`
	// Latency is how long it took.
	Latency time.Duration `json:"latency_ns"`
	// Failed is the error of a failed request, or of a round none of
	// whose requests succeeded (a round's failed requests are counted in
	// Result.Errors).
	Failed string `json:"error,omitempty"`
}

// Result is one step's measurement.
type Result struct {
	Step Step `json:"step"`
	// Samples: each request (single) or each round's whole time
	// (concurrent, batch: first request sent to last answer).
	Samples []Sample `json:"samples"`
	// Requests: each request's own latency within the rounds (concurrent
	// and batch calls); empty for single.
	Requests []Sample `json:"requests,omitempty"`
	// Summary of Samples.
	Summary Summary `json:"summary"`
	// RequestSummary of Requests.
	RequestSummary *Summary `json:"request_summary,omitempty"`
	// Signatures counts the signatures received (and verified).
	Signatures int `json:"signatures"`
	// Errors counts failed signatures.
	Errors int `json:"errors"`
	// Throughput is signatures per second over the measured time.
	Throughput float64 `json:"signatures_per_second"`
	// Elapsed is the measured wall time.
	Elapsed time.Duration `json:"elapsed_ns"`
	// FirstEpoch and LastEpoch are the target epochs used.
	FirstEpoch uint64 `json:"first_target_epoch"`
	LastEpoch  uint64 `json:"last_target_epoch"`
}

// Runner runs steps against one endpoint.
type Runner struct {
	o     Options
	keys  []api.PublicKey
	pubs  []*bls.PublicKey
	base  phase0.Epoch // current epoch + offset at New
	next  phase0.Epoch // next unused target epoch
	mu    sync.Mutex
	cache map[phase0.Epoch]*attestation
}

// attestation is one target epoch's request: its body and signing root.
type attestation struct {
	body []byte
	root [32]byte
}

// New fetches the keys (unless given) and fixes the first target epoch.
func New(ctx context.Context, o Options) (*Runner, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Network == nil {
		return nil, errors.New("loadgen: no network")
	}
	o.URL = strings.TrimRight(o.URL, "/")
	keys := o.Keys
	if len(keys) == 0 {
		var err error
		if keys, err = FetchKeys(ctx, o.Client, o.URL); err != nil {
			return nil, err
		}
	}
	if o.MaxKeys > 0 && len(keys) > o.MaxKeys {
		keys = keys[:o.MaxKeys]
	}
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	encs := make([][]byte, len(keys))
	for i := range keys {
		encs[i] = keys[i][:]
	}
	pubs, err := bls.PublicKeysFromBytes(encs)
	if err != nil {
		return nil, fmt.Errorf("loadgen: a validator key: %w", err)
	}
	current, ok := o.Network.LatestEpochAt(o.Now())
	if !ok {
		return nil, fmt.Errorf("loadgen: network %s has no known genesis time (give --genesis-time)", o.Network.Name())
	}
	base := current + phase0.Epoch(o.EpochOffset)
	if base == 0 {
		base = 1 // source = target - 1
	}
	return &Runner{o: o, keys: keys, pubs: pubs, base: base, next: base, cache: map[phase0.Epoch]*attestation{}}, nil
}

// Keys returns the keys the runner signs with.
func (r *Runner) Keys() []api.PublicKey { return r.keys }

// NextOffset is the EpochOffset a later run against the same signers
// starts from, so that it never repeats a target epoch of this one.
func (r *Runner) NextOffset() uint64 {
	current, _ := r.o.Network.LatestEpochAt(r.o.Now())
	if r.next <= current {
		return 0
	}
	return uint64(r.next - current)
}

// Check refuses a plan that needs targets beyond the horizon.
func (r *Runner) Check(steps []Step) error {
	need := uint64(0)
	for _, s := range steps {
		if err := s.validate(len(r.keys)); err != nil {
			return err
		}
		need += s.epochs(len(r.keys))
	}
	current, _ := r.o.Network.LatestEpochAt(r.o.Now())
	last := uint64(r.next) + need - 1
	if limit := uint64(current) + r.o.EpochsAhead; last > limit {
		return fmt.Errorf("%w: targets %d to %d (%d keys), the signers sign up to epoch %d (current %d + future_epochs %d): raise the signers' slashing.future_epochs (rampartctl devnet up --future-epochs) and --epochs-ahead, use more keys, or fewer requests",
			ErrHorizon, r.next, last, len(r.keys), limit, current, r.o.EpochsAhead)
	}
	return nil
}

// request returns the attestation of target epoch e: the same data for
// every key (as since Electra, where a slot's attestations share one
// signing root), fixed by e alone.
func (r *Runner) request(e phase0.Epoch) (*attestation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.cache[e]; a != nil {
		return a, nil
	}
	n := r.o.Network
	rootOf := func(tag string, e phase0.Epoch) phase0.Root {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(e))
		return sha256.Sum256(append([]byte("rampart-bench "+tag), b[:]...))
	}
	f := n.ForkAtEpoch(e)
	req := &signing.Request{
		Type: signing.Type("ATTESTATION"),
		ForkInfo: &signing.ForkInfo{
			Fork:                  phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch},
			GenesisValidatorsRoot: n.GenesisValidatorsRoot(),
		},
		Attestation: &phase0.AttestationData{
			Slot:            phase0.Slot(uint64(e) * n.Preset().SlotsPerEpoch),
			Index:           0,
			BeaconBlockRoot: rootOf("block", e),
			Source:          &phase0.Checkpoint{Epoch: e - 1, Root: rootOf("checkpoint", e-1)},
			Target:          &phase0.Checkpoint{Epoch: e, Root: rootOf("checkpoint", e)},
		},
	}
	root, err := req.SigningRoot(n)
	if err != nil {
		return nil, fmt.Errorf("loadgen: signing root of the attestation for epoch %d: %w", e, err)
	}
	req.ProvidedRoot = &root
	body, err := req.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("loadgen: encoding the attestation for epoch %d: %w", e, err)
	}
	a := &attestation{body: body, root: root}
	r.cache[e] = a
	return a, nil
}

// signed is a signature to verify after the step.
type signed struct {
	key  int
	root [32]byte
	sig  api.Signature
}

// job is one request of a step: key k at target epoch e.
type job struct {
	key   int
	epoch phase0.Epoch
}

// Run runs one step.
func (r *Runner) Run(ctx context.Context, s Step) (*Result, error) {
	if err := r.Check([]Step{s}); err != nil {
		return nil, err
	}
	res := &Result{Step: s, FirstEpoch: uint64(r.next)}
	var out []signed
	var outMu sync.Mutex
	keep := func(ss []signed) {
		outMu.Lock()
		out = append(out, ss...)
		outMu.Unlock()
	}
	K := len(r.keys)
	// Prepare every body before timing anything.
	for e := r.next; e < r.next+phase0.Epoch(s.epochs(K)); e++ {
		if _, err := r.request(e); err != nil {
			return nil, err
		}
	}
	progress := newProgress(r.o.Progress, s.Label, s.Count)
	switch s.Mode {
	case Single:
		total := s.Warmup + s.Count
		jobs := make([]job, total)
		for i := range jobs {
			jobs[i] = job{key: i % K, epoch: r.next + phase0.Epoch(i/K)}
		}
		r.next += phase0.Epoch(s.epochs(K))
		for _, j := range jobs[:s.Warmup] {
			if _, sg, err := r.one(ctx, j); err == nil {
				keep([]signed{sg})
			}
		}
		start := time.Now()
		res.Samples = make([]Sample, s.Count)
		measure := func(i int) {
			at := time.Since(start)
			lat, sg, err := r.one(ctx, jobs[s.Warmup+i])
			res.Samples[i] = Sample{At: at, Latency: lat}
			if err != nil {
				res.Samples[i].Failed = err.Error()
				return
			}
			keep([]signed{sg})
		}
		if s.Rate == 0 {
			for i := range s.Count {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				measure(i)
				progress.tick(i + 1)
			}
		} else {
			var wg sync.WaitGroup
			interval := time.Duration(float64(time.Second) / s.Rate)
			for i := range s.Count {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						wg.Wait()
						return nil, ctx.Err()
					}
				}
				wg.Add(1)
				go func() { defer wg.Done(); measure(i) }()
				progress.tick(i + 1)
			}
			wg.Wait()
		}
		res.Elapsed = time.Since(start)
	default:
		per := ceilDiv(s.N, K)
		rounds := make([][]job, s.Warmup+s.Count)
		for k := range rounds {
			jobs := make([]job, s.N)
			for j := range jobs {
				jobs[j] = job{key: j % K, epoch: r.next + phase0.Epoch(j/K)}
			}
			rounds[k] = jobs
			r.next += phase0.Epoch(per)
		}
		round := func(jobs []job) (time.Duration, []Sample, string) {
			if s.Mode == Concurrent {
				return r.burst(ctx, jobs, keep)
			}
			return r.batches(ctx, jobs, keep)
		}
		for _, jobs := range rounds[:s.Warmup] {
			round(jobs)
		}
		start := time.Now()
		for k, jobs := range rounds[s.Warmup:] {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			at := time.Since(start)
			lat, reqs, failed := round(jobs)
			for i := range reqs {
				reqs[i].At += at
			}
			res.Samples = append(res.Samples, Sample{At: at, Latency: lat, Failed: failed})
			res.Requests = append(res.Requests, reqs...)
			progress.tick(k + 1)
		}
		res.Elapsed = time.Since(start)
	}
	progress.done()
	res.LastEpoch = uint64(r.next) - 1
	res.Summary = Summarize(res.Samples)
	if len(res.Requests) > 0 {
		rs := Summarize(res.Requests)
		res.RequestSummary = &rs
	}
	measured := s.Count * max(s.N, 1)
	if s.Mode == Single {
		measured = s.Count
	}
	// Verify every signature received, outside the timed window.
	keys := make([]*bls.PublicKey, len(out))
	msgs := make([][32]byte, len(out))
	sigs := make([]*bls.Signature, len(out))
	encs := make([][]byte, len(out))
	for i := range out {
		encs[i] = out[i].sig[:]
	}
	decoded, err := bls.SignaturesFromBytes(encs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	for i, o := range out {
		keys[i], msgs[i], sigs[i] = r.pubs[o.key], o.root, decoded[i]
	}
	if len(out) > 0 && !bls.BatchVerify(keys, msgs, sigs) {
		return nil, ErrInvalidSignature
	}
	failedCount := 0
	for _, smp := range res.Samples {
		if smp.Failed != "" {
			failedCount++
		}
	}
	for _, smp := range res.Requests {
		if smp.Failed != "" {
			failedCount++
		}
	}
	if s.Mode != Single {
		// Rounds carry their first failure; the requests count them.
		failedCount = 0
		for _, smp := range res.Requests {
			if smp.Failed != "" {
				failedCount++
			}
		}
	}
	res.Errors = failedCount
	res.Signatures = measured - failedCount
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Signatures) / res.Elapsed.Seconds()
	}
	return res, nil
}

// one sends a single signing request.
func (r *Runner) one(ctx context.Context, j job) (time.Duration, signed, error) {
	a, err := r.request(j.epoch)
	if err != nil {
		return 0, signed{}, err
	}
	key := r.keys[j.key]
	start := time.Now()
	body, err := r.post(ctx, "/api/v1/eth2/sign/"+key.String(), a.body)
	lat := time.Since(start)
	if err != nil {
		return lat, signed{}, err
	}
	var resp api.SigningResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return lat, signed{}, fmt.Errorf("malformed answer: %w", err)
	}
	return lat, signed{key: j.key, root: a.root, sig: resp.Signature}, nil
}

// burst sends every job at once as a single request.
func (r *Runner) burst(ctx context.Context, jobs []job, keep func([]signed)) (time.Duration, []Sample, string) {
	reqs := make([]Sample, len(jobs))
	sigs := make([]signed, len(jobs))
	ok := make([]bool, len(jobs))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			at := time.Since(start)
			lat, sg, err := r.one(ctx, j)
			reqs[i] = Sample{At: at, Latency: lat}
			if err != nil {
				reqs[i].Failed = err.Error()
				return
			}
			sigs[i], ok[i] = sg, true
		}()
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)
	var good []signed
	failed := ""
	for i := range jobs {
		if ok[i] {
			good = append(good, sigs[i])
		} else if failed == "" {
			failed = reqs[i].Failed
		}
	}
	keep(good)
	if len(good) > 0 {
		failed = "" // the round's time stands; its failed requests are counted
	}
	return took, reqs, failed
}

// batchBody is the batch endpoint's request.
type batchBody struct {
	Identifiers    []api.PublicKey `json:"identifiers"`
	SigningRequest json.RawMessage `json:"signing_request"`
}

// batches sends the jobs as one batch call per target epoch, all at once.
func (r *Runner) batches(ctx context.Context, jobs []job, keep func([]signed)) (time.Duration, []Sample, string) {
	var groups [][]job
	for _, j := range jobs {
		if len(groups) == 0 || groups[len(groups)-1][0].epoch != j.epoch {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], j)
	}
	bodies := make([][]byte, len(groups))
	roots := make([][32]byte, len(groups))
	for g, grp := range groups {
		a, err := r.request(grp[0].epoch)
		if err != nil {
			return 0, nil, err.Error()
		}
		b := batchBody{SigningRequest: a.body}
		for _, j := range grp {
			b.Identifiers = append(b.Identifiers, r.keys[j.key])
		}
		if bodies[g], err = json.Marshal(b); err != nil {
			return 0, nil, err.Error()
		}
		roots[g] = a.root
	}
	reqs := make([]Sample, len(jobs))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var start time.Time
	first := 0
	for g, grp := range groups {
		at := first
		first += len(grp)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Since(start)
			body, err := r.post(ctx, "/api/v1/eth2/sign", bodies[g])
			lat := time.Since(start) - t0
			fail := func(msg string) {
				for k := range grp {
					reqs[at+k] = Sample{At: t0, Latency: lat, Failed: msg}
				}
			}
			if err != nil {
				fail(err.Error())
				return
			}
			var results []api.BatchResult
			if err := json.Unmarshal(body, &results); err != nil || len(results) != len(grp) {
				fail(fmt.Sprintf("malformed batch answer (%d results for %d keys): %v", len(results), len(grp), err))
				return
			}
			var good []signed
			for k, res := range results {
				reqs[at+k] = Sample{At: t0, Latency: lat}
				switch {
				case res.Identifier != r.keys[grp[k].key]:
					reqs[at+k].Failed = "batch answer for another key"
				case res.Error != nil:
					reqs[at+k].Failed = fmt.Sprintf("status %d: %s", res.Error.Code, res.Error.Message)
				case res.Signature == nil:
					reqs[at+k].Failed = "batch answer without signature"
				default:
					good = append(good, signed{key: grp[k].key, root: roots[g], sig: *res.Signature})
				}
			}
			keep(good)
		}()
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)
	failed := ""
	for _, s := range reqs {
		if s.Failed == "" {
			return took, reqs, "" // the round's time stands; its failed requests are counted
		}
		failed = s.Failed
	}
	return took, reqs, failed
}

// post sends one request and returns the body of a 200 answer.
func (r *Runner) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.o.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// FetchKeys lists the endpoint's keys (GET /api/v1/eth2/publicKeys).
func FetchKeys(ctx context.Context, c *http.Client, base string) ([]api.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/v1/eth2/publicKeys", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: listing keys: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("loadgen: listing keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: listing keys: status %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	var keys []api.PublicKey
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("loadgen: listing keys: malformed answer: %w", err)
	}
	return keys, nil
}
