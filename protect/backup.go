package protect

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// WriteSnapshot writes a consistent copy of the whole database file to w
// (one bbolt read transaction, Tx.WriteTo) while the database stays in
// use, and returns the number of bytes written. The copy opens like the
// original: every record committed before the transaction began, the
// journal not yet folded into snapshots included, and the anchors as last
// written. Commits go on meanwhile; one that must grow the file waits for
// the transaction to end, so write to something fast (a local temporary
// file), not to a network peer.
func (db *DB) WriteSnapshot(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	db.mu.Lock()
	err := db.usableLocked()
	db.mu.Unlock()
	if err != nil {
		return 0, err
	}
	var n int64
	err = db.bolt.View(func(tx *bolt.Tx) error {
		var werr error
		n, werr = tx.WriteTo(w)
		return werr
	})
	if err != nil {
		return n, fmt.Errorf("protect: snapshot: %w", err)
	}
	return n, nil
}
