package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// Result is the outcome of one signature of a batch: a verified signature
// or an error, never both.
type Result struct {
	Signature *bls.Signature
	Err       error
}

// Sign obtains the signature of one request for one composite key. request
// is the JSON signing request, sent unchanged to the participants; root is
// the signing root the caller computed from it, which every partial must
// carry and the signature must verify against.
func (c *Coordinator) Sign(ctx context.Context, identifier api.PublicKey, root [32]byte, request []byte) (*bls.Signature, error) {
	r := c.runWithDiscovery(ctx, []api.PublicKey{identifier}, root, request, callSingle)
	return r[0].Signature, r[0].Err
}

// SignShared is Sign for a request whose signed object names no validator
// (a type the batch endpoint takes: signing.Type.Batchable), such as a
// slot's attestations since Electra. Concurrent SignShared calls that wait
// for one participant with the same request body go to it as one batch
// call (coalesce.go): each participant still checks, records and signs
// every key on its own, in one slashing-database commit for all; a lone
// call is sent at once, as by Sign.
func (c *Coordinator) SignShared(ctx context.Context, identifier api.PublicKey, root [32]byte, request []byte) (*bls.Signature, error) {
	r := c.runWithDiscovery(ctx, []api.PublicKey{identifier}, root, request, callShared)
	return r[0].Signature, r[0].Err
}

// callKind is how run asks each participant.
type callKind int

const (
	// callSingle: one single call for the one identifier.
	callSingle callKind = iota
	// callShared: a single call, coalesced with concurrent ones of the
	// same body into a batch call.
	callShared
	// callBatch: one batch call for every identifier.
	callBatch
)

// SignBatch obtains signatures of one common request for many composite
// keys, with one batch call per participant. Results are in the order of
// identifiers; a failure of one item never affects another.
func (c *Coordinator) SignBatch(ctx context.Context, identifiers []api.PublicKey, root [32]byte, request []byte) []Result {
	return c.runWithDiscovery(ctx, identifiers, root, request, callBatch)
}

// runWithDiscovery is run, once more for the items that fell short while
// members were undiscovered or with partials that did not verify under the
// component keys known, if discovery now knows component keys the run did
// not use: more of them (a participant that started after the last
// discovery) or other ones (a resharing gave the members new shares). A
// discovery that ran while the request was out (Run's loop, another
// request) counts; otherwise one runs now.
func (c *Coordinator) runWithDiscovery(ctx context.Context, ids []api.PublicKey, root [32]byte, request []byte, kind callKind) []Result {
	res := c.run(ctx, ids, root, request, kind)
	var again []int
	var used []*account
	for i, r := range res {
		var short *ShortfallError
		if errors.As(r.Err, &short) && short.used != nil && (short.undiscovered() || short.invalidPartials()) {
			again = append(again, i)
			used = append(used, short.used)
		}
	}
	if len(again) == 0 || ctx.Err() != nil {
		return res
	}
	learned := func() bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		for k, i := range again {
			if a := c.accounts[ids[i]]; a != nil && knowsMore(a, used[k]) {
				return true
			}
		}
		return false
	}
	if !learned() && !c.discoverMore(ctx, learned) {
		return res
	}
	retry := make([]api.PublicKey, len(again))
	for k, i := range again {
		retry[k] = ids[i]
	}
	for k, r := range c.run(ctx, retry, root, request, kind) {
		res[again[k]] = r
	}
	return res
}

// knowsMore reports whether now holds a component key that was not in
// before: a member's first, or another one than before.
func knowsMore(now, before *account) bool {
	for id, raw := range now.raw {
		if old, ok := before.raw[id]; !ok || old != raw {
			return true
		}
	}
	return false
}

