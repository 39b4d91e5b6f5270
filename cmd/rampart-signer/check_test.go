package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/hsm"
)

// checkConfig writes the configuration and runs --check-config.
func (st *signerSetup) checkConfig(t *testing.T) (int, string) {
	t.Helper()
	data, err := yaml.Marshal(st.cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := st.lc.Signers[0].ConfigPath
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--config", path, "--check-config")
	cmd.Env = append(append(os.Environ(), "RAMPART_SIGNER_MAIN=1"), st.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("running the signer: %v\n%s", err, out.String())
	}
	return 0, out.String()
}

// TestCheckConfigFindsWhatStartWould is issue 17's "--check-config checks
// syntax only: it said configuration is valid for a missing PIN file, a
// 0644 PIN file, a wrong token, a wrong key label, a port in use, and
// another signer's certificate; each then fails at start": each is now
// found by --check-config, exit status 2, with the field and the fix,
// and a wrong PIN costs exactly one login.
func TestCheckConfigFindsWhatStartWould(t *testing.T) {
	t.Run("a good configuration passes and says what it checked", func(t *testing.T) {
		st := provision(t)
		code, out := st.checkConfig(t)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, w := range []string{"PIN readable", "owner-only", "logged in to token", "sealing key found", "certifies it", "issued by tls.ca", "is free", "configuration is valid"} {
			if !strings.Contains(out, w) {
				t.Errorf("the report does not say %q:\n%s", w, out)
			}
		}
	})
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, st *signerSetup) func()
		want    []string
	}{
		{"missing PIN file", func(t *testing.T, st *signerSetup) func() {
			if err := os.Remove(st.pinFile(t)); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"hsm.sealing_key pin-source", "no such file"}},
		{"PIN file readable by others", func(t *testing.T, st *signerSetup) func() {
			if err := os.Chmod(st.pinFile(t), 0o644); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"mode 0644", "chmod 600"}},
		{"wrong PIN", func(t *testing.T, st *signerSetup) func() {
			if err := os.WriteFile(st.pinFile(t), []byte("not-the-pin\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"wrong PIN", "CKR_PIN_INCORRECT"}},
		{"wrong token", func(t *testing.T, st *signerSetup) func() {
			u, _ := hsm.ParseURI(st.cfg.HSM.SealingKey)
			u.Token = "no-such-token"
			st.cfg.HSM.SealingKey = u.Encode()
			return nil
		}, []string{"hsm.sealing_key", "token not found", "no-such-token"}},
		{"wrong key label", func(t *testing.T, st *signerSetup) func() {
			u, _ := hsm.ParseURI(st.cfg.TLS.Key)
			u.Object = "no-such-key"
			st.cfg.TLS.Key = u.Encode()
			return nil
		}, []string{"tls.key", "key not found", "no-such-key"}},
		{"another identity's certificate", func(t *testing.T, st *signerSetup) func() {
			st.cfg.TLS.Certificate = st.lc.Clients[0].CertPath
			return nil
		}, []string{"tls.certificate", "does not certify"}},
		{"a certificate for another node name", func(t *testing.T, st *signerSetup) func() {
			st.cfg.Cluster.Participants[0].TLSName = "signer-9.example.internal"
			return nil
		}, []string{"does not name this node's tls_name", "signer-9.example.internal"}},
		{"port in use", func(t *testing.T, st *signerSetup) func() {
			ln, err := net.Listen("tcp", st.cfg.Listen.Participant)
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, []string{"listen.participant", "address already in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := provision(t)
			if undo := tc.breakIt(t, st); undo != nil {
				defer undo()
			}
			code, out := st.checkConfig(t)
			if code != 2 || strings.Contains(out, "configuration is valid") {
				t.Fatalf("exit %d, want 2:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the report does not say %q:\n%s", w, out)
				}
			}
			if tc.name == "wrong PIN" {
				if n := st.logins(t); n != -1 && n != 1 {
					t.Errorf("%d login attempts, want exactly 1", n)
				}
				if !st.pinCountLow(t) {
					t.Error("the token does not report the failed login (CKF_USER_PIN_COUNT_LOW)")
				}
			}
		})
	}
}
