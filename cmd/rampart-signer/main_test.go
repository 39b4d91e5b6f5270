package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/hsm"
	"github.com/rampart-signer/rampart/hsm/softhsm"
	"github.com/rampart-signer/rampart/internal/clitest"
)

// The tests run this test binary as rampart-signer: with RAMPART_SIGNER_MAIN
// set, TestMain runs main, exit status and all.
func TestMain(m *testing.M) { clitest.Main(m, "RAMPART_SIGNER_MAIN", main) }

// signerSetup is a provisioned one-signer cluster whose configuration a
// test breaks before starting the signer process.
type signerSetup struct {
	lc  *localcluster.Cluster
	cfg *appliance.Config
	// spy receives the PKCS#11 calls when OpenSC's spy is installed.
	spy *softhsm.Spy
	env []string
	// module and token are the SoftHSM module copy and the token label of
	// the sealing key.
	module, token string
}

func provision(t *testing.T) *signerSetup {
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
	seal, err := hsm.ParseURI(s.Config.HSM.SealingKey)
	if err != nil {
		t.Fatal(err)
	}
	st := &signerSetup{lc: lc, cfg: s.Config, env: []string{softhsm.ConfigEnv + "=" + s.SoftHSMConf}, module: seal.ModulePath, token: seal.Token}
	if st.spy = softhsm.NewSpy(dir, seal.ModulePath); st.spy != nil {
		st.env = append(st.env, st.spy.Env...)
		for _, u := range []*string{&st.cfg.HSM.SealingKey, &st.cfg.TLS.Key} {
			p, _ := hsm.ParseURI(*u)
			p.ModulePath = softhsm.SpyModule
			*u = p.Encode()
		}
	}
	return st
}

// pinFile is the sealing key's PIN file.
func (st *signerSetup) pinFile(t *testing.T) string {
	u, err := hsm.ParseURI(st.cfg.HSM.SealingKey)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.PINSource, "file:")
}

// run writes the configuration and runs the signer; it returns the exit
// status and what it wrote to stderr.
func (st *signerSetup) run(t *testing.T) (int, string) {
	t.Helper()
	data, err := yaml.Marshal(st.cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := st.lc.Signers[0].ConfigPath
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return runSigner(t, st.env, "--config", path)
}

func runSigner(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return clitest.Run(t, "RAMPART_SIGNER_MAIN", env, args...)
}

// logins counts C_Login calls in the spy's log (-1 without the spy).
func (st *signerSetup) logins(t *testing.T) int {
	t.Helper()
	n, err := st.spy.Logins()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pinCountLow reads the token's CKF_USER_PIN_COUNT_LOW flag, which SoftHSM
// sets after a failed user login, without logging in.
func (st *signerSetup) pinCountLow(t *testing.T) bool {
	t.Helper()
	s := st.lc.Signers[0]
	t.Setenv(softhsm.ConfigEnv, s.SoftHSMConf)
	p := pkcs11.New(st.module)
	if p == nil {
		t.Fatalf("loading %s", st.module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots {
		ti, err := p.GetTokenInfo(sl)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Label == st.token {
			return ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0
		}
	}
	t.Fatalf("no token %q", st.token)
	return false
}

// TestStartFailuresARestartCannotFixExitWithStatus2 runs the signer binary
// against a SoftHSM token with each failure the systemd unit must not
// restart (RestartPreventExitStatus=2): restarting would only log in with
// the same wrong PIN again, and HSMs lock the PIN after a few failures.
// Each error names the problem and the fix.
func TestStartFailuresARestartCannotFixExitWithStatus2(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, st *signerSetup)
		want    []string
	}{
		{"wrong PIN", func(t *testing.T, st *signerSetup) {
			if err := os.WriteFile(st.pinFile(t), []byte("not-the-pin\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"wrong PIN", "CKR_PIN_INCORRECT", "right PIN", "does not retry"}},
		{"missing PIN file", func(t *testing.T, st *signerSetup) {
			if err := os.Remove(st.pinFile(t)); err != nil {
				t.Fatal(err)
			}
		}, []string{"PIN file", "no such file", "pin-source"}},
		{"PIN file readable by others", func(t *testing.T, st *signerSetup) {
			if err := os.Chmod(st.pinFile(t), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"mode 0644", "chmod 600"}},
		{"missing token", func(t *testing.T, st *signerSetup) {
			u, _ := hsm.ParseURI(st.cfg.HSM.SealingKey)
			u.Token = "no-such-token"
			st.cfg.HSM.SealingKey = u.Encode()
		}, []string{"token not found", "no-such-token", "token="}},
		{"missing key", func(t *testing.T, st *signerSetup) {
			u, _ := hsm.ParseURI(st.cfg.HSM.SealingKey)
			u.Object = "no-such-key"
			st.cfg.HSM.SealingKey = u.Encode()
		}, []string{"key not found", "object="}},
		{"certificate not matching the key", func(t *testing.T, st *signerSetup) {
			st.cfg.TLS.Certificate = st.lc.Client(localcluster.AdminClient).CertPath
		}, []string{"tls.certificate", "does not certify"}},
		{"configuration error", func(t *testing.T, st *signerSetup) {
			st.cfg.Cluster.Timeout = -time.Second
		}, []string{"cluster.timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := provision(t)
			tc.breakIt(t, st)
			code, stderr := st.run(t)
			if code != 2 {
				t.Fatalf("exit status %d, want 2:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, stderr)
				}
			}
			if tc.name == "wrong PIN" {
				if n := st.logins(t); n != 1 && n != -1 {
					t.Errorf("%d login attempts, want exactly 1", n)
				} else if n == -1 {
					t.Log("OpenSC's pkcs11-spy is not installed: login attempts not counted")
				}
				if !st.pinCountLow(t) {
					t.Error("the token does not report the failed login (CKF_USER_PIN_COUNT_LOW)")
				}
			}
		})
	}
}

// TestFatalStartErrorIsTheLastJSONLogLine is the regression test for a
// signer logging JSON whose fatal start-up error (a wrong PIN) was only
// printed as text: its last log line is "stopped", as JSON, with the
// error.
func TestFatalStartErrorIsTheLastJSONLogLine(t *testing.T) {
	st := provision(t)
	st.cfg.Log.Format = "json"
	if err := os.WriteFile(st.pinFile(t), []byte("not-the-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := st.run(t)
	if code != 2 {
		t.Fatalf("exit status %d, want 2:\n%s", code, stderr)
	}
	clitest.StoppedWithError(t, stderr, "wrong PIN")
}

// TestStartFailuresARestartCanFixExitWithStatus1: a port still held (by
// the previous instance, say) is worth a restart.
func TestStartFailuresARestartCanFixExitWithStatus1(t *testing.T) {
	st := provision(t)
	ln, err := net.Listen("tcp", st.cfg.Listen.Participant)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, stderr := st.run(t)
	if code != 1 || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("exit status %d, want 1:\n%s", code, stderr)
	}
	if n := st.logins(t); n > 1 {
		t.Errorf("%d login attempts in one start", n)
	}
}
