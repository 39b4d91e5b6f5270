package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkConfig runs rampart-vc --check-config, both outputs together.
func (st *vcSetup) checkConfig(t *testing.T) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--config", st.config, "--check-config")
	cmd.Env = append(append(os.Environ(), "RAMPART_VC_MAIN=1"), st.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

var feeRecipientLine = regexp.MustCompile(`fee_recipient: "0x[0-9a-fA-F]{40}"`)

// setFeeRecipient replaces the fee recipient of the test's configuration.
func (st *vcSetup) setFeeRecipient(t *testing.T, addr string) {
	t.Helper()
	data, err := os.ReadFile(st.config)
	if err != nil {
		t.Fatal(err)
	}
	data = feeRecipientLine.ReplaceAll(data, []byte(`fee_recipient: "`+addr+`"`))
	if err := os.WriteFile(st.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCheckConfigRefusesWhatSyntaxAllows is issue 17's "the shipped
// rampart-vc configuration passes with a placeholder fee recipient"
// and "--check-config checks syntax only": the placeholder, a wrong PIN
// (one login, no retry) and a port in use each exit with status 2, naming
// the field; a real address with a working identity passes.
func TestCheckConfigRefusesWhatSyntaxAllows(t *testing.T) {
	st := provision(t)
	st.setFeeRecipient(t, "0x0000000000000000000000000000000000000001")
	code, out := st.checkConfig(t)
	if code != 2 || !strings.Contains(out, "fee_recipient") || !strings.Contains(out, "0x0000000000000000000000000000000000000001 is a placeholder") {
		t.Fatalf("placeholder fee recipient: exit %d\n%s", code, out)
	}
	st.setFeeRecipient(t, "0x468c15d616B52FCEf0B932BF89D42157984BE2A5")
	if code, out := st.checkConfig(t); code != 0 || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("good configuration: exit %d\n%s", code, out)
	}

	ln, err := net.Listen("tcp", st.operations)
	if err != nil {
		t.Fatal(err)
	}
	code, out = st.checkConfig(t)
	ln.Close()
	if code != 2 || !strings.Contains(out, "listen.operations") || !strings.Contains(out, "address already in use") {
		t.Fatalf("port in use: exit %d\n%s", code, out)
	}

	if err := os.WriteFile(st.pinFile, []byte("not-the-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = st.checkConfig(t)
	if code != 2 || !strings.Contains(out, "wrong PIN") {
		t.Fatalf("wrong PIN: exit %d\n%s", code, out)
	}
	// The placeholder is refused when the configuration is read, before
	// any login; each of the other three checks logs in once.
	if n := st.logins(t); n != -1 && n != 3 {
		t.Errorf("%d logins over the three checks that reach the HSM, want 3 (one each, none retried)", n)
	}
}
