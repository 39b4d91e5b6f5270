package vc_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"golang.org/x/sys/unix"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// fakeSigner is an in-process threshold participant that behaves like a
// rampart-signer on the signing path: strict decoding, the network check
// and the recomputed signing root (package signing), a minimal slashing
// protection (no second block at a slot, no second vote for a target),
// then a partial signature with its share.
type fakeSigner struct {
	id     tss.ID
	net    *network.Network
	shares map[api.PublicKey]*tss.Share
	view   map[api.PublicKey]api.Account

	down atomic.Bool
	// refuseAll answers every signing request with 412.
	refuseAll atomic.Bool
	// silentConflicts makes a refused double vote name nothing, where a
	// rampart-signer names the root and the data signed (api.Conflict).
	silentConflicts atomic.Bool
	// cpu is the thread CPU time spent answering signing requests, so that
	// benchmarks can tell the client's CPU from the fake signers'.
	cpu atomic.Int64

	mu     sync.Mutex
	blocks map[api.PublicKey]map[phase0.Slot]phase0.Root
	votes  map[api.PublicKey]map[phase0.Epoch]phase0.Root
	// data is the attestation data signed, by signing root.
	data map[phase0.Root][]byte
	// signed counts partial signatures by request type; calls counts
	// requests (a batch is one call) by type.
	signed map[signing.Type]int
	calls  map[signing.Type]int
}

func (f *fakeSigner) ID() tss.ID { return f.id }

func (f *fakeSigner) Accounts(context.Context) ([]api.Account, error) {
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	out := make([]api.Account, 0, len(f.view))
	for _, a := range f.view {
		out = append(out, a)
	}
	return out, nil
}

// measure pins the calling goroutine to its thread and returns a function
// that adds the thread's CPU time since to the signer's: the fake signers'
// work is then told apart from the client's in one process.
func (f *fakeSigner) measure() func() {
	runtime.LockOSThread()
	var t0 unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0)
	return func() {
		var t1 unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1)
		f.cpu.Add(t1.Nano() - t0.Nano())
		runtime.UnlockOSThread()
	}
}

