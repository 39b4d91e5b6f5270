//go:build redteam

package redteam_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/tss"
)

// short cuts an answer's body for a message.
func short(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// evidence is everything an attacker collected: full signatures and
// partial signatures, each checked against the validator's composite key
// or the participant's component key, and every refusal.
type evidence struct {
	c        *cluster
	mu       sync.Mutex
	full     map[sigKey]bool
	partials map[sigKey]map[tss.ID]*bls.Signature
	refusals counts
	// invalid lists answers that claimed a signature that does not verify
	// (a signer answering garbage is a finding of its own).
	invalid []string
}

type sigKey struct {
	key  api.PublicKey
	root [32]byte
}

func newEvidence(c *cluster) *evidence {
	return &evidence{c: c, full: map[sigKey]bool{}, partials: map[sigKey]map[tss.ID]*bls.Signature{}, refusals: counts{}}
}

// counts tallies refusals by status and reason.
type counts map[string]int

func (c counts) add(o counts) {
	for k, v := range o {
		c[k] += v
	}
}

// String lists the counts, most frequent first: "412 slashing ×40, ...".
func (c counts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, c[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// reason names a refusal the way the signers count them
// (rampart_refusals_total): the status and its meaning.
func reason(code int, err error) string {
	if err != nil {
		return "no answer"
	}
	switch code {
	case http.StatusBadRequest:
		return "400 bad_request"
	case http.StatusUnauthorized:
		return "401 no_token"
	case http.StatusForbidden:
		return "403 unauthorised"
	case http.StatusNotFound:
		return "404 unknown_account"
	case http.StatusRequestTimeout:
		return "408 body_timeout"
	case http.StatusTooManyRequests:
		return "429 client_busy"
	case http.StatusRequestEntityTooLarge:
		return "413 too_large"
	case http.StatusPreconditionFailed:
		return "412 slashing"
	case http.StatusServiceUnavailable:
		return "503 unavailable"
	}
	return fmt.Sprintf("%d", code)
}

func (e *evidence) refuse(code int, err error) {
	e.mu.Lock()
	e.refusals[reason(code, err)]++
	e.mu.Unlock()
}

func (e *evidence) bad(format string, args ...any) {
	e.mu.Lock()
	e.invalid = append(e.invalid, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

// addFull records a full signature of m by key, if it verifies.
func (e *evidence) addFull(key api.PublicKey, m message, sig api.Signature, via string) bool {
	s, err := bls.SignatureFromBytes(sig[:])
	if err != nil || !e.c.composite[key].Verify(m.root, s) {
		e.bad("%s: a full signature of %s by %s that does not verify", via, m.what, key)
		return false
	}
	e.mu.Lock()
	e.full[sigKey{key, m.root}] = true
	e.mu.Unlock()
	return true
}

// addPartial records signer i's partial signature of m by key, if it
// verifies under signer i's component key (never the id the answer
// claims).
func (e *evidence) addPartial(i int, key api.PublicKey, m message, claimed api.Uint64, root api.Root, sig api.Signature, via string) bool {
	id := e.c.signerID(i)
	if uint64(claimed) != uint64(id) || [32]byte(root) != m.root {
		e.bad("%s: signer %d answered as participant %d for root %s", via, id, claimed, root)
		return false
	}
	s, err := bls.SignatureFromBytes(sig[:])
	if err != nil || !e.c.components[key][id].Verify(m.root, s) {
		e.bad("%s: a partial signature of %s by %s from signer %d that does not verify", via, m.what, key, id)
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := sigKey{key, m.root}
	if e.partials[k] == nil {
		e.partials[k] = map[tss.ID]*bls.Signature{}
	}
	e.partials[k][id] = s
	return true
}

// signed reports whether the attacker holds a full signature of m by key:
// one a coordinator returned, or one recovered from t valid partials.
func (e *evidence) signed(key api.PublicKey, m message) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := sigKey{key, m.root}
	if e.full[k] {
		return true
	}
	ps := e.partials[k]
	if len(ps) < e.c.t {
		return false
	}
	var partials []tss.Partial
	for id, s := range ps {
		partials = append(partials, tss.Partial{ID: id, PublicKey: e.c.components[key][id], Signature: s})
	}
	res, err := tss.Recover(m.root, e.c.composite[key], e.c.t, partials)
	if err != nil {
		return false
	}
	e.full[k] = e.c.composite[key].Verify(m.root, res.Signature)
	return e.full[k]
}

// partialCount is how many valid partials of m by key were collected.
func (e *evidence) partialCount(key api.PublicKey, m message) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.partials[sigKey{key, m.root}])
}

// The four ways an attacker sends a message: one request per key or one
// batch for all keys, to a coordinator (full signatures) or to one
// participant (partial signatures).

// coordinatorSingle asks coordinator i for a full signature of m by key
// and returns its answer; a 200 counts only if the signature verifies.
func (c *cluster) coordinatorSingle(ctx context.Context, e *evidence, i int, key api.PublicKey, m message) reply {
	via := fmt.Sprintf("coordinator %d", i+1)
	r := c.do(ctx, i, appliance.ListenerCoordinator, validatorClient, http.MethodPost, "/api/v1/eth2/sign/"+key.String(), m.body)
	if r.err != nil || r.code != http.StatusOK {
		e.refuse(r.code, r.err)
		return r
	}
	sr, err := api.DecodeSigningResponse(r.body)
	if err != nil {
		e.bad("%s: %v", via, err)
		return reply{code: r.code, err: err}
	}
	if !e.addFull(key, m, sr.Signature, via) {
		return reply{code: r.code, err: errors.New("invalid signature")}
	}
	return r
}

func (c *cluster) coordinatorBatch(ctx context.Context, e *evidence, i int, keys []api.PublicKey, m message) {
	via := fmt.Sprintf("coordinator %d batch", i+1)
	r := c.do(ctx, i, appliance.ListenerCoordinator, validatorClient, http.MethodPost, "/api/v1/eth2/sign", batchBody(keys, m.body))
	if r.err != nil || r.code != http.StatusOK {
		for range keys {
			e.refuse(r.code, r.err)
		}
		return
	}
	rs, err := api.DecodeBatchResults(r.body)
	if err != nil || len(rs) != len(keys) {
		e.bad("%s: %d results for %d keys: %v", via, len(rs), len(keys), err)
		return
	}
	for j, res := range rs {
		if res.Identifier != keys[j] {
			e.bad("%s: result %d names %s", via, j, res.Identifier)
			continue
		}
		if res.Error != nil {
			e.refuse(res.Error.Code, nil)
			continue
		}
		e.addFull(keys[j], m, *res.Signature, via)
	}
}

// participantSingle asks participant i for a partial signature of m by
// key and returns what it answered; a 200 counts as approved only if its
// partial signature verifies.
func (c *cluster) participantSingle(ctx context.Context, e *evidence, i int, key api.PublicKey, m message) reply {
	via := fmt.Sprintf("participant %d", i+1)
	r := c.do(ctx, i, appliance.ListenerParticipant, validatorClient, http.MethodPost, "/api/v1/eth2/distributed/sign/"+key.String(), m.body)
	if r.err != nil || r.code != http.StatusOK {
		e.refuse(r.code, r.err)
		return r
	}
	ps, err := api.DecodePartialSignature(r.body)
	if err != nil {
		e.bad("%s: %v", via, err)
		return reply{code: r.code, err: err}
	}
	if !e.addPartial(i, key, m, ps.ParticipantID, ps.SigningRoot, ps.Signature, via) {
		return reply{code: r.code, err: errors.New("invalid partial signature")}
	}
	return r
}

// participantsAll asks every participant at once, as a coordinator does,
// and returns their answers in signer order.
func (c *cluster) participantsAll(ctx context.Context, e *evidence, key api.PublicKey, m message) []reply {
	out := make([]reply, c.n)
	var wg sync.WaitGroup
	for i := range c.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.participantSingle(ctx, e, i, key, m)
		}()
	}
	wg.Wait()
	return out
}

func (c *cluster) participantBatch(ctx context.Context, e *evidence, i int, keys []api.PublicKey, m message) {
	via := fmt.Sprintf("participant %d batch", i+1)
	r := c.do(ctx, i, appliance.ListenerParticipant, validatorClient, http.MethodPost, "/api/v1/eth2/distributed/sign", batchBody(keys, m.body))
	if r.err != nil || r.code != http.StatusOK {
		for range keys {
			e.refuse(r.code, r.err)
		}
		return
	}
	rs, err := api.DecodePartialBatchResults(r.body)
	if err != nil || len(rs) != len(keys) {
		e.bad("%s: %d results for %d keys: %v", via, len(rs), len(keys), err)
		return
	}
	for j, res := range rs {
		if res.Identifier != keys[j] {
			e.bad("%s: result %d names %s", via, j, res.Identifier)
			continue
		}
		if res.Error != nil {
			e.refuse(res.Error.Code, nil)
			continue
		}
		e.addPartial(i, keys[j], m, *res.ParticipantID, *res.SigningRoot, *res.Signature, via)
	}
}

// atOnce runs every send in its own goroutine, all released by one start
// barrier, and waits for all of them.
func atOnce(ctx context.Context, sends []func(context.Context)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s(ctx)
		}()
	}
	close(start)
	wg.Wait()
}
