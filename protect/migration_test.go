package protect_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/rampart-signer/rampart/protect"
)

// TestOpensASchema1Database opens testdata/schema1.db, written by the
// schema 1 code of commit 108c238 (testdata/README.md shows how): format 1
// snapshots from a checkpoint plus schema 1 journal operations after it.
// Opening migrates it to schema 2 in place; its history keeps the meaning it
// had (the schema 1 imports raised the watermarks to 50 and 10->50), and
// since schema 1 recorded no import flags, the next import raises them once
// more, after which imports only add records.
func TestOpensASchema1Database(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("testdata", "schema1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if v := schemaOf(t, path); v != 1 {
		t.Fatalf("fixture has schema %d, want 1", v)
	}
	gvr := protect.Root{0x04, 0x5b}
	a, b := protect.PublicKey{0xa1}, protect.PublicKey{0xb2}

	cfg := testConfig()
	db, err := protect.Open(ctx, path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if db.GenesisValidatorsRoot() != gvr || len(db.Keys()) != 2 {
		t.Fatalf("network %v, keys %v", db.GenesisValidatorsRoot(), db.Keys())
	}
	expect := func(what string, err, want error) {
		t.Helper()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", what, err, want)
		}
	}
	block := func(k protect.PublicKey, slot uint64, r byte) error {
		_, err := db.ApproveBlock(ctx, gvr, k, protect.Block{Slot: slot, SigningRoot: protect.Root{r}})
		return err
	}
	att := func(k protect.PublicKey, s, tg uint64, r byte) error {
		_, err := db.ApproveAttestation(ctx, gvr, k, protect.Attestation{Source: s, Target: tg, SigningRoot: protect.Root{r}})
		return err
	}
	// What schema 1 recorded, read as it was written.
	expect("a: block 45, under the schema 1 watermark 50", block(a, 45, 1), protect.ErrBelowWatermark)
	expect("a: attestation 3->31, under the schema 1 watermarks", att(a, 3, 31, 1), protect.ErrBelowWatermark)
	expect("a: block 51", block(a, 51, 1), nil)
	expect("b: repeat of block 7 from the snapshot", block(b, 7, 7), nil)
	expect("b: another block at 7", block(b, 7, 8), protect.ErrDoubleProposal)
	expect("b: repeat of 3->4 from the journal", att(b, 3, 4, 4), nil)
	expect("b: another vote for 4", att(b, 3, 4, 5), protect.ErrDoubleVote)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if v := schemaOf(t, path); v != 2 {
		t.Fatalf("schema after opening: %d, want 2", v)
	}

	db, err = protect.Open(ctx, path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	imp := func(slot uint64) {
		t.Helper()
		if _, err := db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: gvr, Data: []protect.InterchangeValidator{{PublicKey: a, SignedBlocks: []protect.SignedBlock{{Slot: slot}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	imp(60)
	expect("a: block 55 after the first schema 2 import (60)", block(a, 55, 1), protect.ErrBelowWatermark)
	imp(70)
	expect("a: block 65 after a second schema 2 import (70)", block(a, 65, 1), nil)
	expect("a: block 70, imported", block(a, 70, 1), protect.ErrDoubleProposal)
}

func schemaOf(t *testing.T, path string) uint32 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v uint32
	if err := bdb.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint32(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}