func (f *fakeSigner) SignPartial(_ context.Context, key api.PublicKey, body []byte) (api.PartialSignature, error) {
	defer f.measure()()
	if f.down.Load() {
		return api.PartialSignature{}, errors.New("connection refused")
	}
	req, err := signing.ParseRequest(body)
	if err != nil {
		return api.PartialSignature{}, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	s, err := req.Verify(f.net)
	if err != nil {
		return api.PartialSignature{}, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	f.count(req.Type, 1)
	sigs, errs := f.sign([]api.PublicKey{key}, s)
	if errs[0] != nil {
		return api.PartialSignature{}, errs[0]
	}
	return api.PartialSignature{ParticipantID: api.Uint64(f.id), SigningRoot: api.Root(s.SigningRoot), Signature: sigs[0]}, nil
}

func (f *fakeSigner) SignPartialBatch(_ context.Context, body []byte) ([]api.PartialBatchResult, error) {
	defer f.measure()()
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	b, err := signing.ParseBatch(body)
	if err != nil {
		return nil, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	s, err := b.Request.Verify(f.net)
	if err != nil {
		return nil, &coordinator.StatusError{Code: 400, Message: err.Error()}
	}
	f.count(b.Request.Type, len(b.Identifiers))
	keys := make([]api.PublicKey, len(b.Identifiers))
	for i, k := range b.Identifiers {
		keys[i] = api.PublicKey(k)
	}
	sigs, errs := f.sign(keys, s)
	out := make([]api.PartialBatchResult, len(keys))
	for i := range keys {
		out[i].Identifier = keys[i]
		var se *coordinator.StatusError
		if errors.As(errs[i], &se) {
			out[i].Error = &api.Error{Code: se.Code, Message: se.Message, Conflict: se.Conflict}
			continue
		}
		id, root, sig := api.Uint64(f.id), api.Root(s.SigningRoot), sigs[i]
		out[i].ParticipantID, out[i].SigningRoot, out[i].Signature = &id, &root, &sig
	}
	return out, nil
}

func (f *fakeSigner) count(t signing.Type, items int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[t]++
	f.signed[t] += items
}

// sign applies the slashing checks and signs.
func (f *fakeSigner) sign(keys []api.PublicKey, s *signing.Signable) ([]api.Signature, []error) {
	sigs := make([]api.Signature, len(keys))
	errs := make([]error, len(keys))
	for i, k := range keys {
		share := f.shares[k]
		switch {
		case share == nil:
			errs[i] = &coordinator.StatusError{Code: 404, Message: "unknown key"}
		case f.refuseAll.Load():
			errs[i] = &coordinator.StatusError{Code: 412, Message: "refused by slashing protection"}
		default:
			if err := f.protect(k, s); err != nil {
				errs[i] = err
				continue
			}
			sigs[i] = share.Sign(s.SigningRoot).Bytes()
		}
	}
	return sigs, errs
}

// protect refuses a second, different block at a slot or vote for a
// target epoch; exact repeats pass, as at a real signer.
func (f *fakeSigner) protect(k api.PublicKey, s *signing.Signable) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	refuse := &coordinator.StatusError{Code: 412, Message: "slashing protection"}
	switch {
	case s.Proposal != nil:
		m := f.blocks[k]
		if m == nil {
			m = map[phase0.Slot]phase0.Root{}
			f.blocks[k] = m
		}
		if r, ok := m[s.Proposal.Slot]; ok && r != s.SigningRoot {
			return refuse
		}
		m[s.Proposal.Slot] = s.SigningRoot
	case s.Vote != nil:
		m := f.votes[k]
		if m == nil {
			m = map[phase0.Epoch]phase0.Root{}
			f.votes[k] = m
		}
		if r, ok := m[s.Vote.TargetEpoch]; ok && r != s.SigningRoot {
			if !f.silentConflicts.Load() {
				refuse.Conflict = &api.Conflict{SigningRoot: api.Root(r), AttestationData: f.data[r]}
			}
			return refuse
		}
		m[s.Vote.TargetEpoch] = s.SigningRoot
		if _, ok := f.data[s.SigningRoot]; !ok {
			raw, err := json.Marshal(s.Vote.Data)
			if err != nil {
				return err
			}
			f.data[s.SigningRoot] = raw
		}
	}
	return nil
}

// signedCount returns the partial signatures made for type t.
func (f *fakeSigner) signedCount(t signing.Type) int { return f.read(f.signed, t) }

// callCount returns the requests received for type t.
func (f *fakeSigner) callCount(t signing.Type) int { return f.read(f.calls, t) }

func (f *fakeSigner) read(m map[signing.Type]int, t signing.Type) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m[t]
}

// cluster is a threshold cluster of fake signers holding the given
// validator keys, and a coordinator over it.
type cluster struct {
	signers []*fakeSigner
	coord   *coordinator.Coordinator
	secrets []*bls.SecretKey
	keys    []phase0.BLSPubKey
}

// newCluster splits validators fresh keys t-of-n over fake signers.
func newCluster(t testing.TB, net *network.Network, threshold, n, validators int, cfg coordinator.Config) *cluster {
	t.Helper()
	c := &cluster{}
	ids := make([]tss.ID, n)
	members := make([]api.Participant, n)
	for i := range ids {
		ids[i] = tss.ID(i + 1)
		members[i] = api.Participant{ID: api.Uint64(i + 1), Endpoint: fmt.Sprintf("https://signer-%d:9100", i+1)}
		c.signers = append(c.signers, &fakeSigner{
			id: ids[i], net: net, shares: map[api.PublicKey]*tss.Share{}, view: map[api.PublicKey]api.Account{},
			blocks: map[api.PublicKey]map[phase0.Slot]phase0.Root{}, votes: map[api.PublicKey]map[phase0.Epoch]phase0.Root{},
			data:   map[phase0.Root][]byte{},
			signed: map[signing.Type]int{}, calls: map[signing.Type]int{},
		})
	}
	for v := 0; v < validators; v++ {
		sk, err := bls.GenerateSecretKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		d, err := tss.Split(rand.Reader, sk, threshold, ids)
		if err != nil {
			t.Fatal(err)
		}
		key := api.PublicKey(sk.PublicKey().Bytes())
		c.secrets = append(c.secrets, sk)
		c.keys = append(c.keys, phase0.BLSPubKey(key))
		for i, sh := range d.Shares {
			f := c.signers[i]
			f.shares[key] = sh
			f.view[key] = api.Account{ParticipantID: api.Uint64(f.id), PublicKey: sh.PublicKey().Bytes(), CompositePublicKey: key, SigningThreshold: api.Uint64(threshold), Participants: members}
		}
	}
	c.coord = c.coordinator(t, cfg)
	return c
}

// coordinator returns a coordinator over the cluster's signers: a second
// one stands for a second rampart-vc process.
func (c *cluster) coordinator(t testing.TB, cfg coordinator.Config) *coordinator.Coordinator {
	t.Helper()
	cfg.Participants = nil
	for _, f := range c.signers {
		cfg.Participants = append(cfg.Participants, f)
	}
	coord, err := coordinator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return coord
}

// total sums a fake signer counter over the cluster.
func (c *cluster) total(f func(*fakeSigner) int) int {
	n := 0
	for _, s := range c.signers {
		n += f(s)
	}
	return n
}

// signerCPU is the CPU time the fake signers spent signing, in ns.
func (c *cluster) signerCPU() int64 {
	var n int64
	for _, s := range c.signers {
		n += s.cpu.Load()
	}
	return n
}

// decodeItems decodes recorded submissions into T.
func decodeItems[T any](t testing.TB, raw []json.RawMessage) []T {
	t.Helper()
	out := make([]T, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("submission %d: %v\n%s", i, err, r)
		}
	}
	return out
}
