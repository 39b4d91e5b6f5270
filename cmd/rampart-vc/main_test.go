package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/cli"
	"github.com/rampart-signer/rampart/internal/clitest"
)

// The tests run this test binary as rampart-vc: with RAMPART_VC_MAIN set,
// TestMain runs main, exit status and all.
func TestMain(m *testing.M) { clitest.Main(m, "RAMPART_VC_MAIN", main) }

// vcSetup is a validator client whose TLS identity's key is in a SoftHSM
// token (a signer's, reused as the client identity of a test cluster).
type vcSetup struct {
	dir, config, pinFile, operations string
	spy                              *softhsm.Spy
	env                              []string
}

func provision(t *testing.T) *vcSetup {
	t.Helper()
	t.Setenv(softhsm.ConfigEnv, "")
	dir := t.TempDir()
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(dir, "cluster"), Signers: 1, Threshold: 1,
		Network: appliance.NetworkConfig{Name: "mainnet"}, Hardening: "off", SeparateHSMs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	lc.CloseListeners()
	s := lc.Signers[0]
	key, err := hsm.ParseURI(s.Config.TLS.Key)
	if err != nil {
		t.Fatal(err)
	}
	st := &vcSetup{dir: dir, pinFile: strings.TrimPrefix(key.PINSource, "file:"), env: []string{softhsm.ConfigEnv + "=" + s.SoftHSMConf}}
	if st.spy = softhsm.NewSpy(dir, key.ModulePath); st.spy != nil {
		st.env = append(st.env, st.spy.Env...)
		key.ModulePath = softhsm.SpyModule
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.operations = ln.Addr().String()
	ln.Close()
	st.config = filepath.Join(dir, "vc.yaml")
	cfg := fmt.Sprintf(`cluster:
  file: %s
  certificate: %s
  key: %q
beacon_nodes:
  - name: bn-1
    url: http://127.0.0.1:1
accounts: all
fee_recipient: "0x5241d0000000000000000000000000000000d0fe"
listen:
  operations: %q
`, filepath.Join(lc.Dir, "cluster.yaml"), s.Config.TLS.Certificate, key.Encode(), st.operations)
	if err := os.WriteFile(st.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return st
}

func (st *vcSetup) run(t *testing.T) (int, string) {
	t.Helper()
	return clitest.Run(t, "RAMPART_VC_MAIN", st.env, "--config", st.config)
}

func (st *vcSetup) logins(t *testing.T) int {
	t.Helper()
	n, err := st.spy.Logins()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWrongPINStopsTheClientForGood: a wrong PIN for the client's TLS key
// exits with status 2 (the unit does not restart it) after exactly one
// login attempt.
func TestWrongPINStopsTheClientForGood(t *testing.T) {
	st := provision(t)
	if err := os.WriteFile(st.pinFile, []byte("not-the-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := st.run(t)
	if code != 2 || !strings.Contains(stderr, "wrong PIN") {
		t.Fatalf("exit status %d, want 2 naming the wrong PIN:\n%s", code, stderr)
	}
	switch n := st.logins(t); n {
	case 1:
	case -1:
		t.Log("OpenSC's pkcs11-spy is not installed: login attempts not counted")
	default:
		t.Errorf("%d login attempts, want exactly 1", n)
	}
}

// TestFatalStartErrorIsTheLastJSONLogLine: a client logging JSON ends
// with a "stopped" JSON line holding the error that stopped it (issue 17:
// the fatal error was only printed as text).
func TestFatalStartErrorIsTheLastJSONLogLine(t *testing.T) {
	st := provision(t)
	f, err := os.OpenFile(st.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("log:\n  level: info\n  format: json\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.pinFile, []byte("not-the-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := st.run(t)
	if code != 2 {
		t.Fatalf("exit status %d, want 2:\n%s", code, stderr)
	}
	clitest.StoppedWithError(t, stderr, "wrong PIN")
}

// TestPortInUseIsWorthARestart: a port still held exits with status 1,
// which the unit restarts.
func TestPortInUseIsWorthARestart(t *testing.T) {
	st := provision(t)
	ln, err := net.Listen("tcp", st.operations)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, stderr := st.run(t)
	if code != 1 || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("exit status %d, want 1:\n%s", code, stderr)
	}
}

// TestStartErrorsAreClassifiedBySentinel: which start-up failures of the
// TLS identity or a listener the unit restarts.
func TestStartErrorsAreClassifiedBySentinel(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"wrong PIN", fmt.Errorf("identity cluster key: %w", hsm.ErrWrongPIN), 2},
		{"PIN locked", fmt.Errorf("identity cluster key: %w", hsm.ErrPINLocked), 2},
		{"missing certificate", fmt.Errorf("identity cluster certificate: %w", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}), 2},
		{"certificate not matching", fmt.Errorf("identity cluster key: %w", hsm.ErrCertificate), 2},
		{"HSM failing", fmt.Errorf("identity cluster key: %w", hsm.ErrModule), 1},
		{"HSM slow", fmt.Errorf("identity cluster key: %w", hsm.ErrTimeout), 1},
		{"I/O error", fmt.Errorf("cluster file ca: %w", &fs.PathError{Op: "read", Path: "/x", Err: syscall.EIO}), 1},
		{"port in use", fmt.Errorf("listen.operations: %w", syscall.EADDRINUSE), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := 1
			var ee *cli.ExitError
			if errors.As(startError(tc.err), &ee) {
				code = ee.Code
			}
			if code != tc.code {
				t.Fatalf("exit status %d, want %d", code, tc.code)
			}
		})
	}
}
