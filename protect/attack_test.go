package protect_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/protect"
)

// message is a permitted signing: a block (target unused) or an attestation.
type message struct {
	key            protect.PublicKey
	isBlock        bool
	slot           uint64
	source, target uint64
	root           protect.Root
}

func (m message) String() string {
	if m.isBlock {
		return fmt.Sprintf("block slot %d root %x", m.slot, m.root[:2])
	}
	return fmt.Sprintf("attestation %d->%d root %x", m.source, m.target, m.root[:2])
}

// slashable reports whether two distinct messages of one key could get the
// validator slashed (or are invalid by themselves).
func slashable(a, b message) bool {
	if a == b || a.key != b.key || a.isBlock != b.isBlock {
		return false
	}
	if a.isBlock {
		return a.slot == b.slot
	}
	return a.target == b.target ||
		(a.source < b.source && a.target > b.target) ||
		(b.source < a.source && b.target > a.target)
}

func checkNoSlashablePair(t *testing.T, msgs []message) {
	t.Helper()
	byKey := map[protect.PublicKey][]message{}
	for _, m := range msgs {
		if !m.isBlock && m.source > m.target {
			t.Errorf("permitted an attestation with source after target: %v", m)
		}
		byKey[m.key] = append(byKey[m.key], m)
	}
	for _, ms := range byKey {
		for i := range ms {
			for j := i + 1; j < len(ms); j++ {
				if slashable(ms[i], ms[j]) {
					t.Errorf("SLASHABLE: permitted both %v and %v", ms[i], ms[j])
				}
			}
		}
	}
}

// TestAttackConflictingRequestsFromManyGoroutines plays a compromised or
// buggy validator client (or several at once): goroutines fire random,
// mostly conflicting requests at a few keys, singly and in batches, while
// checkpoints run and one key is disabled half-way. No two permitted
// messages may be slashable, every permitted message must survive a reopen,
// and nothing may be permitted for the disabled key after Disable returned.
func TestAttackConflictingRequestsFromManyGoroutines(t *testing.T) {
	s := seed(t, time.Now().UnixNano())
	ctx := context.Background()
	cfg := protect.DefaultConfig()
	cfg.HistoryEpochs = 1 << 20 // keep everything, so the reopen check is exact
	cfg.Limit = protect.NoLimit
	path := filepath.Join(t.TempDir(), "attack.db")
	db, err := protect.Create(ctx, path, testGVR, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const keys, workers, requests = 4, 16, 250
	all := make([]protect.PublicKey, keys)
	for i := range all {
		all[i] = key(i)
	}
	if err := db.Register(ctx, all...); err != nil {
		t.Fatal(err)
	}
	victim := all[0]

	var (
		mu       sync.Mutex
		permits  []message
		disabled atomic.Bool
		late     []message // permitted for victim on requests started after Disable returned
	)
	record := func(m message, startedAfterDisable bool) {
		mu.Lock()
		defer mu.Unlock()
		permits = append(permits, m)
		if startedAfterDisable && m.key == victim {
			late = append(late, m)
		}
	}
	randomAtt := func(r *rand.Rand) protect.Attestation {
		src := r.Uint64N(12)
		// Mostly source <= target, sometimes not.
		tgt := src + r.Uint64N(6)
		if r.IntN(20) == 0 && src > 0 {
			tgt = src - 1
		}
		return protect.Attestation{Source: src, Target: tgt, SigningRoot: root(r.IntN(3))}
	}

	var wg sync.WaitGroup
	for w := range workers {
		r := rand.New(rand.NewPCG(uint64(s), uint64(w)))
		wg.Go(func() {
			for i := range requests {
				after := disabled.Load()
				k := all[r.IntN(keys)]
				switch {
				case w == 0 && i == requests/2:
					if err := db.Disable(ctx, victim); err != nil {
						t.Error(err)
					}
					disabled.Store(true)
				case r.IntN(40) == 0:
					if err := db.Checkpoint(ctx); err != nil {
						t.Error(err)
					}
				case r.IntN(3) == 0:
					b := protect.Block{Slot: r.Uint64N(30), SigningRoot: root(r.IntN(3))}
					p, err := db.ApproveBlock(ctx, testGVR, k, b)
					if err == nil {
						record(message{key: p.Key(), isBlock: true, slot: b.Slot, root: p.SigningRoot()}, after)
					} else if !errors.Is(err, protect.ErrRefused) && !errors.Is(err, protect.ErrDisabled) {
						t.Error(err)
					}
				case r.IntN(2) == 0:
					a := randomAtt(r)
					p, err := db.ApproveAttestation(ctx, testGVR, k, a)
					if err == nil {
						record(message{key: p.Key(), source: a.Source, target: a.Target, root: p.SigningRoot()}, after)
					} else if !errors.Is(err, protect.ErrRefused) && !errors.Is(err, protect.ErrDisabled) {
						t.Error(err)
					}
				default:
					reqs := make([]protect.AttestationRequest, 1+r.IntN(8))
					for j := range reqs {
						reqs[j] = protect.AttestationRequest{Key: all[r.IntN(keys)], Attestation: randomAtt(r)}
					}
					vs, err := db.ApproveAttestations(ctx, testGVR, reqs)
					if err != nil {
						t.Error(err)
						continue
					}
					for j, v := range vs {
						if v.Err == nil {
							record(message{key: v.Permit.Key(), source: reqs[j].Source, target: reqs[j].Target, root: v.Permit.SigningRoot()}, after)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d permits from %d requests by %d goroutines", len(permits), workers*requests, workers)
	checkNoSlashablePair(t, permits)
	for _, m := range late {
		t.Errorf("permitted %v for the disabled key on a request made after Disable returned", m)
	}

	// Everything permitted for the disabled key is in its export.
	ic, err := db.Export(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	exported := map[message]bool{}
	for _, b := range ic.Data[0].SignedBlocks {
		exported[message{key: victim, isBlock: true, slot: b.Slot, root: b.SigningRoot}] = true
	}
	for _, a := range ic.Data[0].SignedAttestations {
		exported[message{key: victim, source: a.SourceEpoch, target: a.TargetEpoch, root: a.SigningRoot}] = true
	}
	for _, m := range permits {
		if m.key == victim && !exported[m] {
			t.Errorf("permitted %v for the disabled key but its export lacks it", m)
		}
	}

	// After a reopen every permitted message is still known: its exact
	// repeat passes and a different root at the same place is refused.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = protect.Open(ctx, path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Enable(ctx, victim); err != nil {
		t.Fatal(err)
	}
	other := root(99)
	for _, m := range permits {
		var errSame, errOther error
		if m.isBlock {
			_, errSame = db.ApproveBlock(ctx, testGVR, m.key, protect.Block{Slot: m.slot, SigningRoot: m.root})
			_, errOther = db.ApproveBlock(ctx, testGVR, m.key, protect.Block{Slot: m.slot, SigningRoot: other})
		} else {
			a := protect.Attestation{Source: m.source, Target: m.target, SigningRoot: m.root}
			_, errSame = db.ApproveAttestation(ctx, testGVR, m.key, a)
			a.SigningRoot = other
			_, errOther = db.ApproveAttestation(ctx, testGVR, m.key, a)
		}
		if errSame != nil || !errors.Is(errOther, protect.ErrRefused) {
			t.Errorf("after reopen, %v: repeat %v, conflicting root %v", m, errSame, errOther)
		}
	}
}
