package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/devnet"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// buildSigner compiles rampart-signer and puts it first on PATH, where
// devnet up finds it.
func buildSigner(t *testing.T) {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rampart-signer/rampart/cmd/rampart-signer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rampart-signer: %v\n%s", err, out)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
}

// TestDevnetImportsKeystoresIntoSignerProcesses runs real signer processes:
// keystores with known secrets are imported, the cluster's signatures equal
// the original keys', and down stops exactly the recorded processes.
func TestDevnetImportsKeystoresIntoSignerProcesses(t *testing.T) {
	buildSigner(t)
	t.Setenv("SOFTHSM2_CONF", "")
	ksDir := t.TempDir()
	pwFile := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pwFile, []byte("devnet password\n"), 0o600)
	var secrets []*bls.SecretKey
	opts := keystore.DefaultOptions()
	opts.ScryptN = 1 << 10
	for i := 0; i < 4; i++ {
		sk, _ := bls.GenerateSecretKey(rand.Reader)
		secrets = append(secrets, sk)
		ks, err := keystore.Encrypt(rand.Reader, sk, []byte("devnet password\n"), opts)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ks)
		os.WriteFile(filepath.Join(ksDir, "keystore-"+string(rune('a'+i))+".json"), b, 0o600)
	}
	dir := filepath.Join(os.Getenv("DEVNET_TEST_DIR"), "devnet")
	if os.Getenv("DEVNET_TEST_DIR") == "" {
		dir = filepath.Join(t.TempDir(), "devnet")
	}
	code, out, errOut := run(t, "devnet", "up", "--dir", dir, "--signers", "3", "--threshold", "2", "--keystores", ksDir, "--password-file", pwFile, "--network", "hoodi")
	st, _ := devnet.Load(dir)
	if st != nil {
		t.Cleanup(func() { st.Down(t.Context()) })
	}
	if code != 0 {
		t.Fatalf("devnet up: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := run(t, "devnet", "status", "--dir", dir); code != 0 || strings.Count(out, "healthy") != 3 {
		t.Fatalf("devnet status: %d\n%s", code, out)
	}
	cf, err := st.ClusterFile()
	if err != nil || len(cf.Accounts) != 4 {
		t.Fatalf("cluster file: %v %+v", err, cf)
	}
	tlsCfg, closeFn, err := cf.TLSConfig(t.Context(), cf.Client)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	tlsCfg.ServerName = cf.Participants[1].TLSName
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	n, _ := network.Builtin("hoodi")
	epoch := uint64(currentEpoch(n, time.Now()))
	req, _ := json.Marshal(attestation(n, epoch, 0x42))
	parsed, _ := signing.ParseRequest(req)
	sg, err := parsed.Verify(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, sk := range secrets {
		pub := api.PublicKey(sk.PublicKey().Bytes())
		resp, err := client.Post(cf.Participants[1].Coordinator+"/api/v1/eth2/sign/"+pub.String(), "application/json", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var sr api.SigningResponse
		if resp.StatusCode != 200 || json.Unmarshal(body, &sr) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if sr.Signature != api.Signature(sk.Sign(sg.SigningRoot).Bytes()) {
			t.Fatal("cluster signature differs from the original key's")
		}
	}
	pids := []int{}
	for _, s := range st.Signers {
		pids = append(pids, s.PID)
	}
	if code, out, errOut := run(t, "devnet", "down", "--dir", dir); code != 0 {
		t.Fatalf("devnet down: %d %s%s", code, out, errOut)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + itoa(pid)); err == nil {
			if stat, _ := os.ReadFile("/proc/" + itoa(pid) + "/stat"); !strings.Contains(string(stat), ") Z ") {
				t.Errorf("signer process %d still runs after down", pid)
			}
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
