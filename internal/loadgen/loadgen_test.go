package loadgen_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/loadgen"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// fakeSigner is a Web3Signer-compatible endpoint holding whole keys (a
// fake for the load generator's own tests): it decodes every request
// strictly, recomputes the signing root, records each key's attestations
// and refuses a double vote or a surround as a signer would.
type fakeSigner struct {
	t       *testing.T
	n       *network.Network
	sks     map[api.PublicKey]*bls.SecretKey
	corrupt bool // answer a wrong signature for every request

	mu      sync.Mutex
	targets map[api.PublicKey]map[uint64][32]byte
	sources map[api.PublicKey][][2]uint64
	refused int
}

func newFake(t *testing.T, keys int) *fakeSigner {
	f := &fakeSigner{t: t, n: network.Hoodi(), sks: map[api.PublicKey]*bls.SecretKey{}, targets: map[api.PublicKey]map[uint64][32]byte{}, sources: map[api.PublicKey][][2]uint64{}}
	for range keys {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		f.sks[api.PublicKey(sk.PublicKey().Bytes())] = sk
	}
	return f
}

// record is slashing protection for attestations: refuses a second
// signing root for one target, and a surround either way.
func (f *fakeSigner) record(key api.PublicKey, req *signing.Request, root [32]byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, tg := uint64(req.Attestation.Source.Epoch), uint64(req.Attestation.Target.Epoch)
	if f.targets[key] == nil {
		f.targets[key] = map[uint64][32]byte{}
	}
	if prev, ok := f.targets[key][tg]; ok && prev != root {
		f.refused++
		return false
	}
	for _, p := range f.sources[key] {
		if (s < p[0] && tg > p[1]) || (s > p[0] && tg < p[1]) {
			f.refused++
			return false
		}
	}
	f.targets[key][tg] = root
	f.sources[key] = append(f.sources[key], [2]uint64{s, tg})
	return true
}

func (f *fakeSigner) sign(key api.PublicKey, body []byte) (api.Signature, int) {
	sk := f.sks[key]
	if sk == nil {
		return api.Signature{}, http.StatusNotFound
	}
	req, err := signing.ParseRequest(body)
	if err != nil || req.Attestation == nil {
		return api.Signature{}, http.StatusBadRequest
	}
	root, err := req.SigningRoot(f.n)
	if err != nil || req.ProvidedRoot == nil || *req.ProvidedRoot != root {
		return api.Signature{}, http.StatusBadRequest
	}
	if !f.record(key, req, root) {
		return api.Signature{}, http.StatusPreconditionFailed
	}
	if f.corrupt {
		root[0] ^= 1
	}
	return api.Signature(sk.Sign(root).Bytes()), http.StatusOK
}

