package protect_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/protect"
)

func TestAnchorRidesTheNextCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := protect.Create(ctx, path, testGVR, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAnchor("audit", []byte("head 1")); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Anchor("audit"); ok {
		t.Fatal("an anchor is reported before any commit wrote it")
	}
	if err := db.SetAnchor("audit", []byte("head 2")); err != nil {
		t.Fatal(err)
	}
	// An approval's commit carries the anchor: no write of its own.
	before := db.Stats().Commits
	if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().Commits - before; got != 1 {
		t.Fatalf("%d commits for one approval with an anchor, want 1", got)
	}
	if v, ok := db.Anchor("audit"); !ok || string(v) != "head 2" {
		t.Fatalf("anchor after the commit: %q %v", v, ok)
	}
	// Flush writes an anchor alone.
	if err := db.SetAnchor("audit", []byte("head 3")); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := protect.ReadAnchor(ctx, path, "audit", quickLock()); !errors.Is(err, protect.ErrInUse) {
		t.Fatalf("ReadAnchor while the database is open: %v, want ErrInUse", err)
	}
	if err := db.SetAnchor("audit", []byte("head 4")); err != nil {
		t.Fatal(err)
	}
	// Close writes what is still waiting.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	v, ok, err := protect.ReadAnchor(ctx, path, "audit", quickLock())
	if err != nil || !ok || string(v) != "head 4" {
		t.Fatalf("ReadAnchor after close: %q %v %v", v, ok, err)
	}
	if _, ok, err := protect.ReadAnchor(ctx, path, "other", quickLock()); err != nil || ok {
		t.Fatalf("ReadAnchor of an unknown name: %v %v", ok, err)
	}
	db, err = protect.Open(ctx, path, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, ok := db.Anchor("audit"); !ok || string(v) != "head 4" {
		t.Fatalf("anchor after reopening: %q %v", v, ok)
	}
}

func TestAnchorBounds(t *testing.T) {
	db := createDB(t, testGVR, testConfig())
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"", []byte("x")},
		{strings.Repeat("n", protect.MaxAnchorName+1), []byte("x")},
		{"audit", bytes.Repeat([]byte("v"), protect.MaxAnchorValue+1)},
	} {
		if err := db.SetAnchor(tc.name, tc.value); !errors.Is(err, protect.ErrInvalidAnchor) {
			t.Errorf("SetAnchor(%d-byte name, %d-byte value): %v", len(tc.name), len(tc.value), err)
		}
	}
}

func TestReadAnchorRefusesOtherFiles(t *testing.T) {
	ctx := context.Background()
	if _, _, err := protect.ReadAnchor(ctx, filepath.Join(t.TempDir(), "missing.db"), "audit", quickLock()); err == nil {
		t.Fatal("ReadAnchor of a missing file succeeded")
	}
}

// TestWhenDecidedRunsBeforeTheCommit shows the hook sees the verdicts of the
// rules while the records are still waiting for their commit, and that a
// refused request is reported as not passed.
func TestWhenDecidedRunsBeforeTheCommit(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1), key(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveAttestation(ctx, testGVR, key(2), protect.Attestation{Source: 5, Target: 6, SigningRoot: root(1)}); err != nil {
		t.Fatal(err)
	}
	var seen []bool
	var commitsAtHook uint64
	before := db.Stats().Commits
	vs, err := db.ApproveAttestations(ctx, testGVR, []protect.AttestationRequest{
		{Key: key(1), Attestation: protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}},
		{Key: key(2), Attestation: protect.Attestation{Source: 5, Target: 6, SigningRoot: root(2)}}, // double vote
	}, protect.WhenDecided(func(ok []bool) {
		seen = ok
		commitsAtHook = db.Stats().Commits
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !seen[0] || seen[1] {
		t.Fatalf("hook saw %v, want [true false]", seen)
	}
	if commitsAtHook != before {
		t.Fatal("the hook ran after the commit")
	}
	if !vs[0].Permit.Valid() || vs[1].Err == nil {
		t.Fatalf("verdicts %+v", vs)
	}
	var block []bool
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 9, SigningRoot: root(1)}, protect.WhenDecided(func(ok []bool) { block = ok })); err != nil {
		t.Fatal(err)
	}
	if len(block) != 1 || !block[0] {
		t.Fatalf("block hook saw %v", block)
	}
}

func quickLock() protect.Config {
	c := testConfig()
	c.LockTimeout = 50 * time.Millisecond
	return c
}
