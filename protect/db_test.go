package protect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/protect"
	bolt "go.etcd.io/bbolt"
)

func mustExport(t *testing.T, db *protect.DB, keys ...protect.PublicKey) []byte {
	t.Helper()
	ic, err := db.Export(context.Background(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ic.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecisionsSurviveReopen(t *testing.T) {
	for _, checkpoint := range []bool{false, true} {
		name := "from the journal"
		if checkpoint {
			name = "from snapshots after a checkpoint"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "p.db")
			cfg := protect.DefaultConfig() // fsync on
			cfg.Limit = protect.NoLimit
			db, err := protect.Create(ctx, path, testGVR, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Register(ctx, key(1), key(2)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 7, SigningRoot: root(1)}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ApproveAttestation(ctx, testGVR, key(2), protect.Attestation{Source: 3, Target: 4, SigningRoot: root(1)}); err != nil {
				t.Fatal(err)
			}
			if err := db.Disable(ctx, key(2)); err != nil {
				t.Fatal(err)
			}
			if checkpoint {
				if err := db.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
				if s := db.Stats(); s.JournalBytes != 0 || s.Checkpoints != 1 {
					t.Fatalf("after checkpoint: %+v", s)
				}
			}
			before := mustExport(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = protect.Open(ctx, path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if after := mustExport(t, db); !bytes.Equal(before, after) {
				t.Fatalf("history changed across reopen:\n%s\n%s", before, after)
			}
			if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 7, SigningRoot: root(2)}); !errors.Is(err, protect.ErrDoubleProposal) {
				t.Errorf("double proposal after reopen: %v", err)
			}
			if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 7, SigningRoot: root(1)}); err != nil {
				t.Errorf("exact repeat after reopen: %v", err)
			}
			if _, err := db.ApproveAttestation(ctx, testGVR, key(2), protect.Attestation{Source: 3, Target: 5}); !errors.Is(err, protect.ErrDisabled) {
				t.Errorf("disabled key after reopen: %v", err)
			}
		})
	}
}

func TestOpenRefusesMissingFileAndCreateRefusesExisting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	if _, err := protect.Open(ctx, path, protect.DefaultConfig()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open created a file: %v", err)
	}
	db, err := protect.Create(ctx, path, testGVR, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := protect.Create(ctx, path, testGVR, protect.DefaultConfig()); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create existing: %v", err)
	}
}

