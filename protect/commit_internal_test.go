package protect

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func newTestDB(t *testing.T) *DB {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Limit = NoLimit
	db, err := Create(context.Background(), filepath.Join(t.TempDir(), "p.db"), Root{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Register(context.Background(), PublicKey{1}); err != nil {
		t.Fatal(err)
	}
	return db
}

// waitQueued yields until n operations sit in the open batch.
func waitQueued(db *DB, n int) {
	for {
		db.mu.Lock()
		ops := db.open.ops
		db.mu.Unlock()
		if ops >= n {
			return
		}
		runtime.Gosched()
	}
}

func journalHolds(t *testing.T, db *DB, slot uint64) bool {
	t.Helper()
	found := false
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJournal).ForEach(func(_, v []byte) error {
			return decodeEntry(v, func(o *op) error {
				found = found || (o.kind == opBlock && o.a == slot)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

type result struct {
	p   Permit
	err error
}

// While the write token is held nobody can commit, so a request whose
// record is queued cannot have its verdict: the order "record durable, then
// permit" is enforced by the code path, not by timing. The exact repeat of
// a queued record waits the same way.
func TestVerdictOnlyAfterTheCommitHoldingTheRecord(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	db.token <- struct{}{} // a commit "in flight"

	first := make(chan result, 1)
	go func() {
		p, err := db.ApproveBlock(ctx, Root{}, PublicKey{1}, Block{Slot: 5, SigningRoot: Root{5}})
		first <- result{p, err}
	}()
	waitQueued(db, 1)
	repeat := make(chan result, 1)
	go func() {
		p, err := db.ApproveBlock(ctx, Root{}, PublicKey{1}, Block{Slot: 5, SigningRoot: Root{5}})
		repeat <- result{p, err}
	}()
	// A conflicting request is refused at once: refusals need no commit.
	if _, err := db.ApproveBlock(ctx, Root{}, PublicKey{1}, Block{Slot: 5, SigningRoot: Root{6}}); !errors.Is(err, ErrDoubleProposal) {
		t.Fatalf("conflict while queued: %v", err)
	}
	select {
	case r := <-first:
		t.Fatalf("verdict before the commit: %+v", r)
	case r := <-repeat:
		t.Fatalf("exact repeat answered before the record it repeats was committed: %+v", r)
	default:
	}
	if journalHolds(t, db, 5) {
		t.Fatal("record on disk while the token was held")
	}

	<-db.token // the commit in flight ends; a waiter becomes leader
	for _, ch := range []chan result{first, repeat} {
		r := <-ch
		if r.err != nil || !r.p.Valid() {
			t.Fatalf("after the commit: %v, valid %v", r.err, r.p.Valid())
		}
	}
	if !journalHolds(t, db, 5) {
		t.Fatal("permit handed out but the record is not in the journal")
	}
}

// A failed write poisons the database: the caller gets no permit, and
// every later request is refused with ErrFailed until it is reopened.
func TestFailedCommitRefusesEverythingAfter(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	// Pull the file out from under the database so the next commit fails.
	if err := db.bolt.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := db.ApproveBlock(ctx, Root{}, PublicKey{1}, Block{Slot: 1})
	if !errors.Is(err, ErrFailed) || p.Valid() {
		t.Fatalf("failed commit: %v, permit valid %v", err, p.Valid())
	}
	if _, err := db.ApproveAttestations(ctx, Root{}, []AttestationRequest{{Key: PublicKey{1}}}); !errors.Is(err, ErrFailed) {
		t.Fatalf("after failure: %v", err)
	}
	if err := db.Checkpoint(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("checkpoint after failure: %v", err)
	}
}

// A cancelled waiter gets no permit, but its record stays queued and is
// committed by the next leader: recorded-but-unsigned is the safe side.
func TestCancelledWaiterLeavesItsRecordQueued(t *testing.T) {
	db := newTestDB(t)
	db.token <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		p, err := db.ApproveBlock(ctx, Root{}, PublicKey{1}, Block{Slot: 8, SigningRoot: Root{8}})
		done <- result{p, err}
	}()
	waitQueued(db, 1)
	cancel()
	r := <-done
	if !errors.Is(r.err, context.Canceled) || r.p.Valid() {
		t.Fatalf("cancelled: %v, valid %v", r.err, r.p.Valid())
	}
	<-db.token
	if _, err := db.ApproveBlock(context.Background(), Root{}, PublicKey{1}, Block{Slot: 9, SigningRoot: Root{9}}); err != nil {
		t.Fatal(err)
	}
	if !journalHolds(t, db, 8) {
		t.Fatal("the cancelled request's record was dropped")
	}
}

// Disable reaches requests already recorded but not yet answered: their
// records stay, but no permit is handed out once Disable has begun.
func TestDisableWithholdsPermitsNotYetHandedOut(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	db.token <- struct{}{}
	pending := make(chan result, 1)
	go func() {
		p, err := db.ApproveBlock(ctx, Root{}, PublicKey{1}, Block{Slot: 3, SigningRoot: Root{3}})
		pending <- result{p, err}
	}()
	waitQueued(db, 1)
	disabled := make(chan error, 1)
	go func() { disabled <- db.Disable(ctx, PublicKey{1}) }()
	waitQueued(db, 2)
	<-db.token
	if err := <-disabled; err != nil {
		t.Fatal(err)
	}
	r := <-pending
	if !errors.Is(r.err, ErrDisabled) || r.p.Valid() {
		t.Fatalf("request recorded before Disable: %v, permit valid %v", r.err, r.p.Valid())
	}
	if !journalHolds(t, db, 3) {
		t.Fatal("its record must still be kept")
	}
}
