package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	rdevnet "github.com/rampart-signer/rampart/appliance/devnet"
	"github.com/rampart-signer/rampart/e2e/devnet"
	"github.com/rampart-signer/rampart/internal/network"
)

// StackOptions shape an end-to-end stack.
type StackOptions struct {
	// Signers and Threshold of the Rampart cluster (5 and 3 by default).
	Signers, Threshold int
	// PrysmExternalSigner runs Prysm's validator client with no key,
	// signing through a rampart-gateway on this host, which asks the
	// signers directly over mutual TLS.
	PrysmExternalSigner bool
}

// Stack is a devnet with a Rampart cluster holding its validators.
type Stack struct {
	T          *testing.T
	Devnet     *devnet.Devnet
	Net        *network.Network
	Bin        string // rampart binaries
	ClusterDir string
	Cluster    *rdevnet.State
	File       *adminapi.ClusterFile
	// Gateway is the rampart-gateway of PrysmExternalSigner, nil without.
	Gateway *Gateway
}

// e2eBin returns the directory of the devnet binaries, or skips.
func e2eBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RAMPART_E2E_BIN")
	if bin == "" {
		t.Skip("RAMPART_E2E_BIN is not set; make e2e runs the end-to-end tests")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// buildRampart compiles the four binaries once per test binary run.
func buildRampart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("rampart-e2e-bin-%d", os.Getpid()))
	if _, err := os.Stat(filepath.Join(dir, "rampart-gateway")); err == nil {
		return dir
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/rampart-signer/rampart/cmd/rampart-signer",
		"github.com/rampart-signer/rampart/cmd/rampartctl", "github.com/rampart-signer/rampart/cmd/rampart-vc",
		"github.com/rampart-signer/rampart/cmd/rampart-gateway")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building rampart: %v\n%s", err, out)
	}
	return dir
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeBasePort finds eleven consecutive free ports for a devnet.
func freeBasePort(t *testing.T) int {
	t.Helper()
	base, err := devnet.FreeBasePort()
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// NewStack prepares the devnet, brings up the Rampart cluster with the
// interop validators imported from their keystores, and starts geth and
// the beacon node (and, when asked, rampart-gateway and Prysm's validator
// client signing through it).
func NewStack(t *testing.T, ctx context.Context, o StackOptions) *Stack {
	t.Helper()
	bin := e2eBin(t)
	if o.Signers == 0 {
		o.Signers, o.Threshold = 5, 3
	}
	s := &Stack{T: t, Bin: buildRampart(t)}
	gatewayAPI := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg := devnet.DefaultConfig()
	cfg.Dir = filepath.Join(t.TempDir(), "devnet")
	cfg.BinDir = bin
	cfg.Ports = devnet.DefaultPorts(freeBasePort(t))
	cfg.Slasher = true
	if o.PrysmExternalSigner {
		cfg.PrysmValidator = true
		cfg.ExternalSigner = "http://" + gatewayAPI
	}
	d, err := devnet.Prepare(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Devnet = d
	if s.Net, err = d.Network(); err != nil {
		t.Fatal(err)
	}
	s.ClusterDir = filepath.Join(t.TempDir(), "cluster")
	t.Cleanup(s.stop)
	s.rampartctl(ctx, "devnet", "up", "--dir", s.ClusterDir,
		"--signers", strconv.Itoa(o.Signers), "--threshold", strconv.Itoa(o.Threshold), "--accept-low-safety",
		"--keystores", d.KeystoreDir(), "--password-file", d.KeystorePasswordFile(),
		"--network-config", d.NetworkConfigFile(), "--genesis-validators-root", s.Net.GenesisValidatorsRoot().String())
	if s.Cluster, err = rdevnet.Load(s.ClusterDir); err != nil {
		t.Fatal(err)
	}
	if s.File, err = s.Cluster.ClusterFile(); err != nil {
		t.Fatal(err)
	}
	if len(s.File.Accounts) != cfg.Validators {
		t.Fatalf("the cluster holds %d accounts, want the %d interop validators", len(s.File.Accounts), cfg.Validators)
	}
	if o.PrysmExternalSigner {
		s.Gateway = s.StartGateway(ctx, gatewayAPI)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// rampartctl runs the built rampartctl and fails the test on error.
func (s *Stack) rampartctl(ctx context.Context, args ...string) string {
	s.T.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "rampartctl"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.T.Fatalf("rampartctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *Stack) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if s.Devnet != nil {
		if err := s.Devnet.Stop(ctx); err != nil {
			s.T.Errorf("stopping the devnet: %v", err)
		}
	}
	if s.Cluster != nil {
		if err := s.Cluster.Down(ctx); err != nil {
			s.T.Errorf("stopping the cluster: %v", err)
		}
	}
	if s.T.Failed() && s.Devnet != nil {
		for _, p := range []string{"beacon-chain", "validator"} {
			if data, err := os.ReadFile(s.Devnet.LogFile(p)); err == nil {
				s.T.Logf("--- %s log (tail) ---\n%s", p, tail(string(data), 3000))
			}
		}
		if s.Cluster != nil {
			for _, sg := range s.Cluster.Signers {
				if data, err := os.ReadFile(sg.LogPath); err == nil {
					s.T.Logf("--- signer %d log (tail) ---\n%s", sg.ID, tail(string(data), 2000))
				}
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// beaconGet decodes a beacon API answer's data field.
func (s *Stack) beaconGet(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Devnet.BeaconAPI()+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}

// Finalized returns the finalised epoch.
func (s *Stack) Finalized(ctx context.Context) (uint64, error) {
	var fc struct {
		Finalized struct {
			Epoch string `json:"epoch"`
		} `json:"finalized"`
	}
	if err := s.beaconGet(ctx, "/eth/v1/beacon/states/head/finality_checkpoints", &fc); err != nil {
		return 0, err
	}
	return strconv.ParseUint(fc.Finalized.Epoch, 10, 64)
}

// WaitFinalized waits until the chain finalises epoch, or fails.
func (s *Stack) WaitFinalized(ctx context.Context, epoch uint64) {
	s.T.Helper()
	start := time.Now()
	for {
		e, err := s.Finalized(ctx)
		if err == nil && e >= epoch {
			s.T.Logf("finalised epoch %d after %s", e, time.Since(start).Round(time.Second))
			return
		}
		select {
		case <-ctx.Done():
			s.T.Fatalf("the chain did not finalise epoch %d: last %d, %v", epoch, e, err)
		case <-time.After(3 * time.Second):
		}
	}
}

// Slashings returns the number of slashings in the beacon node's pools.
func (s *Stack) Slashings(ctx context.Context) (int, error) {
	var att, prop []json.RawMessage
	if err := s.beaconGet(ctx, "/eth/v2/beacon/pool/attester_slashings", &att); err != nil {
		if err := s.beaconGet(ctx, "/eth/v1/beacon/pool/attester_slashings", &att); err != nil {
			return 0, err
		}
	}
	if err := s.beaconGet(ctx, "/eth/v1/beacon/pool/proposer_slashings", &prop); err != nil {
		return 0, err
	}
	return len(att) + len(prop), nil
}

// AuditCounts counts the signatures of kind ("partial" or "full") that
// signer i released, by request type, after checking the log's chain and
// anchor with rampartctl audit verify (through the running signer's
// operations listener, or its database when it is stopped). A line of a
// batch counts once per key it names.
func (s *Stack) AuditCounts(i int, kind string) map[string]int {
	s.T.Helper()
	dir := filepath.Join(s.ClusterDir, fmt.Sprintf("signer-%d", i))
	s.rampartctl(context.Background(), "audit", "verify", "--config", filepath.Join(dir, "signer.yaml"))
	files, err := filepath.Glob(filepath.Join(dir, "data", "audit", "audit-*.log"))
	if err != nil || len(files) == 0 {
		s.T.Fatalf("signer %d: no audit log files in %s: %v", i, filepath.Join(dir, "data", "audit"), err)
	}
	counts := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			s.T.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r struct {
				Kind       string   `json:"kind"`
				Type       string   `json:"type"`
				PublicKeys []string `json:"public_keys"`
			}
			if json.Unmarshal([]byte(line), &r) == nil && r.Kind == kind {
				counts[r.Type] += max(1, len(r.PublicKeys))
			}
		}
	}
	return counts
}
