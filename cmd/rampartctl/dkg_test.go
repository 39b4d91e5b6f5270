package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/internal/network"
)

// startCluster provisions n signers on loopback (SoftHSM tokens, real TLS)
// for mainnet and runs them in this process until the test ends.
func startCluster(t *testing.T, n int) *localcluster.Cluster {
	t.Helper()
	lc := provisionTestCluster(t, n)
	runTestCluster(t, lc)
	return lc
}

// provisionTestCluster provisions n signers on loopback for mainnet, with
// threshold n/2+1, without starting them.
func provisionTestCluster(t *testing.T, n int) *localcluster.Cluster {
	t.Helper()
	t.Setenv("SOFTHSM2_CONF", "")
	lc, err := localcluster.Provision(context.Background(), localcluster.Spec{
		Dir: filepath.Join(t.TempDir(), "cluster"), Signers: n, Threshold: n/2 + 1,
		Network: appliance.NetworkConfig{Name: "mainnet"}, Hardening: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// runTestCluster runs lc's signers in this process until the test ends.
func runTestCluster(t *testing.T, lc *localcluster.Cluster) {
	t.Helper()
	stop, err := lc.RunAll(func(*localcluster.Signer) appliance.Options {
		return appliance.Options{Logger: slog.New(slog.DiscardHandler)}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

func TestDKGWritesVerifiedDepositData(t *testing.T) {
	lc := startCluster(t, 3)
	out := t.TempDir()
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	address := "0x468c15d616B52FCEf0B932BF89D42157984BE2A5"
	code, stdout, stderr := run(t, "dkg", "--cluster", clusterFile, "--validators", "5", "--withdrawal-address", address,
		"--coordinator", "2", "--out", out, "--batch-size", "2", "--poll", "100ms", "--accept-low-safety")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"started at participant 2", "5 validators, 2-of-3", "generating:", "/5 validators generated", "deposits signed and verified"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress does not show %q:\n%s", want, stderr)
		}
	}
	deposits, _ := filepath.Glob(filepath.Join(out, "deposit_data-*.json"))
	accounts, _ := filepath.Glob(filepath.Join(out, "accounts-*.txt"))
	if len(deposits) != 1 || len(accounts) != 1 || !strings.Contains(stdout, deposits[0]) {
		t.Fatalf("files %v %v, stdout %s", deposits, accounts, stdout)
	}
	data, err := os.ReadFile(deposits[0])
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := deposit.WithdrawalCredentials(address)
	mainnet := network.Mainnet()
	entries, err := deposit.ParseFile(data, deposit.Params{WithdrawalCredentials: wc, AmountGwei: 32_000_000_000, GenesisForkVersion: mainnet.GenesisForkVersion(), NetworkName: "mainnet"})
	if err != nil || len(entries) != 5 {
		t.Fatalf("written deposit data: %d entries, %v", len(entries), err)
	}
	if fi, _ := os.Stat(deposits[0]); fi.Mode().Perm() != 0o440 {
		t.Errorf("deposit data mode %v, want read-only like the deposit tools'", fi.Mode().Perm())
	}
	keys, _ := os.ReadFile(accounts[0])
	for _, e := range entries {
		if !bytes.Contains(keys, []byte("0x"+e.Pubkey)) {
			t.Fatalf("account list lacks %s", e.Pubkey)
		}
	}
}

func TestDKGFailsCleanly(t *testing.T) {
	lc := startCluster(t, 3)
	clusterFile := filepath.Join(lc.Dir, "cluster.yaml")
	address := "0x468c15d616B52FCEf0B932BF89D42157984BE2A5"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"refuses a missing withdrawal address", []string{"--validators", "1"}, 2, "--withdrawal-address"},
		{"refuses a wrong address checksum", []string{"--validators", "1", "--withdrawal-address", strings.Replace(address, "A5", "a5", 1)}, 2, "checksum"},
		{"refuses zero validators", []string{"--validators", "0", "--withdrawal-address", address}, 2, "--validators"},
		{"refuses an unknown coordinator", []string{"--validators", "1", "--withdrawal-address", address, "--coordinator", "9", "--accept-low-safety"}, 2, "--coordinator"},
		{"refuses a minority threshold before asking the cluster", []string{"--validators", "1", "--withdrawal-address", address, "--threshold", "1"}, 2, "more than half the signers"},
		{"refuses an unconfirmed low safety tolerance", []string{"--validators", "1", "--withdrawal-address", address}, 1, "--accept-low-safety"},
		{"reports an amount the deposit tools refuse", []string{"--validators", "1", "--withdrawal-address", address, "--amount-gwei", "40000000000", "--accept-low-safety"}, 1, "amount"},
		{"reports an unknown ceremony to attach to", []string{"--id", strings.Repeat("ab", 32)}, 1, "unknown ceremony"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := run(t, append([]string{"dkg", "--cluster", clusterFile, "--out", out}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d naming %q\n%s\n%s", code, tc.code, tc.want, stdout, stderr)
			}
			if files, _ := os.ReadDir(out); len(files) != 0 {
				t.Fatalf("a failed ceremony wrote %v", files)
			}
		})
	}
}

func TestDKGProgressShowsRateAndTimeLeft(t *testing.T) {
	var p progress
	var b bytes.Buffer
	start := time.Unix(1000, 0)
	st := &adminapi.CoordinationStatus{Stage: "generating", Validators: 1000}
	p.show(&b, st, start)
	st.ValidatorsGenerated = 250
	p.show(&b, st, start.Add(10*time.Second))
	p.show(&b, st, start.Add(11*time.Second)) // no change, no line
	st.Stage, st.DepositsSigned = "depositing", 0
	p.show(&b, st, start.Add(12*time.Second))
	want := "generating: 0/1000 validators generated\n" +
		"generating: 250/1000 validators generated (25.0/s, about 30s left)\n" +
		"depositing: 0/1000 deposits signed\n"
	if b.String() != want {
		t.Fatalf("got:\n%swant:\n%s", b.String(), want)
	}
}