func (f *fakeSigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/eth2/publicKeys":
		var keys []api.PublicKey
		for k := range f.sks {
			keys = append(keys, k)
		}
		_ = json.NewEncoder(w).Encode(keys)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/eth2/sign/"):
		key, err := api.ParsePublicKey(strings.TrimPrefix(r.URL.Path, "/api/v1/eth2/sign/"))
		if err != nil {
			http.Error(w, "bad key", http.StatusBadRequest)
			return
		}
		sig, code := f.sign(key, body)
		if code != http.StatusOK {
			http.Error(w, "refused", code)
			return
		}
		_ = json.NewEncoder(w).Encode(api.SigningResponse{Signature: sig})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/eth2/sign":
		var b struct {
			Identifiers    []api.PublicKey `json:"identifiers"`
			SigningRequest json.RawMessage `json:"signing_request"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		out := make([]api.BatchResult, len(b.Identifiers))
		for i, k := range b.Identifiers {
			out[i].Identifier = k
			sig, code := f.sign(k, b.SigningRequest)
			if code != http.StatusOK {
				out[i].Error = &api.Error{Code: code, Message: "refused"}
				continue
			}
			out[i].Signature = &sig
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

func newRunner(t *testing.T, f *fakeSigner, ahead uint64) *loadgen.Runner {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	r, err := loadgen.New(context.Background(), loadgen.Options{URL: srv.URL, Client: srv.Client(), Network: f.n, EpochsAhead: ahead})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A run of every mode against one endpoint (more requests than keys in
// each, so keys sign several targets, concurrently in a burst) never asks
// a key for a double vote or a surround, and every signature verifies.
func TestEveryModeIsSlashingSafeAndVerified(t *testing.T) {
	f := newFake(t, 7)
	r := newRunner(t, f, 1024)
	steps := []loadgen.Step{
		{Label: "single", Mode: loadgen.Single, Count: 20, Warmup: 3},
		{Label: "rate", Mode: loadgen.Single, Count: 10, Rate: 10000},
		{Label: "concurrent", Mode: loadgen.Concurrent, N: 17, Count: 3, Warmup: 1},
		{Label: "batch", Mode: loadgen.Batch, N: 16, Count: 2},
	}
	if err := r.Check(steps); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, s := range steps {
		res, err := r.Run(context.Background(), s)
		if err != nil {
			t.Fatalf("%s: %v", s.Label, err)
		}
		if res.Errors != 0 {
			t.Fatalf("%s: %d errors: %+v", s.Label, res.Errors, res.Samples)
		}
		want := s.Count
		if s.Mode != loadgen.Single {
			want = s.Count * s.N
		}
		if res.Signatures != want || res.Summary.Count != s.Count {
			t.Fatalf("%s: %d signatures, %d samples; want %d, %d", s.Label, res.Signatures, res.Summary.Count, want, s.Count)
		}
		if res.FirstEpoch <= last && last != 0 {
			t.Fatalf("%s: starts at target %d, the previous step ended at %d", s.Label, res.FirstEpoch, last)
		}
		last = res.LastEpoch
	}
	if f.refused != 0 {
		t.Fatalf("the endpoint refused %d requests as slashable", f.refused)
	}
}

// A second runner against the same signers, started at the first's
// NextOffset, never repeats one of its targets.
func TestASecondRunContinuesAfterTheFirst(t *testing.T) {
	f := newFake(t, 3)
	srv := httptest.NewServer(f)
	defer srv.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	o := loadgen.Options{URL: srv.URL, Client: srv.Client(), Network: f.n, EpochsAhead: 100, Now: clock}
	r1, err := loadgen.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Run(context.Background(), loadgen.Step{Label: "a", Mode: loadgen.Concurrent, N: 3, Count: 4}); err != nil {
		t.Fatal(err)
	}
	o.EpochOffset = r1.NextOffset()
	r2, err := loadgen.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Run(context.Background(), loadgen.Step{Label: "b", Mode: loadgen.Concurrent, N: 3, Count: 4}); err != nil {
		t.Fatal(err)
	}
	if f.refused != 0 {
		t.Fatalf("the second run repeated %d targets with other data", f.refused)
	}
}

// A plan that needs targets beyond the signers' horizon is refused before
// anything is sent.
func TestPlanBeyondTheHorizonIsRefused(t *testing.T) {
	f := newFake(t, 2)
	r := newRunner(t, f, 1)
	_, err := r.Run(context.Background(), loadgen.Step{Label: "c", Mode: loadgen.Concurrent, N: 2, Count: 3})
	if !errors.Is(err, loadgen.ErrHorizon) {
		t.Fatalf("got %v, want ErrHorizon", err)
	}
	if len(f.targets) != 0 {
		t.Fatal("requests were sent")
	}
}

// An endpoint that answers a wrong signature fails the run.
func TestAnInvalidSignatureFailsTheRun(t *testing.T) {
	f := newFake(t, 4)
	f.corrupt = true
	r := newRunner(t, f, 1024)
	for _, s := range []loadgen.Step{
		{Label: "single", Mode: loadgen.Single, Count: 2},
		{Label: "batch", Mode: loadgen.Batch, N: 4, Count: 1},
	} {
		if _, err := r.Run(context.Background(), s); !errors.Is(err, loadgen.ErrInvalidSignature) {
			t.Fatalf("%s: got %v, want ErrInvalidSignature", s.Label, err)
		}
	}
}

func TestStepsOutOfRangeAreRefused(t *testing.T) {
	f := newFake(t, 1)
	r := newRunner(t, f, 1024)
	for _, s := range []loadgen.Step{
		{Mode: "sideways", Count: 1},
		{Mode: loadgen.Single},
		{Mode: loadgen.Concurrent, Count: 1},
		{Mode: loadgen.Batch, N: 1, Count: 1, Rate: 5},
		{Mode: loadgen.Single, Count: 1, Warmup: -1},
	} {
		if err := r.Check([]loadgen.Step{s}); !errors.Is(err, loadgen.ErrBadStep) {
			t.Errorf("%+v: got %v, want ErrBadStep", s, err)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	ls := make([]time.Duration, 100)
	for i := range ls {
		ls[i] = time.Duration(i + 1)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}, {1, 1}} {
		if got := loadgen.Percentile(ls, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	s := loadgen.Summarize([]loadgen.Sample{{Latency: 3}, {Latency: 1}, {Latency: 2}, {Latency: 100, Failed: "x"}})
	if s.Count != 3 || s.Median != 2 || s.Max != 3 || s.Min != 1 {
		t.Fatalf("summary %+v: failed samples must be left out", s)
	}
}

// The charts are well-formed SVG, with and without data.
func TestChartsAreWellFormedSVG(t *testing.T) {
	var samples []loadgen.Sample
	for i := range 300 {
		samples = append(samples, loadgen.Sample{At: time.Duration(i) * time.Millisecond, Latency: time.Duration(1+i%17) * time.Millisecond})
	}
	for name, series := range map[string][]loadgen.Series{
		"data":  {{Name: "a <b>", Samples: samples}, {Name: "c", Samples: samples[:10]}},
		"empty": {{Name: "none", Samples: []loadgen.Sample{{Failed: "x"}}}},
	} {
		for kind, draw := range map[string]func(io.Writer, string, []loadgen.Series) error{"histogram": loadgen.WriteHistogram, "over-time": loadgen.WriteOverTime} {
			var b bytes.Buffer
			if err := draw(&b, "title & more", series); err != nil {
				t.Fatal(err)
			}
			dec := xml.NewDecoder(&b)
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s %s: not well-formed: %v", name, kind, err)
				}
				// Go's decoder accepts a repeated attribute; browsers
				// refuse the whole picture.
				if se, ok := tok.(xml.StartElement); ok {
					seen := map[string]bool{}
					for _, a := range se.Attr {
						if seen[a.Name.Local] {
							t.Fatalf("%s %s: <%s> repeats attribute %s", name, kind, se.Name.Local, a.Name.Local)
						}
						seen[a.Name.Local] = true
					}
				}
			}
		}
	}
}

func TestMeasureRaw(t *testing.T) {
	raw, err := loadgen.MeasureRaw(3, []int{4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if raw.One.Count != 3 || raw.Bursts[4] <= 0 || raw.CPUs < 1 {
		t.Fatalf("raw %+v", raw)
	}
}

func TestMergeRawTakesTheMedianOfEachFigure(t *testing.T) {
	mk := func(one, burst time.Duration) loadgen.Raw {
		return loadgen.Raw{One: loadgen.Summary{Median: one}, Bursts: map[int]time.Duration{313: burst}, CPUs: 2}
	}
	got := loadgen.MergeRaw(mk(3, 30), mk(1, 10), mk(2, 200))
	if got.One.Median != 2 || got.Bursts[313] != 30 || got.CPUs != 2 {
		t.Fatalf("merged %+v", got)
	}
}
