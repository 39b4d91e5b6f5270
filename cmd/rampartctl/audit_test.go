package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/audit"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/protect"
)

// signerLog writes a log the way a signer does: anchored in a real
// slashing protection database, checkpointed by a SoftHSM sealing key when
// one is given. It returns the log directory and the database path.
func signerLog(t *testing.T, tagger audit.Tagger) (string, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "slashing-protection.db")
	db, err := protect.Create(ctx, dbPath, protect.Root{1}, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "audit")
	l, _, err := audit.Open(ctx, logDir, audit.Options{Anchors: db, Tagger: tagger, RotateBytes: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if err := l.Append(audit.Record{Kind: audit.KindPartial, Type: "ATTESTATION", PublicKey: "0xaa", SigningRoot: "0x01", Client: "vc"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return logDir, dbPath
}

func logFiles(t *testing.T, dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	sort.Strings(m)
	return m
}

func TestAuditVerify(t *testing.T) {
	dir, db := signerLog(t, nil)
	if code, out, errOut := run(t, "audit", "verify", "--slashing-db", db, dir); code != 0 || !strings.Contains(out, "anchor: record") || !strings.Contains(out, "matches") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	files := logFiles(t, dir)
	p := files[len(files)-1]
	raw, _ := os.ReadFile(p)
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte(strings.Replace(string(raw), `"client":"vc"`, `"client":"vx"`, 1)), 0o600)
	if code, _, errOut := run(t, "audit", "verify", "--slashing-db", db, dir); code != 1 || !strings.Contains(errOut, "chain broken at "+filepath.Base(p)) {
		t.Fatalf("tampered log: exit %d: %s", code, errOut)
	}
}

// TestAuditVerifyCatchesACutLog is the hole of 108c238: cutting records off
// the end, or emptying the file, still verified as "chain intact".
func TestAuditVerifyCatchesACutLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(string)
	}{
		{"refuses a log whose last records were cut off", func(p string) {
			raw, _ := os.ReadFile(p)
			ls := strings.SplitAfter(string(raw), "\n")
			os.WriteFile(p, []byte(strings.Join(ls[:len(ls)-3], "")), 0o600)
		}},
		{"refuses an emptied log", func(p string) { os.WriteFile(p, nil, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, db := signerLog(t, nil)
			files := logFiles(t, dir)
			p := files[len(files)-1]
			os.Chmod(p, 0o600)
			tc.cut(p)
			code, out, errOut := run(t, "audit", "verify", "--slashing-db", db, dir)
			if code != 1 || !strings.Contains(errOut, "log ends before its anchored record") {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
		})
	}
}

func TestAuditVerifyAnchorSources(t *testing.T) {
	dir, db := signerLog(t, nil)
	v, ok, err := protect.ReadAnchor(context.Background(), db, audit.AnchorName, protect.DefaultConfig())
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	a, _ := audit.ParseAnchor(string(v))
	// A running signer holds the database: verify says where else to look.
	held, err := protect.Open(context.Background(), db, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "audit", "verify", "--slashing-db", db, "--lock-timeout", "50ms", dir); code != 1 || !strings.Contains(errOut, "--anchor-url") {
		t.Fatalf("held database: exit %d: %s", code, errOut)
	}
	held.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"durable": a})
	}))
	defer srv.Close()
	if code, out, errOut := run(t, "audit", "verify", "--anchor-url", srv.URL+"/audit/anchor", dir); code != 0 || !strings.Contains(out, "matches") {
		t.Fatalf("--anchor-url: exit %d: %s%s", code, out, errOut)
	}
	ahead := audit.Anchor{Seq: a.Seq + 5, Head: a.Head}
	if code, _, errOut := run(t, "audit", "verify", "--anchor", ahead.String(), dir); code != 1 || !strings.Contains(errOut, "records "+seqText(a.Seq+1)+" to "+seqText(a.Seq+5)) {
		t.Fatalf("--anchor ahead: exit %d: %s", code, errOut)
	}
	if code, out, _ := run(t, "audit", "verify", "--no-anchor", dir); code != 0 || !strings.Contains(out, "not checked") {
		t.Fatalf("--no-anchor: exit %d: %s", code, out)
	}
	if code, _, _ := run(t, "audit", "verify", dir); code != 2 {
		t.Fatalf("no anchor source: exit %d, want a usage error", code)
	}
}

func seqText(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestAuditVerifyChecksCheckpointTags(t *testing.T) {
	env := softhsm.New(t, "signer-1", "signer-2")
	uri := objectURI(env.Tokens[0], "rampart-seal")
	u, _ := hsm.ParseURI(uri)
	tok, err := hsm.Open(context.Background(), u, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	k, err := tok.CreateSealingKey(context.Background(), u.ObjectRef())
	if err != nil {
		t.Fatal(err)
	}
	dir, db := signerLog(t, k)
	tok.Close()
	code, out, errOut := run(t, "audit", "verify", "--slashing-db", db, "--key", uri, dir)
	if code != 0 || !strings.Contains(out, "tagged by the HSM; records 1 to") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// The same log checked with another HSM's key: a rewrite whose tags an
	// intruder made with a key of their own looks exactly like this.
	other := objectURI(env.Tokens[1], "rampart-seal")
	ou, _ := hsm.ParseURI(other)
	otok, err := hsm.Open(context.Background(), ou, hsm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otok.CreateSealingKey(context.Background(), ou.ObjectRef()); err != nil {
		t.Fatal(err)
	}
	otok.Close()
	if code, _, errOut := run(t, "audit", "verify", "--no-anchor", "--key", other, dir); code != 1 || !strings.Contains(errOut, "checkpoint does not verify") {
		t.Fatalf("another key: exit %d: %s", code, errOut)
	}
}

func TestAuditAcknowledgeLoss(t *testing.T) {
	dir, db := signerLog(t, nil)
	files := logFiles(t, dir)
	os.Chmod(files[len(files)-1], 0o600)
	os.WriteFile(files[len(files)-1], nil, 0o600)
	// As docs/operations.md runs it: the signer's configuration names the
	// database (the shipped example, its database moved here).
	example, err := os.ReadFile("../../appliance/signer.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const exampleDB = "database: /var/lib/rampart-signer/slashing-protection.db"
	if !strings.Contains(string(example), exampleDB) {
		t.Fatalf("appliance/signer.example.yaml no longer says %q", exampleDB)
	}
	config := filepath.Join(t.TempDir(), "signer.yaml")
	if err := os.WriteFile(config, []byte(strings.Replace(string(example), exampleDB, "database: "+db, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "audit", "acknowledge-loss", "--config", config); code != 0 || !strings.Contains(out, "acknowledged the loss of audit records up to") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "audit", "acknowledge-loss", "--slashing-db", db); code != 1 || !strings.Contains(errOut, "already acknowledged") {
		t.Fatalf("second time: exit %d: %s", code, errOut)
	}
	// The next start notes the loss and anchors again.
	d, err := protect.Open(context.Background(), db, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	l, rec, err := audit.Open(context.Background(), dir, audit.Options{Anchors: d})
	if err != nil || rec.Reset == nil {
		t.Fatalf("start after acknowledging: %+v %v", rec, err)
	}
	l.Close()
	d.Close()
	if code, out, errOut := run(t, "audit", "verify", "--slashing-db", db, dir); code != 0 || !strings.Contains(out, "reset: record") {
		t.Fatalf("verify after the reset: exit %d: %s%s", code, out, errOut)
	}
}
