package protect_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

// testConfig is the default configuration without fsync: these tests are
// about decisions, not power cuts, and run hundreds of databases.
func testConfig() protect.Config {
	c := protect.DefaultConfig()
	c.UnsafeNoSync = true
	c.Limit = protect.NoLimit
	return c
}

func createDB(t testing.TB, gvr protect.Root, cfg protect.Config) *protect.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "protect.db")
	db, err := protect.Create(context.Background(), path, gvr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// key returns a distinct made-up public key for n.
func key(n int) protect.PublicKey {
	var k protect.PublicKey
	k[0] = 0xa0
	copy(k[1:], strconv.Itoa(n))
	k[47] = byte(n)
	return k
}

func root(n int) protect.Root {
	var r protect.Root
	copy(r[:], strconv.Itoa(n))
	r[31] = 1
	return r
}

// seed returns the seed for a randomised test from RAMPART_PROTECT_SEED, or
// def, and logs it so any failure can be replayed.
func seed(t testing.TB, def int64) int64 {
	t.Helper()
	s := def
	if v := os.Getenv("RAMPART_PROTECT_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("RAMPART_PROTECT_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with RAMPART_PROTECT_SEED=%d)", s, s)
	return s
}
