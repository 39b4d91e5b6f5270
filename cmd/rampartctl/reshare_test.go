package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
)

// startClusterWithAccounts is startCluster with validators dealt at the
// cluster's threshold before the signers start.
func startClusterWithAccounts(t *testing.T, n, validators int) (*localcluster.Cluster, []api.PublicKey) {
	t.Helper()
	lc := provisionTestCluster(t, n)
	keys, err := localcluster.Deal(context.Background(), lc.Configs(), validators, n/2+1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	runTestCluster(t, lc)
	return lc, keys
}

func TestReshareRefreshRefreshesEveryShare(t *testing.T) {
	lc, keys := startClusterWithAccounts(t, 3, 4)
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	shares := func() map[string]string {
		out := map[string]string{}
		for _, s := range lc.Signers {
			m, _ := filepath.Glob(filepath.Join(s.Config.Accounts.SharesDir, "*"+appliance.ShareFileExt))
			for _, f := range m {
				b, _ := os.ReadFile(f)
				out[f] = string(b)
			}
		}
		return out
	}
	before := shares()
	// Two of the four accounts, named in a file.
	list := filepath.Join(t.TempDir(), "accounts.txt")
	if err := os.WriteFile(list, []byte("# refreshed first\n"+keys[0].String()+"\n\n"+keys[1].String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "reshare", "refresh", "--cluster", clusterFile, "--accounts", list, "--coordinator", "2", "--poll", "100ms", "--batch-size", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"threshold 2-of-3: liveness", "2-of-3: safety: up to 0 compromised", "started at participant 2", "validators refreshed", "old shares destroyed on every signer"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not show %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "complete: 2 validators, 2-of-3") {
		t.Errorf("stdout: %s", stdout)
	}
	changed := 0
	for f, b := range shares() {
		if before[f] != b {
			changed++
		}
	}
	if changed != 2*3 {
		t.Fatalf("%d share files changed, want the 2 refreshed accounts' on each of 3 signers", changed)
	}
}

func TestReshareFailsCleanly(t *testing.T) {
	lc, _ := startClusterWithAccounts(t, 3, 1)
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("0x1234\n"), 0o600)
	unknown := filepath.Join(t.TempDir(), "unknown.txt")
	os.WriteFile(unknown, []byte("0x"+strings.Repeat("a", 96)+"\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"refuses an unknown coordinator", []string{"--coordinator", "9"}, 2, "--coordinator"},
		{"refuses a malformed account list", []string{"--accounts", bad}, 2, "bad.txt:1"},
		{"reports an account the cluster does not hold", []string{"--accounts", unknown}, 1, "not an account of this cluster"},
		{"refuses arguments", []string{"extra"}, 2, "unexpected arguments"},
		{"reports an unknown ceremony to attach to", []string{"--id", strings.Repeat("ab", 32)}, 1, "unknown ceremony"},
		{"repair: refuses a missing participant", []string{"repair"}, 2, "--participant: required"},
		{"repair: refuses a signer outside the cluster", []string{"repair", "--participant", "7"}, 1, "not a participant"},
		{"repair: refuses a malformed helper list", []string{"repair", "--participant", "3", "--helpers", "1,x"}, 2, "--helpers"},
		{"repair: refuses fewer helpers than the threshold", []string{"repair", "--participant", "3", "--helpers", "1"}, 1, "fewer than the threshold"},
		// The shares come back only to a signer that lost them: one that
		// holds them refuses to stage a second copy, and the repair is
		// aborted everywhere.
		{"repair: aborts for a signer that holds its shares", []string{"repair", "--participant", "3", "--poll", "100ms"}, 1, "is held here already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"reshare", "refresh", "--cluster", clusterFile}, tc.args...)
			if len(tc.args) > 0 && tc.args[0] == "repair" {
				args = append([]string{"reshare", "repair", "--cluster", clusterFile}, tc.args[1:]...)
			}
			code, stdout, stderr := run(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d naming %q\n%s\n%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// rampartctl reshare redistribute removes signer 5 of a 3-of-5 cluster for
// good: 3-of-4 afterwards (safety 1, liveness 1), signer 5's shares
// destroyed, and the command says so.
func TestReshareRedistributeRemovesASigner(t *testing.T) {
	lc, keys := startClusterWithAccounts(t, 5, 2)
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"refuses a missing configuration", nil, 2, "--members and --threshold: required"},
		{"refuses a threshold that is no majority", []string{"--members", "1,2,3,4", "--threshold", "2"}, 2, "threshold 2 of 4 is not a majority"},
		{"refuses a signer outside the cluster file", []string{"--members", "1,2,3,9", "--threshold", "3"}, 2, "9 is not a participant"},
		{"refuses a malformed member list", []string{"--members", "1,x", "--threshold", "2"}, 2, "--members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"reshare", "redistribute", "--cluster", clusterFile}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d naming %q\n%s\n%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
	code, stdout, stderr := run(t, "reshare", "redistribute", "--cluster", clusterFile, "--members", "1,2,3,4", "--threshold", "3", "--poll", "100ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"3-of-4: liveness: signing continues with up to 1", "3-of-4: safety: up to 1 compromised", "to 3-of-[1 2 3 4]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not show %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "complete: 2 validators, now 3-of-1, 2, 3, 4 (generation 1)") || !strings.Contains(stdout, "destroyed their shares: 5.") {
		t.Errorf("stdout: %s", stdout)
	}
	for i, s := range lc.Signers {
		m, _ := filepath.Glob(filepath.Join(s.Config.Accounts.SharesDir, "*"+appliance.ShareFileExt))
		want := len(keys)
		if i == 4 {
			want = 0 // left the configuration
		}
		if len(m) != want {
			t.Errorf("signer %d holds %d share files, want %d", i+1, len(m), want)
		}
	}
	// Each remaining share names its new configuration.
	code, stdout, stderr = run(t, "shares", "list", "--dir", lc.Signers[0].Config.Accounts.SharesDir)
	if code != 0 || strings.Count(stdout, "1,2,3,4 (gen 1)") != len(keys) {
		t.Fatalf("shares list: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