// discoverMore runs discovery (at most once a second, waiting for the
// second to pass within ctx) and reports whether it learned what the
// caller lacked.
func (c *Coordinator) discoverMore(ctx context.Context, learned func() bool) bool {
	// A discovery that ran just before (often the one this very request
	// started) may have missed a participant that came back since: wait
	// out the gap rather than give up, within the request's time.
	c.onDemand.run(ctx, minRefreshGap, true, func() {
		if err := c.Refresh(ctx); err != nil {
			c.log.Warn("discovery failed", "err", err)
		}
	})
	return learned()
}

// position is the state of one signature being gathered.
type position struct {
	acct     *account
	partials []tss.Partial
	// heard marks participants that gave a partial or failed for this
	// position; they are not asked again.
	heard    map[tss.ID]bool
	failures []ParticipantFailure
	covered  int // calls in flight that include this position
	fresh    bool
	done     bool
	res      Result
}

type reply struct {
	p     Participant
	idx   []int
	start time.Time
	one   api.PartialSignature
	many  []api.PartialBatchResult
	err   error
}

type batchBody struct {
	Identifiers    []api.PublicKey `json:"identifiers"`
	SigningRequest json.RawMessage `json:"signing_request"`
}

func (c *Coordinator) run(ctx context.Context, ids []api.PublicKey, root [32]byte, request []byte, kind callKind) []Result {
	c.refreshIfIncomplete(ctx, ids)
	pos := make([]*position, len(ids))
	members := map[tss.ID]Participant{}
	for i, id := range ids {
		a := c.account(id)
		pos[i] = &position{acct: a, heard: map[tss.ID]bool{}}
		if a == nil {
			pos[i].done = true
			pos[i].res.Err = fmt.Errorf("%w: %s", ErrUnknownAccount, id)
			continue
		}
		if sig := c.cache.get(id, root); sig != nil {
			pos[i].done = true
			pos[i].res.Signature = sig
			continue
		}
		for _, m := range a.members {
			if _, ok := a.components[m.ID()]; ok {
				members[m.ID()] = m
			} else {
				pos[i].failures = append(pos[i].failures, ParticipantFailure{ID: m.ID(), Err: errUndiscovered})
			}
		}
	}
	cands := make([]Participant, 0, len(members))
	for _, p := range c.participants {
		if _, ok := members[p.ID()]; ok {
			cands = append(cands, p)
		}
	}
	cands = c.health.order(cands, c.clock.Now())

	asked := map[tss.ID]bool{}
	replies := make(chan reply, len(cands))
	inflight := 0
	launch := func(p Participant) bool {
		asked[p.ID()] = true
		var idx []int
		for i, ps := range pos {
			if ps.done || ps.heard[p.ID()] || !ps.acct.has(p.ID()) {
				continue
			}
			if _, ok := ps.acct.components[p.ID()]; !ok {
				continue
			}
			idx = append(idx, i)
		}
		if len(idx) == 0 {
			return false
		}
		for _, i := range idx {
			pos[i].covered++
		}
		inflight++
		go c.call(ctx, p, ids, idx, request, kind, replies)
		return true
	}
	// launchMore asks up to k more participants, best first.
	launchMore := func(k int) int {
		n := 0
		for _, p := range cands {
			if n >= k {
				break
			}
			if !asked[p.ID()] && launch(p) {
				n++
			}
		}
		return n
	}
	// deficit is the most partials any open position still lacks beyond
	// what the calls in flight may bring.
	deficit := func() int {
		d := 0
		for _, ps := range pos {
			if !ps.done {
				d = max(d, ps.acct.threshold-len(ps.partials)-ps.covered)
			}
		}
		return d
	}
	open := func() bool {
		for _, ps := range pos {
			if !ps.done {
				return true
			}
		}
		return false
	}

	var hedge <-chan time.Time
	if c.cfg.HedgeDelay == 0 {
		launchMore(len(cands))
	} else {
		launchMore(deficit())
		hedge = c.clock.After(c.cfg.HedgeDelay)
	}
	for open() {
		if inflight == 0 && launchMore(max(deficit(), 1)) == 0 {
			break
		}
		select {
		case r := <-replies:
			inflight--
			c.absorb(r, pos, ids, root)
			c.recover(pos, root)
			launchMore(deficit())
		case <-hedge:
			hedge = nil
			launchMore(len(cands))
		case <-ctx.Done():
			for _, ps := range pos {
				if !ps.done {
					ps.done = true
					ps.res.Err = fmt.Errorf("%w (%d of %d partial signatures when the request ended)", ctx.Err(), len(ps.partials), ps.acct.threshold)
				}
			}
		}
	}
	out := make([]Result, len(pos))
	for i, ps := range pos {
		if ps.done && ps.res.Signature != nil {
			c.cache.put(ids[i], root, ps.res.Signature)
		}
		if !ps.done {
			ps.res.Err = &ShortfallError{Threshold: ps.acct.threshold, Valid: len(ps.partials), Members: len(ps.acct.members), Failures: ps.failures, used: ps.acct}
			c.countRecovery(false)
		}
		out[i] = ps.res
	}
	return out
}

