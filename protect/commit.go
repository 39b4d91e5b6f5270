package protect

import (
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Callers check and apply their operations to the in-memory
// index under db.mu, append them to the open batch and then wait. Whoever
// takes the write token first becomes the leader: it swaps in a fresh open
// batch and writes the old one - its own operations and everything that
// joined while the previous leader was busy - in one fsync'd transaction,
// then wakes everyone in it. No goroutine is started for this, and the
// decision is never inside a function bbolt might re-run (as Batch does).
//
// The ordering argument: a caller's operations are in the open batch b until
// a leader takes b, and a leader holds the token until b is written and done
// is closed. So a caller that gets the token while b is not done knows b is
// still the open batch, and commits it.

// batch is the set of operations that will share one transaction.
type batch struct {
	buf     []byte
	cuts    []int // offsets where buf splits into journal entries
	lastCut int
	ops     int
	anchors map[string][]byte // anchor.go: written in the same transaction
	done    chan struct{}
	err     error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// reserve marks an entry boundary before the next operation once the current
// entry is large enough.
func (b *batch) reserve() {
	if len(b.buf)-b.lastCut >= maxEntryBytes {
		b.cuts = append(b.cuts, len(b.buf))
		b.lastCut = len(b.buf)
	}
	b.ops++
}

func (b *batch) entries() [][]byte {
	out := make([][]byte, 0, len(b.cuts)+1)
	prev := 0
	for _, c := range append(b.cuts, len(b.buf)) {
		if c > prev {
			out = append(out, frameEntry(b.buf[prev:c]))
		}
		prev = c
	}
	return out
}

// acquire takes the write token or gives up when ctx ends.
func (db *DB) acquire(ctx context.Context) error {
	select {
	case db.token <- struct{}{}:
		return nil
	case <-db.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) release() { <-db.token }

// wait returns once b is durably written (nil) or failed. If ctx ends
// first the operations stay queued and are written by a later leader or by
// Close; the caller just does not learn the outcome, and gets no permit.
func (db *DB) wait(ctx context.Context, b *batch) error {
	for {
		select {
		case <-b.done:
			return b.err
		case <-ctx.Done():
			return ctx.Err()
		case db.token <- struct{}{}:
			select {
			case <-b.done:
			default:
				db.commitOpen()
			}
			db.release()
		}
	}
}

// commitOpen writes the open batch. The caller holds the token.
func (db *DB) commitOpen() {
	db.mu.Lock()
	b := db.open
	db.open = newBatch()
	failed := db.failed
	seq := db.nextSeq
	db.mu.Unlock()

	if failed != nil {
		b.err = failed
		close(b.done)
		return
	}
	if len(b.buf) == 0 && len(b.anchors) == 0 {
		// Only exact repeats: nothing to write, but they still waited for
		// the batch that held what they repeat.
		close(b.done)
		return
	}
	entries := b.entries()
	var size int64
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		j := tx.Bucket(bucketJournal)
		for i, e := range entries {
			if err := j.Put(binary.BigEndian.AppendUint64(nil, seq+uint64(i)), e); err != nil {
				return err
			}
			size += int64(len(e))
		}
		return putAnchors(tx, b.anchors)
	})
	if err != nil {
		b.err = db.fail("commit", err)
		close(b.done)
		return
	}
	db.mu.Lock()
	db.nextSeq = seq + uint64(len(entries))
	db.committedSeq = db.nextSeq - 1
	db.journalBytes += size
	db.stats.Commits++
	db.stats.Operations += uint64(b.ops)
	for name, v := range b.anchors {
		db.anchors[name] = v
	}
	db.mu.Unlock()
	close(b.done)
}
