package appliance

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
)

func TestPendingStoreRecordsSurviveAReload(t *testing.T) {
	dir := t.TempDir()
	s := newPendingStore(dir)
	k1, k2 := api.PublicKey{1}, api.PublicKey{2}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	x := adminapi.Actor{Client: "signer-2", OnBehalfOf: "admin"}
	a, err := s.add(k1, []byte("sealed-1"), x, t0, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The same key removed twice at the same instant keeps both records.
	b, err := s.add(k1, []byte("sealed-1b"), x, t0, 24*time.Hour)
	if err != nil || b.ID == a.ID {
		t.Fatalf("second record %+v %v", b, err)
	}
	if _, err := s.add(k2, []byte("sealed-2"), adminapi.Actor{Client: "admin"}, t0.Add(time.Hour), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	// A torn temporary file and a record that does not parse.
	os.WriteFile(filepath.Join(dir, "x"+files.PendingExt+".tmp"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad"+files.PendingExt), []byte("{"), 0o600)

	r := newPendingStore(dir)
	bad, err := r.load()
	if err != nil || len(bad) != 1 {
		t.Fatalf("load: %v %v", bad, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x"+files.PendingExt+".tmp")); !os.IsNotExist(err) {
		t.Error("a temporary record file was kept")
	}
	l := r.list()
	if len(l) != 3 || l[0].PublicKey != k1 || l[2].PublicKey != k2 || l[0].OnBehalfOf != "admin" || !l[0].Due.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("list %+v", l)
	}
	if name, ok := r.holding(k1, []byte("sealed-1b")); !ok || name != b.ID+files.PendingExt {
		t.Fatalf("holding: %q %v", name, ok)
	}
	if _, ok := r.holding(k2, []byte("sealed-1")); ok {
		t.Fatal("holding matched another key's share")
	}
	if due := r.due(t0.Add(24*time.Hour + 30*time.Minute)); len(due) != 2 {
		t.Fatalf("due %+v", due)
	}
	if next, ok := r.next(); !ok || !next.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("next %v %v", next, ok)
	}
	for _, pd := range r.of(k1) {
		if err := r.drop(pd.ID + files.PendingExt); err != nil {
			t.Fatal(err)
		}
	}
	if r.len() != 1 {
		t.Fatalf("%d records after dropping k1's", r.len())
	}
}
