package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/network"
)

// startStoppableCluster is startCluster whose signers a test can stop:
// stop[i] stops signer i+1 and waits until it has.
func startStoppableCluster(t *testing.T, n int) (*localcluster.Cluster, []func()) {
	t.Helper()
	t.Setenv("SOFTHSM2_CONF", "")
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(t.TempDir(), "cluster"), Signers: n, Threshold: n/2 + 1,
		Network: appliance.NetworkConfig{Name: "mainnet"}, Hardening: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	var stops []func()
	for _, s := range lc.Signers {
		app, err := appliance.New(s.Config, appliance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listeners: s.Listeners})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				<-done
			}
		}
		t.Cleanup(stop)
		stops = append(stops, stop)
		select {
		case <-app.Ready():
		case err := <-done:
			t.Fatalf("signer %d: %v", s.ID, err)
		}
	}
	return lc, stops
}

// TestStatusShowsTheClusterAndFailsWhenItCannotSign is issue 17's
// "rampartctl status": one screen for a healthy 2-of-3 cluster (exit 0),
// then with two signers stopped, the survivor's line, the unreachable
// ones and why, and exit status 1 since the cluster cannot sign; --json
// says the same for scripts.
func TestStatusShowsTheClusterAndFailsWhenItCannotSign(t *testing.T) {
	lc, stop := startStoppableCluster(t, 3)
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	peers, release, err := lc.File.AdminClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var admins []adminapi.AccountAdmin
	for _, p := range peers {
		admins = append(admins, p)
	}
	var keys []adminapi.ImportKey
	for range 2 {
		sk, _ := bls.GenerateSecretKey(rand.Reader)
		keys = append(keys, adminapi.ImportKey{Secret: sk})
	}
	im := &adminapi.Importer{Admins: admins, Threshold: 2, Network: network.Mainnet(), Rand: rand.Reader}
	if _, err := im.Import(context.Background(), keys); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, "status", "--cluster", clusterFile)
	t.Logf("healthy cluster (exit %d):\n%s%s", code, stdout, stderr)
	if code != 0 {
		t.Fatalf("healthy cluster: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"3 signers, threshold 2, 3 ready: CAN SIGN", "SIGNER", "2/0/0/0", "no problems found"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("healthy status lacks %q", want)
		}
	}
	if lines := strings.Count(stdout, "\n1  ") + strings.Count(stdout, "\n2  ") + strings.Count(stdout, "\n3  "); lines != 3 {
		t.Errorf("want one line per signer:\n%s", stdout)
	}

	stop[1]()
	stop[2]()
	code, stdout, stderr = run(t, "status", "--cluster", clusterFile)
	t.Logf("two of three signers stopped (exit %d):\n%s%s", code, stdout, stderr)
	if code != 1 || !strings.Contains(stderr, "the cluster cannot sign: 1 of 3 signers ready, 2 needed") {
		t.Fatalf("broken cluster: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"CANNOT SIGN", "signer 2: unreachable", "signer 3: unreachable", "connection refused"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("broken status lacks %q", want)
		}
	}

	code, stdout, _ = run(t, "status", "--cluster", clusterFile, "--json")
	var cs clusterStatus
	if err := json.Unmarshal([]byte(stdout), &cs); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	s1 := cs.Signers[0].Status
	if code != 1 || cs.CanSign || cs.Ready != 1 || cs.Threshold != 2 || s1 == nil || !s1.Ready || s1.Accounts.Active != 2 ||
		s1.SlashingDB.SchemaVersion == 0 || s1.SlashingDB.Keys != 2 || s1.ConfigHash == "" || s1.Certificate.NotAfter.IsZero() ||
		len(s1.Disk) != 2 || s1.Audit.HeadSequence == 0 || cs.Signers[1].Reachable {
		t.Fatalf("--json: exit %d %+v %+v", code, cs, s1)
	}
}
