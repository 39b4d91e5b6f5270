package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
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
	up := func(pw string) (int, string, string) {
		return run(t, "devnet", "up", "--dir", dir, "--signers", "3", "--threshold", "2", "--accept-low-safety", "--keystores", ksDir, "--password-file", pw, "--network", "hoodi")
	}

	// An up that fails once its signers run (the import refuses a wrong
	// password) stops them and removes what it made, so that the same
	// command works when run again (issue 17: the retry failed "not
	// empty" beside orphaned signers).
	wrongPW := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongPW, []byte("not the password\n"), 0o600)
	code, out, errOut := up(wrongPW)
	if code == 0 || !strings.Contains(out, "its signers were stopped") {
		t.Fatalf("devnet up with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the failed up left %s behind: %v", dir, err)
	}
	if pids := processesUnder(t, dir); len(pids) > 0 {
		t.Fatalf("the failed up left signer processes running: %v", pids)
	}

	code, out, errOut = up(pwFile)
	st, _ := devnet.Load(dir)
	if st != nil {
		t.Cleanup(func() { st.Down(t.Context()) })
	}
	if code != 0 {
		t.Fatalf("devnet up: exit %d\n%s%s", code, out, errOut)
	}
	// up on an existing devnet names the command that starts it again,
	// and leaves it as it was.
	if code, _, errOut := up(pwFile); code != 1 || !strings.Contains(errOut, "start it again with rampartctl devnet start --dir") {
		t.Fatalf("devnet up on an existing devnet: exit %d %s", code, errOut)
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

// processesUnder lists the processes whose command line names a path
// under dir (a devnet's signers: --config dir/...).
func processesUnder(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || gone(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(dir+string(filepath.Separator))) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// statusLines runs devnet status and returns its exit code and the state
// column of each signer.
func statusLines(t *testing.T, dir string) (int, map[string]string, string) {
	t.Helper()
	code, out, _ := run(t, "devnet", "status", "--dir", dir)
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) == 4 {
			states[f[0]] = f[2] + " " + f[3]
		}
	}
	return code, states, out
}

// gone reports whether process pid has exited (or is a zombie).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(stat), ") Z ")
}

// TestDevnetStopsAndStartsOneSigner: devnet stop and start act on one
// signer process and keep the record true, so status shows a stopped or
// restarted signer as it is and down stops restarted ones too; a signer
// started by hand is shown as unrecorded, never doubled, and left alone;
// a stopped devnet starts again.
// upTestDevnet brings up a devnet of three signer processes, 2-of-3, with
// two validators dealt, on hoodi; it is brought down when the test ends.
// It returns the devnet's directory and state, its cluster file and a TLS
// configuration with the cluster file's client identity.
func upTestDevnet(t *testing.T) (string, *devnet.State, *adminapi.ClusterFile, *tls.Config) {
	t.Helper()
	buildSigner(t)
	t.Setenv("SOFTHSM2_CONF", "")
	dir := filepath.Join(t.TempDir(), "devnet")
	code, out, errOut := run(t, "devnet", "up", "--dir", dir, "--signers", "3", "--threshold", "2", "--accept-low-safety", "--validators", "2", "--dealer", "--network", "hoodi")
	st, _ := devnet.Load(dir)
	if st != nil {
		t.Cleanup(func() { st.Down(context.Background()) })
	}
	if code != 0 {
		t.Fatalf("devnet up: exit %d\n%s%s", code, out, errOut)
	}
	cf, err := st.ClusterFile()
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, closeFn, err := cf.TLSConfig(t.Context(), cf.Client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	return dir, st, cf, tlsCfg
}

// signerClient is an HTTP client for the signer whose certificate names
// name, with tlsCfg's client identity.
func signerClient(tlsCfg *tls.Config, name string) *http.Client {
	c := tlsCfg.Clone()
	c.ServerName = name
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 30 * time.Second}
}

