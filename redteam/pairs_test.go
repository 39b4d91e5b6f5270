//go:build redteam

package redteam_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
)

// conflict makes a slashable pair: two messages of which an honest
// validator signs at most one.
type conflict struct {
	name  string
	block bool
	make  func(c *cluster, r *rand.Rand) (first, second message)
}

var conflicts = []conflict{
	{name: "double vote", make: func(c *cluster, r *rand.Rand) (message, message) {
		e := c.window()
		return attestation(c.net, e, e+1, randomRoot(r)), attestation(c.net, e, e+1, randomRoot(r))
	}},
	{name: "surround vote", make: func(c *cluster, r *rand.Rand) (message, message) {
		// The first message surrounds the second.
		e := c.window()
		return attestation(c.net, e, e+3, randomRoot(r)), attestation(c.net, e+1, e+2, randomRoot(r))
	}},
	{name: "surrounded vote", make: func(c *cluster, r *rand.Rand) (message, message) {
		// The first message is surrounded by the second.
		e := c.window()
		return attestation(c.net, e+1, e+2, randomRoot(r)), attestation(c.net, e, e+3, randomRoot(r))
	}},
	{name: "double proposal", block: true, make: func(c *cluster, r *rand.Rand) (message, message) {
		s := c.slot()
		return block(c.net, s, randomRoot(r)), block(c.net, s, randomRoot(r))
	}},
}

// endpoint is where one message of a pair goes: a coordinator (full
// signatures) or straight to every participant (partial signatures, the
// attacker acting as a coordinator with vc-1's certificate), one request
// per key or one batch for all keys.
type endpoint struct {
	coordinator bool
	signer      int
	batch       bool
}

// route picks both endpoints of a pair for round (which rotates the
// coordinators used).
type route struct {
	name string
	pick func(c *cluster, round int) (first, second endpoint)
}

var routes = []route{
	{"one coordinator", func(c *cluster, round int) (endpoint, endpoint) {
		i := round % c.n
		return endpoint{coordinator: true, signer: i}, endpoint{coordinator: true, signer: i}
	}},
	{"two coordinators", func(c *cluster, round int) (endpoint, endpoint) {
		i := round % c.n
		return endpoint{coordinator: true, signer: i}, endpoint{coordinator: true, signer: (i + 1) % c.n}
	}},
	{"coordinator and participants", func(c *cluster, round int) (endpoint, endpoint) {
		return endpoint{coordinator: true, signer: round % c.n}, endpoint{}
	}},
	{"participants twice", func(*cluster, int) (endpoint, endpoint) {
		return endpoint{}, endpoint{}
	}},
}

// modes say which messages of a pair go as batches.
var modes = []struct {
	name          string
	first, second bool
}{{"single+single", false, false}, {"batch+batch", true, true}, {"single+batch", false, true}}

// sends builds the requests that send m for keys through ep.
func (c *cluster) sends(e *evidence, ep endpoint, keys []api.PublicKey, m message) []func(context.Context) {
	var out []func(context.Context)
	switch {
	case ep.coordinator && ep.batch:
		out = append(out, func(ctx context.Context) { c.coordinatorBatch(ctx, e, ep.signer, keys, m) })
	case ep.coordinator:
		for _, k := range keys {
			out = append(out, func(ctx context.Context) { c.coordinatorSingle(ctx, e, ep.signer, k, m) })
		}
	default:
		for j := range c.n {
			if ep.batch {
				out = append(out, func(ctx context.Context) { c.participantBatch(ctx, e, j, keys, m) })
				continue
			}
			for _, k := range keys {
				out = append(out, func(ctx context.Context) { c.participantSingle(ctx, e, j, k, m) })
			}
		}
	}
	return out
}

// attackPairs sends one conflicting pair per validator, both messages of
// every pair released at the same instant, and counts the pairs of which
// the attacker holds both full signatures.
func (c *cluster) attackPairs(t *testing.T, kind conflict, first, second endpoint, r *rand.Rand) *row {
	t.Helper()
	ctx := context.Background()
	m1, m2 := kind.make(c, r)
	e := newEvidence(c)
	c.warm(ctx, validatorClient)
	sends := append(c.sends(e, first, c.keys, m1), c.sends(e, second, c.keys, m2)...)
	atOnce(ctx, sends)
	res := &row{attempts: len(c.keys), outcome: counts{}, refusals: e.refusals}
	for _, k := range c.keys {
		s1, s2 := e.signed(k, m1), e.signed(k, m2)
		switch {
		case s1 && s2:
			res.slashable++
			res.outcome["both signed"]++
			t.Errorf("SLASHABLE: %s of %s: both %s and %s fully signed (partials %d and %d)", kind.name, k, m1.what, m2.what, e.partialCount(k, m1), e.partialCount(k, m2))
		case s1 || s2:
			res.outcome["one signed"]++
		default:
			res.outcome["neither signed"]++
		}
	}
	for _, b := range e.invalid {
		t.Errorf("invalid answer: %s", b)
	}
	return res
}

// TestConcurrentConflictingPairsNeverBothSigned sends hundreds of slashable
// pairs (double votes, surrounds both ways, double proposals) at the same
// instant through every combination of paths: one coordinator, two
// coordinators, a coordinator and the participants directly, the
// participants directly twice; single requests and batches. No pair may
// end with both messages fully signed, however the signatures were
// obtained.
func TestConcurrentConflictingPairsNeverBothSigned(t *testing.T) {
	for _, spec := range []clusterSpec{spec35, spec23} {
		t.Run(spec.name, func(t *testing.T) {
			c := sharedCluster(t, spec)
			r := random()
			section := fmt.Sprintf("Concurrent conflicting pairs, %s cluster in process (%d validators, every pair at one start barrier)", c.name, len(c.keys))
			round := 0
			var rows []*row
			for _, kind := range conflicts {
				for _, rt := range routes {
					for _, mode := range modes {
						if kind.block && mode.name != "single+single" {
							continue // blocks cannot be batched; see below
						}
						first, second := rt.pick(c, round)
						first.batch, second.batch = mode.first, mode.second
						name := fmt.Sprintf("%s/%s/%s", kind.name, rt.name, mode.name)
						t.Run(name, func(t *testing.T) {
							res := c.attackPairs(t, kind, first, second, r)
							res.attack = name
							rows = append(rows, res)
							record(row{section: section, attack: kind.name + ", " + rt.name, attempts: res.attempts, slashable: res.slashable, outcome: res.outcome, refusals: res.refusals})
						})
						round++
					}
				}
			}
			// Blocks through the batch endpoints: every item must be
			// refused, since a batch skips the proposal checks.
			t.Run("double proposal/batch endpoints", func(t *testing.T) {
				i := round % c.n
				res := c.attackPairs(t, conflicts[3], endpoint{coordinator: true, signer: i, batch: true}, endpoint{batch: true}, r)
				res.attack = "double proposal/batch endpoints"
				if res.outcome["neither signed"] != res.attempts {
					t.Errorf("blocks were signed through the batch endpoints: %v", res.outcome)
				}
				rows = append(rows, res)
				record(row{section: section, attack: "double proposal, batch endpoints", attempts: res.attempts, slashable: res.slashable, outcome: res.outcome, refusals: res.refusals})
			})
			logTable(t, rows...)
		})
	}
}
