package appliance

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/protect"
)

// TestDBCheckSeesAClosedDatabase proves checkDB (quorum.go): a database
// that takes writes passes, with the probe's anchor durable; a closed one
// (or one whose writes failed, which refuses everything the same way)
// makes the slashing_db check DOWN, where before only the next signing
// request found out.
func TestDBCheckSeesAClosedDatabase(t *testing.T) {
	ctx := t.Context()
	db, err := protect.Create(ctx, filepath.Join(t.TempDir(), "slashing.db"), protect.Root{1}, dbConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := &Appliance{db: db, cfg: &Config{Storage: StorageConfig{CheckInterval: time.Minute}}, now: time.Now, health: newHealthState()}
	if err := a.checkDB(ctx); err != nil {
		t.Fatalf("open database: %v", err)
	}
	if _, ok := db.Anchor(dbProbeAnchor); !ok {
		t.Fatal("the probe's write is not durable")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = a.checkDB(ctx)
	if !errors.Is(err, protect.ErrClosed) || !strings.Contains(err.Error(), "slashing database") {
		t.Fatalf("closed database: got %v; want protect.ErrClosed, named", err)
	}
	a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	a.setDBHealth(ctx)
	if r, ok := a.health.report(); ok || r.Checks["slashing_db"].Status != "DOWN" {
		t.Fatalf("health with the database closed: %+v", r)
	}
}

func dbConfig() protect.Config {
	c := protect.DefaultConfig()
	c.Limit = protect.NoLimit
	return c
}
