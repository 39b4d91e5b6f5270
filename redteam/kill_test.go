//go:build redteam

package redteam_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
)

// streamed is one message of a signing stream and what each participant
// answered to it before the kill.
type streamed struct {
	key     api.PublicKey
	m       message
	answers []reply // per signer; nil when sent through a coordinator
	// via is the coordinator that was asked, and full its answer, when
	// sent through a coordinator.
	via  int
	full reply
	// conflict is the slashable twin replayed after the restart.
	conflict message
}

// approved reports whether participant i released a partial of s.
func (s *streamed) approved(i int) bool {
	return s.answers != nil && s.answers[i].err == nil && s.answers[i].code == http.StatusOK
}

// lost reports whether participant i may have received s but its answer
// never arrived (a connection cut by the kill; not a refused connection,
// which never delivered the request).
func (s *streamed) lost(i int) bool {
	if s.answers == nil {
		return false
	}
	err := s.answers[i].err
	return err != nil && !errors.Is(err, syscall.ECONNREFUSED)
}

// conflictOf is a message slashable together with m: the same attestation
// epochs or block slot with another root.
func conflictOf(c *cluster, m streamedKind, r *rand.Rand) message {
	if m.block {
		return block(c.net, m.slot, randomRoot(r))
	}
	return attestation(c.net, m.source, m.target, randomRoot(r))
}

type streamedKind struct {
	block                bool
	slot, source, target uint64
}

// killRound runs signing streams and kills the victims mid-stream
// (streamAndKill), then replays a conflicting twin of every message. Every
// participant that approved a message before the kill must refuse its twin
// with 412.
func (c *cluster) killRound(t *testing.T, r *rand.Rand, victims []int, killAt int64) *row {
	t.Helper()
	e := newEvidence(c)
	sent, kinds := c.streamAndKill(t, e, r, victims, killAt)
	return c.replayTwins(t, e, r, victims, sent, kinds)
}