// postAttestation posts an attestation of target epoch e (block root
// byte block) to url at the signer named name and returns the status.
func postAttestation(t *testing.T, tlsCfg *tls.Config, name, url string, n *network.Network, e uint64, block byte) int {
	t.Helper()
	req, _ := json.Marshal(attestation(n, e, block))
	resp, err := signerClient(tlsCfg, name).Post(url, "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestDevnetStopsAndStartsOneSigner(t *testing.T) {
	dir, st, cf, tlsCfg := upTestDevnet(t)
	n, _ := network.Builtin("hoodi")
	epoch := uint64(currentEpoch(n, time.Now()))
	// sign asks signer 1's coordinator for an attestation of target epoch
	// e and returns the status.
	sign := func(e uint64) int {
		t.Helper()
		return postAttestation(t, tlsCfg, cf.Participants[0].TLSName, cf.Participants[0].Coordinator+"/api/v1/eth2/sign/"+cf.Accounts[0], n, e, 0x42)
	}
	pid2 := st.Signers[1].PID

	if code, out, _ := run(t, "devnet", "stop", "--dir", dir, "--signer", "2"); code != 0 || !strings.Contains(out, "signer 2 stopped") {
		t.Fatalf("stop: %d %s", code, out)
	}
	if !gone(pid2) {
		t.Fatalf("signer 2's process %d still runs after stop", pid2)
	}
	code, states, out := statusLines(t, dir)
	if code != 1 || states["2"] != "stopped -" || states["1"] != "running healthy" || states["3"] != "running healthy" {
		t.Fatalf("status after stopping signer 2: exit %d\n%s", code, out)
	}
	if c := sign(epoch); c != http.StatusOK {
		t.Fatalf("signing with signer 2 stopped (2 of 3 left): %d", c)
	}
	if code, out, _ := run(t, "devnet", "stop", "--dir", dir, "--signer", "2"); code != 0 || !strings.Contains(out, "signer 2 was not running") {
		t.Fatalf("stopping a stopped signer: %d %s", code, out)
	}

	if code, out, errOut := run(t, "devnet", "start", "--dir", dir, "--signer", "2"); code != 0 || !strings.Contains(out, "signer 2 started") {
		t.Fatalf("start: %d %s%s", code, out, errOut)
	}
	if code, states, out := statusLines(t, dir); code != 0 || states["2"] != "running healthy" {
		t.Fatalf("status after starting signer 2 again: exit %d\n%s", code, out)
	}
	st, _ = devnet.Load(dir)
	restarted := st.Signers[1].PID
	if restarted == 0 || restarted == pid2 {
		t.Fatalf("signer 2 recorded as pid %d after the restart (was %d)", restarted, pid2)
	}
	if code, _, errOut := run(t, "devnet", "start", "--dir", dir, "--signer", "2"); code != 1 || !strings.Contains(errOut, "already runs") {
		t.Fatalf("starting a running signer: %d %s", code, errOut)
	}

	// Signer 3 stopped, then started by hand: it answers on its ports
	// without a record.
	if code, _, _ := run(t, "devnet", "stop", "--dir", dir, "--signer", "3"); code != 0 {
		t.Fatal("stop signer 3")
	}
	s3 := st.Signers[2]
	logf, err := os.OpenFile(s3.LogPath, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	hand := exec.Command(st.SignerBin, "--config", s3.ConfigPath)
	hand.Env = append(os.Environ(), "SOFTHSM2_CONF="+s3.SoftHSMConf)
	hand.Stdout, hand.Stderr = logf, logf
	if err := hand.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	handDone := make(chan error, 1)
	handExited := make(chan struct{})
	go func() { handDone <- hand.Wait(); close(handExited) }()
	t.Cleanup(func() { hand.Process.Kill(); <-handExited })
	for deadline := time.Now().Add(time.Minute); ; {
		if _, states, _ := statusLines(t, dir); states["3"] == "unrecorded healthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the signer started by hand never showed as unrecorded and healthy")
		}
		select {
		case err := <-handDone:
			t.Fatalf("signer started by hand exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if code, _, errOut := run(t, "devnet", "start", "--dir", dir, "--signer", "3"); code != 1 || !strings.Contains(errOut, "unrecorded process answers") {
		t.Fatalf("starting a second signer 3 beside the one started by hand: %d %s", code, errOut)
	}
	code, _, errOut := run(t, "devnet", "down", "--dir", dir)
	if code != 1 || !strings.Contains(errOut, "signer 3") || !strings.Contains(errOut, "leaves it running") {
		t.Fatalf("down with a signer started by hand: %d %s", code, errOut)
	}
	if !gone(restarted) {
		t.Fatalf("down left the restarted signer 2 (pid %d) running", restarted)
	}
	select {
	case err := <-handDone:
		t.Fatalf("down stopped the signer started by hand: %v", err)
	default:
	}
	hand.Process.Signal(syscall.SIGTERM)
	<-handDone

	// The devnet, stopped, starts again whole.
	code, out, errOut = run(t, "devnet", "start", "--dir", dir)
	if code != 0 || strings.Count(out, "started") != 3 {
		t.Fatalf("start of a stopped devnet: %d %s%s", code, out, errOut)
	}
	if code, states, out := statusLines(t, dir); code != 0 || states["1"] != "running healthy" || states["2"] != "running healthy" || states["3"] != "running healthy" {
		t.Fatalf("status after starting the devnet again: %d\n%s", code, out)
	}
	if c := sign(epoch + 1); c != http.StatusOK {
		t.Fatalf("signing after the devnet started again: %d", c)
	}
	st, _ = devnet.Load(dir)
	if code, _, errOut := run(t, "devnet", "down", "--dir", dir); code != 0 {
		t.Fatalf("down: %d %s", code, errOut)
	}
	for _, s := range st.Signers {
		if !gone(s.PID) {
			t.Errorf("signer %d (pid %d) still runs after down", s.ID, s.PID)
		}
	}
}

// TestDevnetReplaceThenRepair rehearses the loss of a server with its HSM
// on real signer processes: devnet replace gives signer 3 a new token (new
// sealing and TLS keys) and an empty disk, it starts holding nothing, and
// reshare repair gives it back the same shares (the same component keys)
// from the others, whose history it then holds: it refuses to sign before
// the repair's cutover.
func TestDevnetReplaceThenRepair(t *testing.T) {
	dir, _, cf, tlsCfg := upTestDevnet(t)
	// components lists signer 3's component key of each account, as its
	// participant listener answers (its certificate checked by name).
	components := func() map[api.PublicKey]api.PublicKey {
		t.Helper()
		resp, err := signerClient(tlsCfg, cf.Participants[2].TLSName).Get(cf.Participants[2].Endpoint + "/api/v1/eth2/distributed/accounts")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var as []api.Account
		if err := json.NewDecoder(resp.Body).Decode(&as); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("signer 3's accounts: %d %v", resp.StatusCode, err)
		}
		out := map[api.PublicKey]api.PublicKey{}
		for _, a := range as {
			out[a.CompositePublicKey] = a.PublicKey
		}
		return out
	}
	before := components()
	if len(before) != 2 {
		t.Fatalf("signer 3 holds %d accounts before, want 2", len(before))
	}
	// partial asks signer 3 alone for its partial signature of an
	// attestation of target epoch e for the second account.
	n, _ := network.Builtin("hoodi")
	partial := func(e uint64) int {
		t.Helper()
		return postAttestation(t, tlsCfg, cf.Participants[2].TLSName, cf.Participants[2].Endpoint+"/api/v1/eth2/distributed/sign/"+cf.Accounts[1], n, e, 0x43)
	}
	epoch := uint64(currentEpoch(n, time.Now()))
	if c := partial(epoch); c != http.StatusOK {
		t.Fatalf("signer 3's partial before the loss: %d", c)
	}
	certPath := filepath.Join(dir, "signer-3", "tls.pem")
	oldCert, _ := os.ReadFile(certPath)

	code, out, errOut := run(t, "devnet", "replace", "--dir", dir, "--signer", "3")
	if code != 0 || !strings.Contains(out, "signer 3 replaced") || !strings.Contains(out, "reshare repair --cluster") {
		t.Fatalf("devnet replace: exit %d\n%s%s", code, out, errOut)
	}
	if newCert, _ := os.ReadFile(certPath); bytes.Equal(newCert, oldCert) || len(newCert) == 0 {
		t.Fatal("the new server kept the old TLS certificate")
	}
	if got := components(); len(got) != 0 {
		t.Fatalf("the new server holds %d accounts before the repair", len(got))
	}
	if code, _, errOut := run(t, "devnet", "replace", "--dir", dir, "--signer", "9"); code == 0 || !strings.Contains(errOut, "signer 9") {
		t.Fatalf("replacing an unknown signer: exit %d %s", code, errOut)
	}

	code, out, errOut = run(t, "reshare", "repair", "--cluster", filepath.Join(dir, "cluster.yaml"), "--participant", "3", "--poll", "100ms")
	if code != 0 || !strings.Contains(out, "complete") {
		t.Fatalf("reshare repair: exit %d\n%s%s", code, out, errOut)
	}
	after := components()
	for k, c := range before {
		if after[k] != c {
			t.Errorf("account %s: component key %s after the repair, %s before", k, after[k], c)
		}
	}
	if len(after) != len(before) {
		t.Errorf("signer 3 holds %d accounts after the repair, want %d", len(after), len(before))
	}
	// The next epoch's vote, which the old server would have signed, is
	// refused: the repaired signer signs nothing before the cutover.
	if c := partial(epoch + 1); c != http.StatusPreconditionFailed {
		t.Fatalf("the repaired signer's partial before the cutover: %d, want 412", c)
	}
}
