package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/cli"
)

func TestCheckThreshold(t *testing.T) {
	for _, tc := range []struct {
		name      string
		t, n      int
		accept    bool
		stdin     string
		wantErr   string
		wantUsage bool
		wantOut   []string
	}{
		{name: "4-of-5 tolerates one compromised signer without asking", t: 4, n: 5, wantOut: []string{"up to 1 signer(s) down (n-t = 1)", "up to 2 compromised signer(s) cannot get a slashable message signed (2t-n-1 = 2)"}},
		{name: "3-of-5 confirmed with yes", t: 3, n: 5, stdin: "yes\n", wantOut: []string{"2t-n-1 = 0", "--threshold 4 tolerates 1 compromised signer", "type yes"}},
		{name: "3-of-5 confirmed by the flag", t: 3, n: 5, accept: true, wantOut: []string{"accepted by --accept-low-safety"}},
		{name: "3-of-5 refused on no answer", t: 3, n: 5, wantErr: "--accept-low-safety"},
		{name: "3-of-5 refused on another answer", t: 3, n: 5, stdin: "y\n", wantErr: `answer "y", not yes`},
		{name: "1-of-1 has no safer threshold", t: 1, n: 1, accept: true, wantOut: []string{"no threshold tolerates a compromised signer"}},
		{name: "2-of-4 is no majority", t: 2, n: 4, accept: true, wantErr: "more than half", wantUsage: true},
		{name: "3-of-6 is no majority", t: 3, n: 6, accept: true, wantErr: "more than half", wantUsage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			err := checkThreshold(&cli.Env{Stdin: strings.NewReader(tc.stdin), Stderr: &errOut}, tc.t, tc.n, tc.accept)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("refused: %v\n%s", err, errOut.String())
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error naming %q", err, tc.wantErr)
				}
				var ue *cli.UsageError
				if errors.As(err, &ue) != tc.wantUsage {
					t.Fatalf("usage error %v, want %v: %v", !tc.wantUsage, tc.wantUsage, err)
				}
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
}

// A script piping into the command must not hang on a question nor have
// its input read as an answer: a pipe is never read, the flag decides.
func TestCheckThresholdNeverReadsAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.WriteString("yes\n"); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	err = checkThreshold(&cli.Env{Stdin: r, Stderr: &errOut}, 2, 3, false)
	if err == nil || !strings.Contains(err.Error(), "--accept-low-safety") {
		t.Fatalf("got %v, want a refusal naming the flag", err)
	}
	if strings.Contains(errOut.String(), "type yes") {
		t.Fatalf("asked on a pipe:\n%s", errOut.String())
	}
}

// Every command that sets a threshold checks it before doing anything:
// shares deal refuses 2-of-3 unconfirmed before it opens any signer's
// configuration, and a minority threshold as a usage error.
func TestSharesDealChecksThreshold(t *testing.T) {
	args := []string{"shares", "deal", "--config", "missing-1.yaml", "--config", "missing-2.yaml", "--config", "missing-3.yaml"}
	code, _, errOut := run(t, append(args, "--threshold", "2")...)
	if code != 1 || !strings.Contains(errOut, "2t-n-1 = 0") || !strings.Contains(errOut, "--accept-low-safety") || strings.Contains(errOut, "missing-1.yaml") {
		t.Fatalf("2-of-3 unconfirmed: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, append(args, "--threshold", "1", "--accept-low-safety")...)
	if code != 2 || !strings.Contains(errOut, "more than half") {
		t.Fatalf("1-of-3: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, append(args, "--threshold", "2", "--accept-low-safety")...)
	if code == 0 || !strings.Contains(errOut, "missing-1.yaml") {
		t.Fatalf("2-of-3 accepted: exit %d, want the configuration's error\n%s", code, errOut)
	}
}

func TestDevnetUpChecksThreshold(t *testing.T) {
	code, _, errOut := run(t, "devnet", "up", "--dir", t.TempDir(), "--signers", "5", "--threshold", "3", "--dealer")
	if code != 1 || !strings.Contains(errOut, "2t-n-1 = 0") || !strings.Contains(errOut, "--accept-low-safety") {
		t.Fatalf("3-of-5 unconfirmed: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, "devnet", "up", "--dir", t.TempDir(), "--signers", "4", "--threshold", "2", "--dealer")
	if code != 2 || !strings.Contains(errOut, "more than half") {
		t.Fatalf("2-of-4: exit %d\n%s", code, errOut)
	}
}

// rampartctl import splits keys at the cluster file's threshold (or
// --threshold): it checks it before reading a keystore.
func TestImportChecksThreshold(t *testing.T) {
	dir := t.TempDir()
	cluster := filepath.Join(dir, "cluster.yaml")
	yaml := `network: {name: hoodi}
cluster_id: test
threshold: 2
ca: ca.pem
participants:
  - {id: 1, endpoint: "https://127.0.0.1:1", tls_name: signer-1}
  - {id: 2, endpoint: "https://127.0.0.1:2", tls_name: signer-2}
  - {id: 3, endpoint: "https://127.0.0.1:3", tls_name: signer-3}
`
	if err := os.WriteFile(cluster, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"import", "--cluster", cluster, "--keystores", filepath.Join(dir, "missing"), "--password-file", filepath.Join(dir, "missing.txt")}
	code, _, errOut := run(t, args...)
	if code != 1 || !strings.Contains(errOut, "2t-n-1 = 0") || !strings.Contains(errOut, "--accept-low-safety") {
		t.Fatalf("2-of-3 unconfirmed: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, append(args, "--threshold", "1")...)
	if code != 2 || !strings.Contains(errOut, "more than half") {
		t.Fatalf("1-of-3: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, append(args, "--accept-low-safety")...)
	if code == 0 || !strings.Contains(errOut, "accepted by --accept-low-safety") || !strings.Contains(errOut, "missing") {
		t.Fatalf("2-of-3 accepted: exit %d, want the keystores' error\n%s", code, errOut)
	}
}
