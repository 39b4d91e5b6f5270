package protect

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DB is a slashing protection database for one network. It is safe for
// concurrent use. Decisions are made against an in-memory index of every
// key's state; the records they add reach the file through the group commit
// (commit.go) before any [Permit] is handed out.
type DB struct {
	cfg  Config
	h    horizon
	gvr  Root
	bolt *bolt.DB

	// token is held by whoever writes to the file: a commit leader, an
	// Enable, a checkpoint chunk or Close. It is a channel so waiting for it
	// can be abandoned when a context ends or a batch completes.
	token chan struct{}
	// closing is closed by Close, which keeps the token for good, so that
	// nobody waits for the token forever.
	closing chan struct{}
	// adminMu serialises Enable and Disable so that the journal order of
	// the two is the order they took effect in memory.
	adminMu sync.Mutex
	// checkpointMu serialises checkpoint rounds: a round may only delete
	// journal entries once every key dirty when it started is written.
	checkpointMu sync.Mutex

	mu           sync.Mutex
	keys         map[PublicKey]*keyState
	dirty        []*keyState // keys changed since their last snapshot
	open         *batch      // the batch new operations join
	nextSeq      uint64      // sequence number of the next journal entry
	committedSeq uint64      // last journal entry durably written
	journalBytes int64       // size of the journal on disk
	snapBytes    int64       // size of all snapshots on disk
	closed       bool
	failed       error
	anchors      map[string][]byte // as last written (anchor.go)
	stats        Stats
}

// Create makes a new, empty database at path for the network with the given
// genesis validators root. It fails with an error matching fs.ErrExist if
// the file exists: a database is never silently replaced.
func Create(ctx context.Context, path string, gvr Root, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bdb, err := openBolt(path, cfg, os.O_EXCL)
	if err != nil {
		return nil, err
	}
	if err := bdb.Update(func(tx *bolt.Tx) error { return initSchema(tx, gvr) }); err != nil {
		_ = bdb.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("protect: initialising %s: %w", path, err)
	}
	// The new directory entry must be durable too, or a power cut could
	// take the file, and every record committed to it, away with it.
	if err := syncDir(filepath.Dir(path)); err != nil && !cfg.UnsafeNoSync {
		_ = bdb.Close()
		return nil, err
	}
	return newDB(gvr, cfg, bdb), nil
}

// Open opens an existing database. It fails with an error matching
// fs.ErrNotExist if there is none (create one with [Create] or by importing
// history), with [ErrInUse] if another process holds it for longer than
// Config.LockTimeout, and with [ErrNotDatabase], [ErrCorrupt] or
// [ErrSchemaVersion] if the file cannot be used. Loading replays the
// journal; ctx bounds it.
func Open(ctx context.Context, path string, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bdb, err := openBolt(path, cfg, 0)
	if err != nil {
		return nil, err
	}
	var gvr Root
	if err := bdb.Update(func(tx *bolt.Tx) error {
		var err error
		gvr, err = checkSchema(tx, migrations(), currentSchema)
		return err
	}); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("protect: opening %s: %w", path, err)
	}
	db := newDB(gvr, cfg, bdb)
	if err := bdb.View(func(tx *bolt.Tx) error {
		if err := db.load(ctx, tx); err != nil {
			return err
		}
		var err error
		db.anchors, err = loadAnchors(tx)
		return err
	}); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("protect: loading %s: %w", path, err)
	}
	return db, nil
}