// streamAndKill runs signing streams (attestations and blocks alternating,
// one stream per validator), SIGKILLs the victims once they have approved
// killAt partials, stops the streams and restarts the victims. It returns
// every message sent with what each participant (or the coordinator)
// answered.
func (c *cluster) streamAndKill(t *testing.T, e *evidence, r *rand.Rand, victims []int, killAt int64) ([]*streamed, map[*streamed]streamedKind) {
	t.Helper()
	ctx := context.Background()
	c.warm(ctx, validatorClient)
	const perStream = 400
	epoch := c.epochs(2 * perStream)
	slot := c.slots(perStream)

	var (
		approvals atomic.Int64
		stop      atomic.Bool
		killNow   = make(chan struct{})
		killOnce  sync.Once
		mu        sync.Mutex
		sent      []*streamed
		kinds     = map[*streamed]streamedKind{}
	)
	isVictim := func(i int) bool { return slices.Contains(victims, i) }
	var wg sync.WaitGroup
	for w, key := range c.keys {
		// The last stream goes through the coordinators in turn, the
		// others straight to every participant, which tells the attacker
		// who approved what.
		viaCoordinator := w == len(c.keys)-1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := uint64(0); j < perStream && !stop.Load(); j++ {
				var k streamedKind
				var m message
				if j%2 == 0 {
					k = streamedKind{source: epoch + j, target: epoch + j + 1}
					m = attestation(c.net, k.source, k.target, randomRootLocked(&mu, r))
				} else {
					k = streamedKind{block: true, slot: slot + j}
					m = block(c.net, k.slot, randomRootLocked(&mu, r))
				}
				s := &streamed{key: key, m: m}
				if viaCoordinator {
					s.via = int(j) % c.n
					s.full = c.coordinatorSingle(ctx, e, s.via, key, m)
				} else {
					s.answers = c.participantsAll(ctx, e, key, m)
					for i := range c.n {
						if isVictim(i) && s.approved(i) && approvals.Add(1) == killAt {
							killOnce.Do(func() { close(killNow) })
						}
					}
				}
				mu.Lock()
				sent = append(sent, s)
				kinds[s] = k
				mu.Unlock()
			}
		}()
	}
	streamsDone := make(chan struct{})
	go func() { wg.Wait(); close(streamsDone) }()
	select {
	case <-killNow:
	case <-streamsDone:
		t.Fatalf("the streams ended before the victims approved %d partials", killAt)
	}
	// SIGKILL every victim at once, while the streams still run.
	var kwg sync.WaitGroup
	for _, v := range victims {
		kwg.Add(1)
		go func() {
			defer kwg.Done()
			if err := c.procs[v].kill(); err != nil {
				t.Error(err)
			}
		}()
	}
	kwg.Wait()
	stop.Store(true)
	<-streamsDone
	for _, v := range victims {
		if err := c.procs[v].start(c.procs[v].s.ConfigPath); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range victims {
		if err := c.procs[v].waitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return sent, kinds
}

// replayTwins sends a twin of every message straight to every
// participant, one stream per validator in its order, and counts what
// each participant that approved the original (or whose answer the kill
// cut) answered.
func (c *cluster) replayTwins(t *testing.T, e *evidence, r *rand.Rand, victims []int, sent []*streamed, kinds map[*streamed]streamedKind) *row {
	t.Helper()
	ctx := context.Background()
	isVictim := func(i int) bool { return slices.Contains(victims, i) }
	var wg sync.WaitGroup
	res := &row{outcome: counts{}, refusals: counts{}}
	var rmu sync.Mutex
	byKey := map[api.PublicKey][]*streamed{}
	for _, s := range sent {
		s.conflict = conflictOf(c, kinds[s], r)
		byKey[s.key] = append(byKey[s.key], s)
	}
	for _, key := range c.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range byKey[key] {
				replies := c.participantsAll(ctx, e, key, s.conflict)
				rmu.Lock()
				for i, rp := range replies {
					who := "surviving signer"
					if isVictim(i) {
						who = "killed signer"
					}
					if rp.err != nil || rp.code != http.StatusOK {
						res.refusals[reason(rp.code, rp.err)]++
					}
					switch {
					case s.approved(i):
						res.attempts++
						if rp.err == nil && rp.code == http.StatusPreconditionFailed {
							res.outcome[who+" approved before the kill, twin refused"]++
						} else {
							res.slashable++
							res.outcome["APPROVAL LOST"]++
							t.Errorf("APPROVAL LOST: %s %d approved %s of %s before the kill, and answered %d %v %s to its twin", who, i+1, s.m.what, key, rp.code, rp.err, short(rp.body))
						}
					case s.lost(i) && isVictim(i):
						res.attempts++
						if rp.err == nil && rp.code == http.StatusPreconditionFailed {
							res.outcome["answer lost, twin refused (approval had been recorded)"]++
						} else if rp.err == nil && rp.code == http.StatusOK {
							// Never recorded, so never released: the twin
							// may be signed, and then the original must
							// be refused.
							res.outcome["answer lost, twin signed (never recorded)"]++
							if again := c.participantSingle(ctx, e, i, key, s.m); again.err != nil || again.code != http.StatusPreconditionFailed {
								res.slashable++
								t.Errorf("signer %d signed the twin of %s of %s and then answered %d %v to the original", i+1, s.m.what, key, again.code, again.err)
							}
						} else {
							res.outcome[fmt.Sprintf("answer lost, twin answered %s", reason(rp.code, rp.err))]++
						}
					}
				}
				if e.signed(key, s.m) {
					res.outcome["fully signed before the kill"]++
					if e.signed(key, s.conflict) {
						res.slashable++
						t.Errorf("SLASHABLE: %s of %s and its twin are both fully signed", s.m.what, key)
					}
				}
				rmu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, b := range e.invalid {
		t.Errorf("invalid answer: %s", b)
	}
	return res
}

func randomRootLocked(mu *sync.Mutex, r *rand.Rand) [32]byte {
	mu.Lock()
	defer mu.Unlock()
	return randomRoot(r)
}

// TestKill9DuringSigningStreamsLosesNoApproval SIGKILLs one or two signer
// processes of a 3-of-5 cluster in the middle of signing streams, at a
// random number of approvals, restarts them and replays a slashable twin
// of every message: a signer that approved a message before it was killed
// must refuse the twin (412), so no approval was lost, and no pair may end
// fully signed.
func TestKill9DuringSigningStreamsLosesNoApproval(t *testing.T) {
	c := sharedCluster(t, procs35)
	r := random()
	section := "kill -9 during signing streams, 3-of-5 cluster of processes, then a conflicting twin of every message (attempts: twins replayed to a signer that approved the original or lost its answer)"
	var rows []*row
	for round, nVictims := range []int{1, 2, 1, 2} {
		victims := r.Perm(c.n)[:nVictims]
		slices.Sort(victims)
		killAt := int64(20 + r.IntN(180))
		names := make([]string, len(victims))
		for i, v := range victims {
			names[i] = fmt.Sprint(v + 1)
		}
		name := fmt.Sprintf("round %d: SIGKILL signers %v after %d of their approvals", round+1, names, killAt)
		t.Run(name, func(t *testing.T) {
			res := c.killRound(t, r, victims, killAt)
			res.attack = name
			rows = append(rows, res)
			record(row{section: section, attack: fmt.Sprintf("SIGKILL of %d signer(s) mid-stream", nVictims), attempts: res.attempts, slashable: res.slashable, outcome: res.outcome, refusals: res.refusals})
		})
	}
	logTable(t, rows...)
}
