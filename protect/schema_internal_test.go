package protect

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The migration mechanism is exercised with made-up schema steps from a
// file that says schema 1; the real 1 -> 2 step is tested on a file written
// by schema 1 code (TestOpensASchema1Database).
func TestMigrateRunsStepsInOrderInOneTransaction(t *testing.T) {
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error {
		if err := initSchema(tx, Root{7}); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaSchema, binary.BigEndian.AppendUint32(nil, 1))
	}); err != nil {
		t.Fatal(err)
	}
	var ran []uint32
	step := func(from uint32) migration {
		return migration{from: from, apply: func(tx *bolt.Tx) error {
			ran = append(ran, from)
			return tx.Bucket(bucketMeta).Put([]byte("step"), []byte{byte(from)})
		}}
	}
	schema := func() uint32 {
		var v uint32
		_ = bdb.View(func(tx *bolt.Tx) error {
			v = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(metaSchema))
			return nil
		})
		return v
	}

	// A failing step rolls back the steps before it and the version.
	failing := []migration{step(1), {from: 2, apply: func(*bolt.Tx) error { return errors.New("disk full") }}}
	err = bdb.Update(func(tx *bolt.Tx) error { _, err := checkSchema(tx, failing, 3); return err })
	if err == nil || schema() != 1 {
		t.Fatalf("failed migration: err %v, schema now %d", err, schema())
	}
	_ = bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("step")) != nil {
			t.Error("a step of a failed migration was kept")
		}
		return nil
	})

	// A gap in the path is refused.
	err = bdb.Update(func(tx *bolt.Tx) error { _, err := checkSchema(tx, []migration{step(2)}, 3); return err })
	if !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("gap: %v", err)
	}

	ran = nil
	var gvr Root
	err = bdb.Update(func(tx *bolt.Tx) error {
		var err error
		gvr, err = checkSchema(tx, []migration{step(2), step(1)}, 3)
		return err
	})
	if err != nil || schema() != 3 || len(ran) != 2 || ran[0] != 1 || ran[1] != 2 || gvr != (Root{7}) {
		t.Fatalf("err %v, schema %d, ran %v, gvr %v", err, schema(), ran, gvr)
	}

	// Now the file is newer than code that knows schema 1.
	err = bdb.Update(func(tx *bolt.Tx) error { _, err := checkSchema(tx, nil, 1); return err })
	if !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("newer file: %v", err)
	}
}