// errUndiscovered explains a member that was not asked because discovery
// has not yet learned its component key.
var errUndiscovered = errors.New("not discovered yet (its account list has not been read)")

// minRefreshGap limits on-demand discovery.
const minRefreshGap = time.Second

// refreshIfIncomplete runs discovery when an account asked for lacks a
// member's component key (or the key is unknown, maybe new): at once and
// waiting for it when the known members cannot reach the threshold, in the
// background (by Run) otherwise; at most once a second either way. A
// cluster that started in any order thus signs at once, and a member that
// stays down costs a signing request no waiting.
func (c *Coordinator) refreshIfIncomplete(ctx context.Context, ids []api.PublicKey) {
	need, urgent := false, false
	c.mu.RLock()
	for _, id := range ids {
		a := c.accounts[id]
		switch {
		case a == nil || len(a.components) < a.threshold:
			need, urgent = true, true
		case len(a.components) < len(a.members):
			need = true
		}
	}
	c.mu.RUnlock()
	switch {
	case !need:
	case urgent:
		c.onDemand.run(ctx, minRefreshGap, false, func() {
			if err := c.Refresh(ctx); err != nil {
				c.log.Warn("on-demand discovery failed", "err", err)
			}
		})
	case c.onDemand.tryReserve(minRefreshGap):
		select {
		case c.background <- struct{}{}:
		default: // one is pending already
		}
	}
}

