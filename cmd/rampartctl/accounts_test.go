package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
)

func TestAdminTokenWritesTheTokenAndPrintsItsVerifier(t *testing.T) {
	out := filepath.Join(t.TempDir(), "admin.token")
	code, stdout, stderr := run(t, "admin", "token", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	tok, err := adminapi.LoadToken("file:"+out, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(stdout) != tok.Verifier() || !strings.HasPrefix(stdout, "sha256:") {
		t.Fatalf("printed %q, the token's verifier is %q", stdout, tok.Verifier())
	}
	if strings.Contains(stdout+stderr, tok.Hex()) {
		t.Fatal("the token was printed")
	}
	if code, _, stderr := run(t, "admin", "token", "--out", out); code == 0 || !strings.Contains(stderr, "exists") {
		t.Fatalf("overwrote the token file: exit %d %s", code, stderr)
	}
}

func TestAccountsRemovedAndRestore(t *testing.T) {
	lc := startCluster(t, 3)
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	peers, release, err := lc.File.AdminClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var admins []adminapi.AccountAdmin
	for _, p := range peers {
		admins = append(admins, p)
	}
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	im := &adminapi.Importer{Admins: admins, Threshold: 2, Network: network.Mainnet(), Rand: rand.Reader}
	pubs, err := im.Import(context.Background(), []adminapi.ImportKey{{Secret: sk}})
	if err != nil {
		t.Fatal(err)
	}
	key := pubs[0]
	if code, stdout, stderr := run(t, "accounts", "removed", "--cluster", clusterFile); code != 0 || strings.Contains(stdout, key.String()) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, p := range peers {
		if _, removed, err := p.Remove(context.Background(), key); err != nil || !removed {
			t.Fatalf("participant %s: %v %v", p.ID(), removed, err)
		}
	}
	code, stdout, stderr := run(t, "accounts", "removed", "--cluster", clusterFile)
	if code != 0 || strings.Count(stdout, key.String()) != 3 || !strings.Contains(stdout, "admin") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "accounts", "restore", "--cluster", clusterFile, key.String())
	if code != 0 || !strings.Contains(stdout, "restored at 3 of 3 signers") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "accounts", "restore", "--cluster", clusterFile, key.String())
	if code != 0 || !strings.Contains(stdout, "restored at 0 of 3 signers") || !strings.Contains(stdout, "nothing to restore") {
		t.Fatalf("second restore: exit %d\n%s", code, stdout)
	}
	// Restored everywhere: the proof of possession recovers the key's
	// signature again.
	if sigs, err := peers[0].Prove(context.Background(), []api.PublicKey{key}); err != nil || len(sigs) != 1 {
		t.Fatalf("restored account: %v", err)
	}
	if code, _, stderr := run(t, "accounts", "restore", "--cluster", clusterFile, "0x1234"); code != 2 || !strings.Contains(stderr, "KEY") {
		t.Fatalf("malformed key: exit %d %s", code, stderr)
	}
}
