package protect

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// File layout (schema 2), three buckets:
//
//	meta:    "magic" -> "rampart-slashing-protection"
//	         "schema" -> u32 big-endian
//	         "genesis_validators_root" -> 32 bytes
//	keys:    48-byte public key -> snapshot (snapshot.go)
//	journal: u64 big-endian sequence -> journal entry (journal.go)
//	anchors: name -> value (anchor.go); created by the first anchor
//	         written, ignored by builds that predate it, so it needs no
//	         schema version of its own
//
// A future schema adds a migration from the previous version to
// [migrations]; Open runs every step from the file's version up to
// currentSchema in the same transaction that rewrites the version, so a
// crash mid-migration leaves the old file intact. A file newer than this
// code is refused, never guessed at.
//
// Schema 2 changed what an import does to the watermarks (rules.go,
// importFloors): it writes journal operation opImportFloors and snapshot
// format 2, which carries whether an import has set a key's watermarks.
// Schema 1 content is valid schema 2 content and keeps its meaning (opFloors
// and snapshot format 1 are still read), so the migration only records the
// new version; what it buys is that a schema 1 binary refuses the file
// (ErrSchemaVersion) instead of misreading operations it does not know.

const currentSchema = 2

var (
	bucketMeta    = []byte("meta")
	bucketKeys    = []byte("keys")
	bucketJournal = []byte("journal")

	metaMagic   = []byte("magic")
	metaSchema  = []byte("schema")
	metaNetwork = []byte("genesis_validators_root")

	magicValue = []byte("rampart-slashing-protection")
)

// migration upgrades a file from schema from to from+1 inside tx.
type migration struct {
	from  uint32
	apply func(tx *bolt.Tx) error
}

// migrations is the upgrade path, in order.
func migrations() []migration {
	return []migration{
		// 1 -> 2: nothing to rewrite (see above); a key whose snapshot or
		// journal has no import flag is treated as never imported, so
		// its next import raises its watermarks once more, as schema 1
		// would have: the conservative reading of an unknown past.
		{from: 1, apply: func(*bolt.Tx) error { return nil }},
	}
}

// initSchema writes the metadata of a new file.
func initSchema(tx *bolt.Tx, gvr Root) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketKeys, bucketJournal} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	if err := meta.Put(metaMagic, magicValue); err != nil {
		return err
	}
	if err := meta.Put(metaSchema, binary.BigEndian.AppendUint32(nil, currentSchema)); err != nil {
		return err
	}
	return meta.Put(metaNetwork, gvr[:])
}

// checkSchema verifies the file is ours, migrates it if it is older and
// returns its network.
func checkSchema(tx *bolt.Tx, steps []migration, target uint32) (Root, error) {
	var gvr Root
	meta := tx.Bucket(bucketMeta)
	if meta == nil || !bytes.Equal(meta.Get(metaMagic), magicValue) {
		return gvr, ErrNotDatabase
	}
	v := meta.Get(metaSchema)
	if len(v) != 4 {
		return gvr, fmt.Errorf("%w: schema version field has %d bytes", ErrCorrupt, len(v))
	}
	if err := migrate(tx, binary.BigEndian.Uint32(v), steps, target); err != nil {
		return gvr, err
	}
	n := meta.Get(metaNetwork)
	if len(n) != RootLength {
		return gvr, fmt.Errorf("%w: genesis validators root field has %d bytes", ErrCorrupt, len(n))
	}
	copy(gvr[:], n)
	if tx.Bucket(bucketKeys) == nil || tx.Bucket(bucketJournal) == nil {
		return gvr, fmt.Errorf("%w: missing bucket", ErrCorrupt)
	}
	return gvr, nil
}

// migrate runs steps from version to target in tx and records the new
// version; tx rolls everything back if any step fails.
func migrate(tx *bolt.Tx, version uint32, steps []migration, target uint32) error {
	if version > target {
		return fmt.Errorf("%w: file has schema %d, this build knows up to %d; use a newer rampart", ErrSchemaVersion, version, target)
	}
	if version == 0 {
		return fmt.Errorf("%w: schema version 0", ErrCorrupt)
	}
	if version == target {
		return nil
	}
	for version < target {
		var step *migration
		for i := range steps {
			if steps[i].from == version {
				step = &steps[i]
			}
		}
		if step == nil {
			return fmt.Errorf("%w: no migration from schema %d", ErrSchemaVersion, version)
		}
		if err := step.apply(tx); err != nil {
			return fmt.Errorf("protect: migrating schema %d to %d: %w", version, version+1, err)
		}
		version++
	}
	return tx.Bucket(bucketMeta).Put(metaSchema, binary.BigEndian.AppendUint32(nil, version))
}