func TestOpenFailsFastWhenAnotherProcessHoldsTheLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := protect.Create(ctx, path, testGVR, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := protect.DefaultConfig()
	cfg.LockTimeout = 50 * time.Millisecond
	_, err = protect.Open(ctx, path, cfg)
	if !errors.Is(err, protect.ErrInUse) {
		t.Fatalf("got %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), "is rampart-signer running?") {
		t.Fatalf("message does not say what to check: %v", err)
	}
}

func TestOpenRefusesForeignAndDamagedFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte{0x5a}, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := protect.Open(ctx, junk, protect.DefaultConfig()); !errors.Is(err, protect.ErrNotDatabase) {
		t.Errorf("junk file: %v", err)
	}

	other := filepath.Join(dir, "other.db")
	bdb, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("meta")); return err })
	bdb.Close()
	if _, err := protect.Open(ctx, other, protect.DefaultConfig()); !errors.Is(err, protect.ErrNotDatabase) {
		t.Errorf("another application's bbolt file: %v", err)
	}

	// Damage a journal entry and a snapshot; each must stop Open.
	for _, bucket := range []string{"journal", "keys"} {
		path := filepath.Join(dir, bucket+".db")
		db, err := protect.Create(ctx, path, testGVR, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Register(ctx, key(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 3}); err != nil {
			t.Fatal(err)
		}
		if bucket == "keys" {
			if err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		flipLastByte(t, path, bucket)
		if _, err := protect.Open(ctx, path, protect.DefaultConfig()); !errors.Is(err, protect.ErrCorrupt) {
			t.Errorf("damaged %s: %v", bucket, err)
		}
	}
}

// flipLastByte damages one byte of the last value in a bucket.
func flipLastByte(t *testing.T, path, bucket string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		k, v := b.Cursor().Last()
		if k == nil {
			return errors.New("empty bucket")
		}
		v = bytes.Clone(v)
		v[len(v)/2] ^= 0x40
		return b.Put(bytes.Clone(k), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := protect.Create(ctx, path, testGVR, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 99))
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protect.Open(ctx, path, protect.DefaultConfig()); !errors.Is(err, protect.ErrSchemaVersion) {
		t.Fatalf("got %v", err)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*protect.Config)
	}{
		{"HistoryEpochs", func(c *protect.Config) { c.HistoryEpochs = 0 }},
		{"SlotsPerEpoch", func(c *protect.Config) { c.SlotsPerEpoch = 0 }},
		{"LockTimeout", func(c *protect.Config) { c.LockTimeout = 0 }},
		{"CheckpointInterval", func(c *protect.Config) { c.CheckpointInterval = -1 }},
	} {
		c := protect.DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "Config."+tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
		if _, err := protect.Create(context.Background(), filepath.Join(t.TempDir(), "p.db"), testGVR, c); err == nil {
			t.Errorf("%s: Create accepted an invalid config", tc.field)
		}
	}
	if err := protect.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDisableStopsPermitsAndEnableRestoresThem(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Disable(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	// Not even an exact repeat passes a disabled key.
	if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 1, Target: 2, SigningRoot: root(1)}); !errors.Is(err, protect.ErrDisabled) {
		t.Fatalf("got %v", err)
	}
	// Registering again does not re-enable.
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 1}); !errors.Is(err, protect.ErrDisabled) {
		t.Fatalf("after Register: %v", err)
	}
	ic, err := db.Export(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(ic.Data) != 1 || len(ic.Data[0].SignedAttestations) != 1 {
		t.Fatalf("export of a disabled key: %+v", ic.Data)
	}
	if err := db.Enable(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: 2, Target: 3, SigningRoot: root(1)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Disable(ctx, key(7)); !errors.Is(err, protect.ErrUnknownKey) {
		t.Fatalf("disable unknown: %v", err)
	}
	if err := db.Enable(ctx, key(7)); !errors.Is(err, protect.ErrUnknownKey) {
		t.Fatalf("enable unknown: %v", err)
	}
}

func TestClosedDatabaseRefusesEverything(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["ApproveBlock"] = db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 1})
	_, checks["ApproveAttestations"] = db.ApproveAttestations(ctx, testGVR, []protect.AttestationRequest{{Key: key(1)}})
	checks["Register"] = db.Register(ctx, key(2))
	checks["Disable"] = db.Disable(ctx, key(1))
	checks["Enable"] = db.Enable(ctx, key(1))
	checks["Checkpoint"] = db.Checkpoint(ctx)
	checks["Run"] = db.Run(ctx)
	_, checks["Import"] = db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: testGVR})
	_, checks["Export"] = db.Export(ctx)
	for name, err := range checks {
		if !errors.Is(err, protect.ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func TestCancelledContextGetsNoPermit(t *testing.T) {
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(context.Background(), key(1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 1})
	if !errors.Is(err, context.Canceled) || p.Valid() {
		t.Fatalf("got %v, permit valid %v", err, p.Valid())
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	cfg := testConfig()
	cfg.CheckpointInterval = time.Millisecond
	db := createDB(t, testGVR, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- db.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestPermitSignsExactlyThePermittedRoot(t *testing.T) {
	ctx := context.Background()
	share, err := bls.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	p, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 9, SigningRoot: root(4)})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := p.Sign(share)
	if err != nil {
		t.Fatal(err)
	}
	if !share.PublicKey().Verify(root(4), sig) {
		t.Fatal("signature does not verify over the permitted root")
	}
	if _, err := p.Sign(nil); err == nil {
		t.Fatal("signed without a share")
	}
}

func TestPruningFoldsHistoryIntoWatermarks(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.HistoryEpochs = 2
	cfg.SlotsPerEpoch = 1
	db := createDB(t, testGVR, cfg)
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	for e := uint64(1); e <= 10; e++ {
		if _, err := db.ApproveAttestation(ctx, testGVR, key(1), protect.Attestation{Source: e - 1, Target: e, SigningRoot: root(int(e))}); err != nil {
			t.Fatal(err)
		}
	}
	// Only 9->10 and 8->9 are kept; 7->8 and older are folded into the
	// watermarks (source 7, target 8), which refuse everything they did.
	for _, tc := range []struct {
		a    protect.Attestation
		want error
	}{
		{protect.Attestation{Source: 8, Target: 9, SigningRoot: root(9)}, nil},                       // kept: exact repeat
		{protect.Attestation{Source: 7, Target: 8, SigningRoot: root(8)}, protect.ErrBelowWatermark}, // pruned repeat
		{protect.Attestation{Source: 6, Target: 11}, protect.ErrBelowWatermark},                      // would surround 7->8
		{protect.Attestation{Source: 7, Target: 11}, protect.ErrSurroundVote},                        // surrounds 8->9
	} {
		_, err := db.ApproveAttestation(ctx, testGVR, key(1), tc.a)
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%+v: got %v, want %v", tc.a, err, tc.want)
		}
	}
	ic, err := db.Export(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	got := ic.Data[0].SignedAttestations
	want := []protect.SignedAttestation{
		{SourceEpoch: 7, TargetEpoch: 8},
		{SourceEpoch: 8, TargetEpoch: 9, SigningRoot: root(9), HasSigningRoot: true},
		{SourceEpoch: 9, TargetEpoch: 10, SigningRoot: root(10), HasSigningRoot: true},
	}
	if len(got) != len(want) {
		t.Fatalf("export %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("export[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestImportReportsPerValidatorAndChangesNothingForAnotherNetwork(t *testing.T) {
	ctx := context.Background()
	db := createDB(t, testGVR, testConfig())
	if err := db.Register(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveBlock(ctx, testGVR, key(1), protect.Block{Slot: 5, SigningRoot: root(1)}); err != nil {
		t.Fatal(err)
	}
	before := mustExport(t, db)
	wrong := &protect.Interchange{GenesisValidatorsRoot: protect.Root{1}, Data: []protect.InterchangeValidator{{PublicKey: key(2)}}}
	if _, err := db.Import(ctx, wrong); !errors.Is(err, protect.ErrWrongNetwork) {
		t.Fatalf("wrong network: %v", err)
	}
	if after := mustExport(t, db); !bytes.Equal(before, after) {
		t.Fatal("a refused import changed the database")
	}

	res, err := db.Import(ctx, &protect.Interchange{GenesisValidatorsRoot: testGVR, Data: []protect.InterchangeValidator{
		{PublicKey: key(1), SignedBlocks: []protect.SignedBlock{{Slot: 5}, {Slot: 9}}},
		{PublicKey: key(2), SignedAttestations: []protect.SignedAttestation{{SourceEpoch: 1, TargetEpoch: 2}}},
		{PublicKey: key(1), SignedBlocks: []protect.SignedBlock{{Slot: 11}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []protect.ImportResult{
		{Key: key(1), Blocks: 3, Conflicts: 1}, // slot 5 without root conflicts with the signed one
		{Key: key(2), New: true, Attestations: 1},
	}
	if len(res) != len(want) || res[0] != want[0] || res[1] != want[1] {
		t.Fatalf("results %+v, want %+v", res, want)
	}
	if _, err := db.ApproveAttestation(ctx, testGVR, key(2), protect.Attestation{Source: 2, Target: 3}); err != nil {
		t.Fatalf("imported key cannot sign: %v", err)
	}
	if _, err := db.Export(ctx, key(3)); !errors.Is(err, protect.ErrUnknownKey) {
		t.Fatalf("export of unknown key: %v", err)
	}
}

func TestRunCheckpointsAGrownJournal(t *testing.T) {
	cfg := testConfig()
	cfg.CheckpointInterval = time.Millisecond
	db := createDB(t, testGVR, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// About 14 MiB of journal: past the 8 MiB a checkpoint waits for.
	reqs := make([]protect.AttestationRequest, 90_000)
	keys := make([]protect.PublicKey, len(reqs))
	for i := range reqs {
		keys[i] = benchKey(i)
		reqs[i] = protect.AttestationRequest{Key: keys[i], Attestation: protect.Attestation{Source: 1, Target: 2}}
	}
	if err := db.Register(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApproveAttestations(ctx, testGVR, reqs); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- db.Run(runCtx) }()
	for db.Stats().Checkpoints == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.Checkpoints == 0 || s.JournalBytes != 0 || s.Keys != len(keys) {
		t.Fatalf("stats after Run: %+v", s)
	}
}

func TestLargeCommitSpansSeveralJournalEntriesAndReplays(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := protect.Create(ctx, path, testGVR, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// About 10 MiB in one commit: more than two 4 MiB journal entries.
	ic := &protect.Interchange{GenesisValidatorsRoot: testGVR}
	for i := range 30_000 {
		ic.Data = append(ic.Data, protect.InterchangeValidator{
			PublicKey:          benchKey(i),
			SignedBlocks:       []protect.SignedBlock{{Slot: uint64(i)}},
			SignedAttestations: []protect.SignedAttestation{{SourceEpoch: 1, TargetEpoch: 2, SigningRoot: benchRoot(i, 2), HasSigningRoot: true}},
		})
	}
	if _, err := db.Import(ctx, ic); err != nil {
		t.Fatal(err)
	}
	before := mustExport(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = protect.Open(ctx, path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if after := mustExport(t, db); !bytes.Equal(before, after) {
		t.Fatal("history changed across reopen")
	}
}

// TestEnableManyKeysAtOnce: Enable takes many keys in one durable commit
// (a ceremony's activation), which outlives a reopen; an unknown key
// fails the call before any key is enabled; enabling keys that are not
// disabled writes nothing.
func TestEnableManyKeysAtOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slashing.db")
	db, err := protect.Create(ctx, path, testGVR, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	var keys []protect.PublicKey
	for i := range 300 {
		keys = append(keys, key(100+i))
	}
	if err := db.Register(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if err := db.Enable(ctx, keys...); err != nil {
		t.Fatalf("enabling keys that are not disabled: %v", err)
	}
	for _, k := range keys {
		if err := db.Disable(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Enable(ctx, append(keys[:10:10], key(7))...); !errors.Is(err, protect.ErrUnknownKey) {
		t.Fatalf("with an unknown key: %v", err)
	}
	if db.Disabled(keys[0]) == false {
		t.Fatal("a call that failed enabled a key")
	}
	if err := db.Enable(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = protect.Open(ctx, path, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, k := range keys {
		if db.Disabled(k) {
			t.Fatalf("%v disabled after the reopen", k)
		}
	}
}
