//go:build redteam

package slowclient_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/redteam/slowclient"
)

// signerBinary returns $RAMPART_SIGNER_BIN or builds cmd/rampart-signer.
func signerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("RAMPART_SIGNER_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "rampart-signer")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rampart-signer/rampart/cmd/rampart-signer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSlowClientsAreDisconnected attacks a real rampart-signer process
// with slow clients (issue 13): an unauthorised certificate is answered
// 403 on every connection before its body, and the signer closes every
// connection, of authorised slow clients too (408 at
// listen.limits.read_body_timeout). It carries the build tag redteam,
// like the rest of the adversarial suite (make redteam), since it builds
// and starts a signer.
func TestSlowClientsAreDisconnected(t *testing.T) {
	t.Setenv("SOFTHSM2_CONF", "")
	ctx := context.Background()
	s, err := slowclient.Provision(ctx, filepath.Join(t.TempDir(), "cluster"), signerBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	targets, err := s.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	var results []*slowclient.Result
	for _, target := range targets {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := slowclient.Attack(ctx, slowclient.Config{
			Connections: 300, BodySize: 8 << 20, Settle: time.Second, Parallel: 32, PID: s.PID(),
			WaitForClose: time.Minute,
		}, target)
		if serr := s.Stop(ctx); serr != nil {
			t.Error(serr)
		}
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
		if r.ClosedBySigner != r.Opened {
			t.Errorf("%s: the signer closed %d of %d connections", target.Name, r.ClosedBySigner, r.Opened)
		}
		if r.Answers[target.Expect] != r.Opened {
			t.Errorf("%s: answers %v, want %d to each of %d", target.Name, r.Answers, target.Expect, r.Opened)
		}
	}
	t.Logf("\n%s", slowclient.Table(results))
}
