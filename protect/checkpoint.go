package protect

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Checkpointing folds the journal into per-key snapshots so that the file
// and the time to open it stay bounded. A round:
//
//  1. notes R, the last committed journal entry, and takes the list of
//     dirty keys (every key changed since its snapshot was last written);
//  2. writes their snapshots in small sorted chunks, one transaction each,
//     taking the write token per chunk so group commits interleave;
//  3. deletes journal entries up to R.
//
// Every operation in an entry at or before R was applied in memory before
// the round began, so its key was dirty then (or was snapshotted after the
// operation): once step 2 is done, step 3 forgets nothing. A snapshot may
// also hold operations of a batch not yet committed; that is safe because
// replaying the journal over a snapshot is idempotent, and a record of a
// message that was then never signed only refuses more.

const (
	// checkpointChunk keys per transaction bounds how long a checkpoint
	// delays a waiting group commit (a few milliseconds).
	checkpointChunk = 512
	// minCheckpointBytes: below this the journal is not worth folding.
	minCheckpointBytes = 8 << 20
)

// Run checkpoints the journal whenever it has grown past half the size of
// the snapshots (and at least 8 MiB), checking every
// Config.CheckpointInterval, until ctx ends. It returns nil when ctx ends
// and an error if the database failed or was closed. The database works
// without Run, but its journal then grows without bound.
func (db *DB) Run(ctx context.Context) error {
	t := time.NewTicker(db.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-db.closing:
			return ErrClosed
		case <-t.C:
		}
		db.mu.Lock()
		err := db.usableLocked()
		due := db.journalBytes >= max(minCheckpointBytes, db.snapBytes/2)
		db.mu.Unlock()
		if err != nil {
			return err
		}
		if !due {
			continue
		}
		if err := db.Checkpoint(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Checkpoint runs one checkpoint round now. It is safe to call at any time;
// rounds are serialised.
func (db *DB) Checkpoint(ctx context.Context) error {
	db.checkpointMu.Lock()
	defer db.checkpointMu.Unlock()

	if err := db.lockUsable(); err != nil {
		return err
	}
	upTo := db.committedSeq
	list := db.dirty
	db.dirty = nil
	db.mu.Unlock()

	slices.SortFunc(list, func(a, b *keyState) int { return bytes.Compare(a.key[:], b.key[:]) })
	for len(list) > 0 {
		n := min(len(list), checkpointChunk)
		if err := db.writeSnapshots(ctx, list[:n]); err != nil {
			db.requeue(list)
			return err
		}
		list = list[n:]
	}
	if err := db.acquire(ctx); err != nil {
		return err
	}
	defer db.release()
	return db.truncateJournal(upTo)
}

// requeue puts keys whose snapshots were not written back on the dirty list.
func (db *DB) requeue(list []*keyState) {
	db.mu.Lock()
	for _, k := range list {
		if k.dirty {
			db.dirty = append(db.dirty, k)
		}
	}
	db.mu.Unlock()
}

func (db *DB) writeSnapshots(ctx context.Context, chunk []*keyState) error {
	if err := db.acquire(ctx); err != nil {
		return err
	}
	defer db.release()
	if err := db.lockUsable(); err != nil {
		return err
	}
	var buf []byte
	offsets := make([]int, 0, len(chunk)+1)
	for _, k := range chunk {
		offsets = append(offsets, len(buf))
		buf = encodeSnapshot(buf, k)
		k.dirty = false
	}
	offsets = append(offsets, len(buf))
	db.mu.Unlock()

	var delta int64
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		for i, k := range chunk {
			delta -= int64(len(b.Get(k.key[:])))
			v := buf[offsets[i]:offsets[i+1]]
			delta += int64(len(v))
			if err := b.Put(k.key[:], v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The dirty flags were cleared for a write that did not happen;
		// rather than reason about what is on disk, fail closed.
		return db.fail("checkpoint", err)
	}
	db.mu.Lock()
	db.snapBytes += delta
	db.mu.Unlock()
	return nil
}

// truncateJournal deletes journal entries up to and including seq. The
// caller holds the token.
func (db *DB) truncateJournal(seq uint64) error {
	var freed int64
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJournal).Cursor()
		for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, v = c.First() {
			freed += int64(len(v))
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return db.fail("checkpoint", err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.journalBytes -= freed
	db.stats.Checkpoints++
	return nil
}