// openBolt opens the file with the lock timeout. extraFlags is O_EXCL for
// Create; Open strips O_CREATE so that a missing file is an error, not a
// new empty database.
func openBolt(path string, cfg Config, extraFlags int) (*bolt.DB, error) {
	opts := &bolt.Options{
		Timeout: cfg.LockTimeout,
		// The freelist is rebuilt on open instead of rewritten on every
		// commit; the journal commits far more often than the file opens.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         cfg.UnsafeNoSync,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			if extraFlags == 0 {
				flag &^= os.O_CREATE
			}
			return os.OpenFile(name, flag|extraFlags, mode)
		},
	}
	bdb, err := bolt.Open(path, 0o600, opts)
	switch {
	case err == nil:
		return bdb, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("protect: %s: %w", path, ErrInUse)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("protect: %w", err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("protect: %s: %w (%v)", path, ErrNotDatabase, err)
	}
	return nil, fmt.Errorf("protect: opening %s: %w", path, err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("protect: syncing directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("protect: syncing directory %s: %w", dir, err)
	}
	return nil
}

func newDB(gvr Root, cfg Config, bdb *bolt.DB) *DB {
	return &DB{
		cfg:     cfg,
		h:       cfg.horizon(),
		gvr:     gvr,
		bolt:    bdb,
		token:   make(chan struct{}, 1),
		closing: make(chan struct{}),
		keys:    make(map[PublicKey]*keyState),
		open:    newBatch(),
		nextSeq: 1,
		anchors: map[string][]byte{},
	}
}

// load reads every snapshot and replays the journal over them.
func (db *DB) load(ctx context.Context, tx *bolt.Tx) error {
	err := tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
		if len(k) != PublicKeyLength {
			return fmt.Errorf("%w: key of %d bytes in keys bucket", ErrCorrupt, len(k))
		}
		ks, err := decodeSnapshot(PublicKey(k), v)
		if err != nil {
			return err
		}
		ks.normalize(db.h)
		db.keys[ks.key] = ks
		db.snapBytes += int64(len(v))
		return nil
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := tx.Bucket(bucketJournal).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("%w: journal key of %d bytes", ErrCorrupt, len(k))
		}
		seq := binary.BigEndian.Uint64(k)
		if err := decodeEntry(v, db.applyLocked); err != nil {
			return fmt.Errorf("journal entry %d: %w", seq, err)
		}
		db.committedSeq = seq
		db.nextSeq = seq + 1
		db.journalBytes += int64(len(v))
		if seq%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyLocked applies one journal operation to the index, exactly as the
// live path applied it before writing it.
func (db *DB) applyLocked(o *op) error {
	k := db.keys[o.key]
	if o.kind == opRegister {
		if k == nil {
			k = &keyState{key: o.key}
			db.keys[o.key] = k
		}
		db.markDirtyLocked(k)
		return nil
	}
	if k == nil {
		return fmt.Errorf("%w: journal operation %d for unregistered key %v", ErrCorrupt, o.kind, o.key)
	}
	switch o.kind {
	case opDisable:
		k.disabled = true
	case opEnable:
		k.disabled = false
	case opBlock:
		k.addBlock(o.a, o.root, o.known)
	case opAttestation:
		k.addAttestation(o.a, o.b, o.root, o.known, db.h)
	case opFloors:
		k.raiseFloors(o.floors)
	case opImportFloors:
		k.importFloors(o.floors)
	}
	k.normalize(db.h)
	db.markDirtyLocked(k)
	return nil
}

func (db *DB) markDirtyLocked(k *keyState) {
	if !k.dirty {
		k.dirty = true
		db.dirty = append(db.dirty, k)
	}
}

// lockUsable takes db.mu if the database can take requests, and otherwise
// returns why not without holding it.
func (db *DB) lockUsable() error {
	db.mu.Lock()
	if err := db.usableLocked(); err != nil {
		db.mu.Unlock()
		return err
	}
	return nil
}

// fail records a failed write: from now on the database refuses everything.
// It returns the error callers see.
func (db *DB) fail(what string, err error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.failed == nil {
		db.failed = fmt.Errorf("%w: %s: %v", ErrFailed, what, err)
	}
	return db.failed
}

// usableLocked reports why the database cannot take requests, if it cannot.
func (db *DB) usableLocked() error {
	if db.failed != nil {
		return db.failed
	}
	if db.closed {
		return ErrClosed
	}
	return nil
}

// GenesisValidatorsRoot returns the network the database was created for.
// The signer compares it with its configured network at start-up.
func (db *DB) GenesisValidatorsRoot() Root { return db.gvr }

// Keys returns every registered key, disabled ones included, in byte order.
func (db *DB) Keys() []PublicKey {
	db.mu.Lock()
	out := make([]PublicKey, 0, len(db.keys))
	for k := range db.keys {
		out = append(out, k)
	}
	db.mu.Unlock()
	slices.SortFunc(out, func(a, b PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// Disabled reports whether key is registered and disabled: removed from
// this signer (keymanager DELETE), or staged again and not yet enabled.
func (db *DB) Disabled(key PublicKey) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	k := db.keys[key]
	return k != nil && k.disabled
}

// Stats are counters for metrics. They are cumulative since Open.
type Stats struct {
	// Keys is the number of registered keys.
	Keys int
	// Commits is the number of journal transactions written.
	Commits uint64
	// Operations is the number of journal operations written.
	Operations uint64
	// JournalBytes is the current size of the journal.
	JournalBytes int64
	// Checkpoints is the number of completed checkpoint rounds.
	Checkpoints uint64
}

// Stats returns the current counters.
func (db *DB) Stats() Stats {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.stats
	s.Keys = len(db.keys)
	s.JournalBytes = db.journalBytes
	return s
}

// Close commits operations still waiting for a leader, then closes the
// file. Requests after Close fail with ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.closing)
	db.mu.Unlock()
	// Wait out a commit or checkpoint in flight; the token is never given
	// back, so nothing writes after the file is closed.
	db.token <- struct{}{}
	db.commitOpen()
	return db.bolt.Close()
}
