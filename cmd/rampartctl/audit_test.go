package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/audit"
)

func TestAuditVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _, err := audit.Open(path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Append(audit.Record{Kind: audit.KindPartial, Type: "ATTESTATION", PublicKey: "0xaa", SigningRoot: "0x01", Client: "vc"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if code, out, errOut := run(t, "audit", "verify", path); code != 0 || !strings.Contains(out, "3 records, chain intact") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(raw), `"client":"vc"`, `"client":"vx"`, 1)), 0o600)
	if code, _, errOut := run(t, "audit", "verify", path); code != 1 || !strings.Contains(errOut, "chain broken at record 1") {
		t.Fatalf("tampered log: exit %d: %s", code, errOut)
	}
}