// call asks one participant and always sends exactly one reply. It runs on
// past the caller's cancellation, bounded by Timeout, so a participant that
// was asked finishes recording what it was asked to sign.
func (c *Coordinator) call(ctx context.Context, p Participant, ids []api.PublicKey, idx []int, request []byte, kind callKind, out chan<- reply) {
	timeout := c.cfg.Timeout
	switch kind {
	case callBatch:
		timeout += time.Duration(len(idx)) * c.cfg.PerItemTimeout
	case callShared:
		// A coalesced request waits for the call in flight, then goes in
		// the next batch call: each bounded by its own timeout
		// (coalescer.send), this by both.
		timeout = 2*c.cfg.Timeout + maxCoalesced*c.cfg.PerItemTimeout
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	r := reply{p: p, idx: idx, start: c.clock.Now()}
	if m := c.cfg.Metrics; m != nil {
		m.calls.WithLabelValues(p.ID().String()).Inc()
	}
	switch kind {
	case callSingle:
		r.one, r.err = p.SignPartial(cctx, ids[idx[0]], request)
	case callShared:
		r.one, r.err = c.coalescerFor(p).sign(cctx, ids[idx[0]], request)
	default:
		body := batchBody{SigningRequest: request, Identifiers: make([]api.PublicKey, len(idx))}
		for k, i := range idx {
			body.Identifiers[k] = ids[i]
		}
		data, err := json.Marshal(body)
		if err != nil {
			r.err = err
		} else {
			r.many, r.err = p.SignPartialBatch(cctx, data)
		}
	}
	out <- r
}

// absorb checks a reply and adds its partials to their positions.
func (c *Coordinator) absorb(r reply, pos []*position, ids []api.PublicKey, root [32]byte) {
	id := r.p.ID()
	for _, i := range r.idx {
		pos[i].covered--
	}
	if r.err != nil {
		c.observe(id, r.start, r.err)
		for _, i := range r.idx {
			c.fail(pos[i], id, r.err)
		}
		return
	}
	c.observe(id, r.start, nil)
	if r.many == nil {
		c.take(pos[r.idx[0]], id, r.one.ParticipantID, r.one.SigningRoot, r.one.Signature, root)
		return
	}
	if len(r.many) != len(r.idx) {
		err := fmt.Errorf("malformed answer: %d results for %d identifiers", len(r.many), len(r.idx))
		c.countFailure(id, "malformed")
		for _, i := range r.idx {
			c.fail(pos[i], id, err)
		}
		return
	}
	// Decode every partial of the reply at once, over the CPUs; a reply
	// with a malformed signature falls back to item by item, so that only
	// that item is lost.
	var encs [][]byte
	var at []int
	for k, item := range r.many {
		if item.Error == nil && item.Identifier == ids[r.idx[k]] {
			encs = append(encs, item.Signature[:])
			at = append(at, k)
		}
	}
	decoded := make([]*bls.Signature, len(r.many))
	if sigs, err := bls.SignaturesFromBytes(encs); err == nil {
		for n, k := range at {
			decoded[k] = sigs[n]
		}
	}
	for k, i := range r.idx {
		item := r.many[k]
		switch {
		case item.Identifier != ids[i]:
			c.countFailure(id, "malformed")
			c.fail(pos[i], id, fmt.Errorf("malformed answer: result %d is for another identifier", k))
		case item.Error != nil:
			err := peer.FromAPI(item.Error)
			c.countFailure(id, fmt.Sprintf("refused_%d", item.Error.Code))
			c.fail(pos[i], id, err)
		default:
			c.takeDecoded(pos[i], id, *item.ParticipantID, *item.SigningRoot, *item.Signature, decoded[k], root)
		}
	}
}

// take binds one partial to the participant that sent it.
func (c *Coordinator) take(ps *position, id tss.ID, claimed api.Uint64, gotRoot api.Root, sig api.Signature, root [32]byte) {
	c.takeDecoded(ps, id, claimed, gotRoot, sig, nil, root)
}

// takeDecoded is take with the signature possibly decoded already.
func (c *Coordinator) takeDecoded(ps *position, id tss.ID, claimed api.Uint64, gotRoot api.Root, sig api.Signature, s *bls.Signature, root [32]byte) {
	if ps.done || ps.heard[id] {
		return
	}
	switch {
	case tss.ID(claimed) != id:
		c.countFailure(id, "malformed")
		c.fail(ps, id, fmt.Errorf("answered as participant %d", claimed))
		return
	case [32]byte(gotRoot) != root:
		c.countFailure(id, "malformed")
		c.fail(ps, id, fmt.Errorf("signed root %s, not %s", gotRoot, api.Root(root)))
		return
	}
	if s == nil {
		var err error
		if s, err = bls.SignatureFromBytes(sig[:]); err != nil {
			c.countFailure(id, "malformed")
			c.fail(ps, id, fmt.Errorf("malformed partial signature: %w", err))
			return
		}
	}
	// Policy: the BLS layer decodes the point at infinity as the
	// specification does, but no honest participant ever returns it (it is
	// no share's signature of any root), so a partial at infinity is
	// refused here as malformed, on either path (one by one or decoded with
	// its batch), before it costs a pairing or a recovery attempt.
	if s.IsInfinity() {
		c.countFailure(id, "malformed")
		c.fail(ps, id, fmt.Errorf("malformed partial signature: %w", bls.ErrInfinity))
		return
	}
	key, _ := ps.acct.component(id)
	ps.heard[id] = true
	ps.partials = append(ps.partials, tss.Partial{ID: id, PublicKey: key, Signature: s})
	ps.fresh = true
}

func (c *Coordinator) fail(ps *position, id tss.ID, err error) {
	if ps.done || ps.heard[id] {
		return
	}
	ps.heard[id] = true
	ps.failures = append(ps.failures, ParticipantFailure{ID: id, Err: err})
}

// recover tries every position that has gathered threshold partials since
// its last attempt, all in one batch so their checks share a
// multi-pairing.
func (c *Coordinator) recover(pos []*position, root [32]byte) {
	var reqs []tss.Request
	var which []*position
	for _, ps := range pos {
		if ps.done || !ps.fresh || len(ps.partials) < ps.acct.threshold {
			continue
		}
		ps.fresh = false
		reqs = append(reqs, tss.Request{Root: root, Composite: ps.acct.composite, Threshold: ps.acct.threshold, Partials: ps.partials})
		which = append(which, ps)
	}
	if len(reqs) == 0 {
		return
	}
	for k, o := range c.recov.recover(reqs) {
		ps := which[k]
		var short *tss.ShortfallError
		switch {
		case o.Err == nil:
			ps.done = true
			ps.res.Signature = o.Result.Signature
			c.countRecovery(true)
			for _, bad := range o.Result.Bad {
				c.countFailure(bad, "invalid_partial")
			}
		case errors.As(o.Err, &short):
			bad := map[tss.ID]bool{}
			for _, id := range short.Bad {
				bad[id] = true
				c.countFailure(id, "invalid_partial")
				ps.failures = append(ps.failures, ParticipantFailure{ID: id, Err: errInvalidPartial})
			}
			kept := ps.partials[:0]
			for _, p := range ps.partials {
				if !bad[p.ID] {
					kept = append(kept, p)
				}
			}
			ps.partials = kept
		default:
			ps.done = true
			ps.res.Err = fmt.Errorf("coordinator: recovery failed: %w", o.Err)
			c.countRecovery(false)
		}
	}
}

// observe updates participant health: transport failures and server errors
// make a participant a suspect; answered refusals (4xx) do not. A failing
// participant is logged when it starts failing and when it answers again,
// not at every call in between (the failure metric counts each), so a
// signer that is down does not flood the log at every slot.
func (c *Coordinator) observe(id tss.ID, start time.Time, err error) {
	now := c.clock.Now()
	code := Status(err)
	switch {
	case err == nil || (code >= 400 && code < 500):
		if c.health.success(id, now.Sub(start)) {
			c.log.Info("participant answering again", "participant", id)
		}
		if m := c.cfg.Metrics; m != nil {
			m.latency.WithLabelValues(id.String()).Observe(now.Sub(start).Seconds())
		}
		if code != 0 {
			c.countFailure(id, fmt.Sprintf("refused_%d", code))
		}
	default:
		first := c.health.failure(id, now)
		reason := "unavailable"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "timeout"
		} else if errors.Is(err, api.ErrMalformed) {
			reason = "malformed"
		}
		c.countFailure(id, reason)
		if first {
			c.log.Warn("participant failed; not logged again until it answers", "participant", id, "err", err)
		}
	}
}

func (c *Coordinator) countFailure(id tss.ID, reason string) {
	if m := c.cfg.Metrics; m != nil {
		m.failures.WithLabelValues(id.String(), reason).Inc()
	}
}

func (c *Coordinator) countRecovery(ok bool) {
	if m := c.cfg.Metrics; m != nil {
		result := "failed"
		if ok {
			result = "ok"
		}
		m.recoveries.WithLabelValues(result).Inc()
	}
}
