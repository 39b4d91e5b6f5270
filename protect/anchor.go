package protect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Anchors are small named values another part of the signer keeps durable
// next to the slashing records, so that a file of its own cannot be cut
// back without the database disagreeing (the audit log anchors its head
// here). The database knows nothing of what they mean.
//
// A value set with [DB.SetAnchor] joins the open batch and is written by
// the next group commit, in the same transaction as the records of that
// batch: it costs no write of its own while the signer is busy. [DB.Flush]
// writes it now. Anchors live in a bucket of their own ("anchors"), which
// schema 1 files simply lack until the first anchor is written; older
// builds ignore the bucket.

// Bounds on anchors, so that they stay small enough for every commit.
const (
	// MaxAnchorName is the longest anchor name.
	MaxAnchorName = 64
	// MaxAnchorValue is the largest anchor value.
	MaxAnchorValue = 1024
)

// ErrInvalidAnchor: an anchor name or value is out of bounds.
var ErrInvalidAnchor = errors.New("invalid anchor")

var bucketAnchors = []byte("anchors")

func checkAnchor(name string, value []byte) error {
	switch {
	case name == "" || len(name) > MaxAnchorName:
		return fmt.Errorf("protect: %w: name of %d bytes, want 1 to %d", ErrInvalidAnchor, len(name), MaxAnchorName)
	case len(value) > MaxAnchorValue:
		return fmt.Errorf("protect: %w: %q: value of %d bytes, at most %d", ErrInvalidAnchor, name, len(value), MaxAnchorValue)
	}
	return nil
}

// SetAnchor sets the anchor name to value. It returns at once: the value is
// written by the next commit (a request's, a registration's, or [DB.Flush]),
// and a later SetAnchor of the same name before that commit replaces it.
// [DB.Anchor] reports the value only once it is written.
func (db *DB) SetAnchor(name string, value []byte) error {
	if err := checkAnchor(name, value); err != nil {
		return err
	}
	if err := db.lockUsable(); err != nil {
		return err
	}
	defer db.mu.Unlock()
	if db.open.anchors == nil {
		db.open.anchors = map[string][]byte{}
	}
	db.open.anchors[name] = bytes.Clone(value)
	return nil
}

// Anchor returns the value of the anchor name as last written to the file,
// and false when it was never written.
func (db *DB) Anchor(name string) ([]byte, bool) {
	db.mu.Lock()
	defer db.mu.Unlock()
	v, ok := db.anchors[name]
	return bytes.Clone(v), ok
}

// Flush writes everything waiting for a commit (operations and anchors)
// now, and returns once it is durable. With nothing waiting it writes
// nothing.
func (db *DB) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.lockUsable(); err != nil {
		return err
	}
	b := db.open
	db.mu.Unlock()
	return db.wait(ctx, b)
}

// putAnchors writes a batch's anchors inside its commit.
func putAnchors(tx *bolt.Tx, anchors map[string][]byte) error {
	if len(anchors) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketAnchors)
	if err != nil {
		return err
	}
	for name, v := range anchors {
		if err := b.Put([]byte(name), v); err != nil {
			return err
		}
	}
	return nil
}

// loadAnchors reads every anchor of the file.
func loadAnchors(tx *bolt.Tx) (map[string][]byte, error) {
	out := map[string][]byte{}
	b := tx.Bucket(bucketAnchors)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		if err := checkAnchor(string(k), v); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out[string(k)] = bytes.Clone(v)
		return nil
	})
	return out, err
}

// ReadAnchor opens the database at path read-only and returns the anchor
// name (false when it was never written). A running signer holds the file's
// lock: then it fails with [ErrInUse] after cfg.LockTimeout, and the caller
// should ask the signer instead.
func ReadAnchor(ctx context.Context, path, name string, cfg Config) ([]byte, bool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, false, fmt.Errorf("protect: %w", err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.LockTimeout, ReadOnly: true})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, false, fmt.Errorf("protect: %s: %w", path, ErrInUse)
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("protect: %w", err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, false, fmt.Errorf("protect: %s: %w (%v)", path, ErrNotDatabase, err)
	case err != nil:
		return nil, false, fmt.Errorf("protect: opening %s: %w", path, err)
	}
	defer bdb.Close()
	var v []byte
	var ok bool
	err = bdb.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || !bytes.Equal(meta.Get(metaMagic), magicValue) {
			return ErrNotDatabase
		}
		all, err := loadAnchors(tx)
		v, ok = all[name]
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("protect: reading %s: %w", path, err)
	}
	return v, ok, nil
}
