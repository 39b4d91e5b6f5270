package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/clitest"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// startCluster provisions n signers for mainnet with a gateway-1 client
// identity, deals validators and runs the signers in this process.
func startCluster(t *testing.T, n, threshold, validators int) (*localcluster.Cluster, []api.PublicKey) {
	t.Helper()
	t.Setenv("SOFTHSM2_CONF", "")
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(t.TempDir(), "cluster"), Signers: n, Threshold: threshold,
		Network: appliance.NetworkConfig{Name: "mainnet"}, Clients: []string{"gateway-1"}, Hardening: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := localcluster.Deal(context.Background(), lc.Configs(), validators, threshold, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := lc.RunAll(func(*localcluster.Signer) appliance.Options {
		return appliance.Options{Logger: slog.New(slog.DiscardHandler)}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return lc, keys
}

func buildGateway(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir, "github.com/rampart-signer/rampart/cmd/rampart-gateway")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rampart-gateway: %v\n%s", err, out)
	}
	return filepath.Join(dir, "rampart-gateway")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestGatewayProcessServesAUnixSocket runs the rampart-gateway binary
// against three real signers: it checks its configuration, serves the
// Remote Signing API on a unix socket with the configured mode, signs
// through the cluster, reports health and metrics on its operations
// listener, and stops cleanly on SIGTERM, removing its socket.
func TestGatewayProcessServesAUnixSocket(t *testing.T) {
	bin := buildGateway(t)
	lc, keys := startCluster(t, 3, 2, 2)
	cl := lc.Client("gateway-1")
	sockDir, err := os.MkdirTemp("", "gw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "api.sock")
	ops := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	cfg := fmt.Sprintf("cluster:\n  file: %s\n  certificate: %s\n  key: %s\nlisten:\n  api: \"unix:%s\"\n  socket_mode: \"0660\"\n  operations: %q\nhealth:\n  interval: 1s\n",
		filepath.Join(lc.Dir, "cluster.yaml"), cl.CertPath, cl.KeyPath, sock, ops)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(bin, "--config", cfgPath, "--check-config").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration is valid (network mainnet, 3 signers, API on unix:"+sock+")") {
		t.Fatalf("--check-config: %v\n%s", err, out)
	}

	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	opsURL := "http://" + ops
	waitFor(t, exited, &logs, func() bool {
		resp, err := http.Get(opsURL + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	st, err := os.Stat(sock)
	if err != nil || st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v %v; want mode 0660", st.Mode(), err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://gateway/api/v1/eth2/publicKeys")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed) != len(keys) {
		t.Fatalf("publicKeys: %v %v", listed, err)
	}

	n, _ := network.Builtin("mainnet")
	epoch := uint64(400000)
	f := n.ForkAtEpoch(phase0.Epoch(epoch))
	req := map[string]any{"type": "RANDAO_REVEAL", "randao_reveal": map[string]any{"epoch": fmt.Sprint(epoch)}, "fork_info": map[string]any{
		"fork":                    map[string]any{"previous_version": "0x" + hex.EncodeToString(f.PreviousVersion[:]), "current_version": "0x" + hex.EncodeToString(f.Version[:]), "epoch": fmt.Sprint(uint64(f.Epoch))},
		"genesis_validators_root": n.GenesisValidatorsRoot().String(),
	}}
	body, _ := json.Marshal(req)
	resp, err = client.Post("http://gateway/api/v1/eth2/sign/"+keys[1].String(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sr, err := api.DecodeSigningResponse(data)
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("sign: %d %s", resp.StatusCode, data)
	}
	parsed, _ := signing.ParseRequest(body)
	sg, err := parsed.Verify(n)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := bls.PublicKeyFromBytes(keys[1][:])
	sig, _ := bls.SignatureFromBytes(sr.Signature[:])
	if !pk.Verify(sg.SigningRoot, sig) {
		t.Fatal("signature does not verify under the validator key")
	}

	resp, err = http.Get(opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`rampart_gateway_requests_total{code="200",endpoint="sign",type="RANDAO_REVEAL"} 1`,
		`rampart_gateway_signer_up{participant="3"} 1`,
		`rampart_gateway_healthy 1`,
		`rampart_coordinator_recoveries_total{result="ok"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after SIGTERM\n%s", logs.String())
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after a clean stop: %v", err)
	}
}

// waitFor polls ready until it holds, failing if the process exits first
// or after a minute.
func waitFor(t *testing.T, exited <-chan error, logs *bytes.Buffer, ready func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("rampart-gateway exited: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("rampart-gateway not healthy after a minute\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestGatewayConfigErrorExits2: the unit does not restart a gateway whose
// configuration is wrong (RestartPreventExitStatus=2), and the error names
// the field.
func TestGatewayConfigErrorExits2(t *testing.T) {
	bin := buildGateway(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte("cluster: {file: /nonexistent/cluster.yaml}\nlisten: {api: \"0.0.0.0:9400\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config", path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "listen.api") {
		t.Fatalf("exit %v; want status 2 naming listen.api:\n%s", err, out)
	}
}

// TestFatalStartErrorIsTheLastJSONLogLine: a gateway logging JSON whose
// API address is taken ends with a "stopped" JSON line holding the error
// (issue 17: the fatal error was only printed as text).
func TestFatalStartErrorIsTheLastJSONLogLine(t *testing.T) {
	bin := buildGateway(t)
	t.Setenv("SOFTHSM2_CONF", "")
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(t.TempDir(), "cluster"), Signers: 1, Threshold: 1,
		Network: appliance.NetworkConfig{Name: "mainnet"}, Clients: []string{"gateway-1"}, Hardening: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	lc.CloseListeners()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cl := lc.Client("gateway-1")
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	cfg := fmt.Sprintf("cluster:\n  file: %s\n  certificate: %s\n  key: %s\nlisten:\n  api: %q\nlog:\n  level: info\n  format: json\n",
		filepath.Join(lc.Dir, "cluster.yaml"), cl.CertPath, cl.KeyPath, taken.Addr().String())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v; want status 1:\n%s", err, stderr.String())
	}
	clitest.StoppedWithError(t, stderr.String(), "address already in use")
}
