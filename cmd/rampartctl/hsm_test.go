package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/hsm/softhsm"
)

// run runs rampartctl with args and returns its exit status and output.
func objectURI(tok *softhsm.Token, object string) string { return tok.ObjectURI(object).Encode() }

func TestHSMInitAndStatusEndToEnd(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	tok := env.Tokens[0]
	seal := objectURI(tok, "rampart-seal")

	if code, out, errOut := run(t, "hsm", "status", "--key", seal); code != 1 || !strings.Contains(out, "FAIL  sealing key") {
		t.Fatalf("status before init: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := run(t, "hsm", "init", "--key", seal)
	if code != 0 || !strings.Contains(out, `created sealing key "rampart-seal"`) {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "hsm", "init", "--key", seal)
	if code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second init: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "hsm", "status", "--key", seal)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "ok    seal and unseal self-test") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	pin, err := os.ReadFile(tok.PINFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+errOut, strings.TrimSpace(string(pin))) || strings.Contains(out+errOut, tok.PINFile) {
		t.Fatal("output shows the PIN or its file")
	}
}

func TestHSMCommandsRefuse(t *testing.T) {
	env := softhsm.New(t, "signer-1")
	tok := env.Tokens[0]
	wrongPIN := filepath.Join(t.TempDir(), "wrong.pin")
	if err := os.WriteFile(wrongPIN, []byte("00000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPIN := *tok.ObjectURI("rampart-seal")
	withPIN.PINSource = "file:" + wrongPIN
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"init refuses a missing --key", []string{"hsm", "init"}, 2, "--key is required"},
		{"init refuses arguments", []string{"hsm", "init", "--key", objectURI(tok, "k"), "extra"}, 2, "unexpected arguments"},
		{"init refuses a URI without object", []string{"hsm", "init", "--key", tok.URI.Encode()}, 1, "object=LABEL"},
		{"init refuses a URI for another object type", []string{"hsm", "init", "--key", strings.Replace(objectURI(tok, "k"), "?", ";type=private?", 1)}, 1, "type=private"},
		{"init refuses an unsupported URI attribute", []string{"hsm", "init", "--key", objectURI(tok, "k") + "&x-vendor=1"}, 1, "unsupported query attribute"},
		{"init refuses a PIN in the URI", []string{"hsm", "init", "--key", "pkcs11:token=signer-1;object=k?pin-value=1234"}, 1, "pin-value is refused"},
		{"init refuses a wrong PIN", []string{"hsm", "init", "--key", withPIN.Encode()}, 1, "wrong PIN"},
		{"status refuses a missing token", []string{"hsm", "status", "--key", strings.Replace(tok.URI.Encode(), "signer-1", "signer-9", 1)}, 1, "token not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
			if strings.Contains(errOut, "00000000") {
				t.Fatal("error shows the PIN")
			}
		})
	}
}
