package appliance_test

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/internal/deposit"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/tss"
)

// testWithdrawal is the withdrawal address of the test ceremonies.
const testWithdrawal = "0x468c15d616B52FCEf0B932BF89D42157984BE2A5"

// admin returns the operator's mTLS configuration and the administrative
// client of every signer, with the administrative token, as rampartctl
// builds them from the cluster file.
func admin(tb testing.TB, lc *localcluster.Cluster) (*tls.Config, []*adminapi.Client) {
	tb.Helper()
	cf := lc.File
	cfg, closer, err := cf.TLSConfig(context.Background(), cf.Admin)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(closer)
	peers, release, err := cf.AdminClients(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(release)
	return cfg, peers
}

func startRequest(tb testing.TB, validators, threshold int) *adminapi.StartCeremonyRequest {
	tb.Helper()
	wc, err := deposit.WithdrawalCredentials(testWithdrawal)
	if err != nil {
		tb.Fatal(err)
	}
	return &adminapi.StartCeremonyRequest{Validators: validators, Threshold: threshold, WithdrawalCredentials: wc, AmountGwei: 32_000_000_000}
}

// waitStatus follows signer p's view of a ceremony, waiting at the signer
// for each change (adminapi.Client.WaitCeremony), until ok accepts it; it
// fails the test after limit. A few refusals in a row (a signer
// restarting) are asked again at once.
func waitStatus(tb testing.TB, p *adminapi.Client, id string, limit time.Duration, ok func(*adminapi.CeremonyStatus) bool) *adminapi.CeremonyStatus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var st *adminapi.CeremonyStatus
	var after uint64
	var err error
	for failures := 0; ; {
		st, err = p.WaitCeremony(ctx, id, after, 10*time.Second)
		switch {
		case err == nil:
			failures = 0
			if ok(st) {
				return st
			}
			after = st.Version
		case ctx.Err() != nil:
			tb.Fatalf("participant %s, ceremony %s: condition not reached after %s: %+v %v", p.ID(), id, limit, st, err)
		case errors.Is(err, adminapi.ErrUnknownCeremony):
			// Not joined yet: the coordinator relays the start to the
			// others after it answered. Ask again until it has.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		default:
			if failures++; failures > 5 {
				tb.Fatalf("participant %s, ceremony %s: %v", p.ID(), id, err)
			}
		}
	}
}

// waitCeremony follows the coordinator until the ceremony completes or
// aborts, and returns the last status.
func waitCeremony(tb testing.TB, p *adminapi.Client, id string, limit time.Duration) *adminapi.CeremonyStatus {
	tb.Helper()
	return waitStatus(tb, p, id, limit, func(st *adminapi.CeremonyStatus) bool {
		return st.Coordination != nil && st.Coordination.Stage.Ended()
	})
}

// depositParams is what the test ceremonies ask for on the test network.
func depositParams(n *network.Network) deposit.Params {
	wc, _ := deposit.WithdrawalCredentials(testWithdrawal)
	return deposit.Params{WithdrawalCredentials: wc, AmountGwei: 32_000_000_000, GenesisForkVersion: n.GenesisForkVersion(), NetworkName: n.Name()}
}

// checkDeposits verifies the deposit data as an outsider would: the file
// the deposit tools read parses, every signature verifies under its
// validator's composite key over the DEPOSIT signing root, both roots are
// recomputed, and there is one entry per account, in order.
func checkDeposits(t testing.TB, n *network.Network, st *adminapi.CoordinationStatus) []api.PublicKey {
	t.Helper()
	params := depositParams(n)
	entries, err := deposit.ParseFile(deposit.MarshalFile(st.DepositData), params)
	if err != nil {
		t.Fatalf("deposit data: %v", err)
	}
	if len(entries) != st.Validators || len(st.Accounts) != st.Validators {
		t.Fatalf("%d deposit entries and %d accounts for %d validators", len(entries), len(st.Accounts), st.Validators)
	}
	for i, e := range entries {
		if e.Pubkey != strings.TrimPrefix(st.Accounts[i].String(), "0x") {
			t.Fatalf("deposit %d is for %s, account %d is %s", i, e.Pubkey, i, st.Accounts[i])
		}
		// Independently of ParseDepositFile: the DEPOSIT request a
		// validator client would send has the same signing root.
		req, _ := json.Marshal(map[string]any{"type": "DEPOSIT", "deposit": map[string]string{
			"pubkey": st.Accounts[i].String(), "withdrawal_credentials": "0x" + e.WithdrawalCredentials,
			"amount": fmt.Sprint(e.Amount), "genesis_fork_version": "0x" + e.ForkVersion,
		}})
		parsed, err := signing.ParseRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		sg, err := parsed.Verify(n)
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := bls.PublicKeyFromBytes(st.Accounts[i][:])
		sig, _ := hex.DecodeString(e.Signature)
		s, err := bls.SignatureFromBytes(sig)
		if err != nil || !pk.Verify(sg.SigningRoot, s) {
			t.Fatalf("deposit %d: signature does not verify under the composite key: %v", i, err)
		}
	}
	return st.Accounts
}

// checkEverySubsetSigns checks that every threshold-sized subset of the
// signers holds consistent shares of every new account: each signer's
// administrative proof of possession (a partial signature of one fixed
// message) is taken, and the partials of every subset must recover a
// signature that verifies under the composite key.
func checkEverySubsetSigns(t testing.TB, lc *localcluster.Cluster, net *network.Network, threshold int, keys []api.PublicKey) {
	t.Helper()
	_, peers := admin(t, lc)
	n := len(lc.Signers)
	root := adminapi.ProofSigningRoot(net)
	proofs := make([][]api.Signature, n)
	for i := range lc.Signers {
		var err error
		if proofs[i], err = peers[i].Prove(context.Background(), keys); err != nil {
			t.Fatalf("signer %d proof: %v", i+1, err)
		}
	}
	components := clusterComponentKeys(t, lc)
	subsets := 0
	for mask := range 1 << n {
		if popcount(mask) != threshold {
			continue
		}
		subsets++
		for k, key := range keys {
			composite, _ := bls.PublicKeyFromBytes(key[:])
			var partials []tss.Partial
			for i, s := range lc.Signers {
				if mask&(1<<i) == 0 {
					continue
				}
				component := components[i][key]
				pk, err := bls.PublicKeyFromBytes(component[:])
				if err != nil {
					t.Fatalf("signer %d lists no component key of %s: %v", i+1, key, err)
				}
				sig, err := bls.SignatureFromBytes(proofs[i][k][:])
				if err != nil {
					t.Fatal(err)
				}
				partials = append(partials, tss.Partial{ID: tss.ID(s.ID), PublicKey: pk, Signature: sig})
			}
			res, err := tss.Recover(root, composite, threshold, partials)
			if err != nil || !composite.Verify(root, res.Signature) {
				t.Fatalf("subset %05b, account %s: %v", mask, key, err)
			}
		}
	}
	t.Logf("every one of the %d subsets of %d signers signed for %d accounts", subsets, threshold, len(keys))
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// ceremonyFiles lists what a ceremony left in each signer's ceremony
// directory, and the staged share files.
func ceremonyFiles(lc *localcluster.Cluster, i int) (snapshots, staged []string) {
	s := lc.Signers[i]
	matches, _ := filepath.Glob(filepath.Join(s.Config.DataDir, "ceremonies", "*", "*.snapshot"))
	staged, _ = filepath.Glob(filepath.Join(s.Config.Accounts.SharesDir, "*.staged"))
	return matches, staged
}

func shareFiles(lc *localcluster.Cluster, i int) []string {
	m, _ := filepath.Glob(filepath.Join(lc.Signers[i].Config.Accounts.SharesDir, "*"+appliance.ShareFileExt))
	return m
}

func TestCeremonyCreatesValidatorsAcrossFiveSigners(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 0)
	_, peers := admin(t, tc.lc)
	req := startRequest(t, 12, 3)
	req.BatchSize = 5 // three batches: two full, one short
	id, err := peers[0].StartCeremony(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st := waitCeremony(t, peers[0], id, 3*time.Minute)
	if st.Coordination.Stage != "complete" {
		t.Fatalf("ceremony ended %s: %s", st.Coordination.Stage, st.Coordination.Reason)
	}
	keys := checkDeposits(t, tc.net, st.Coordination)

	// Every signer holds a sealed share of every account, active, and
	// has nothing of the ceremony left but its record.
	for i := range tc.lc.Signers {
		if got := len(shareFiles(tc.lc, i)); got != len(keys) {
			t.Errorf("signer %d has %d share files, want %d", i+1, got, len(keys))
		}
		snaps, staged := ceremonyFiles(tc.lc, i)
		if len(snaps)+len(staged) != 0 {
			t.Errorf("signer %d kept %v %v", i+1, snaps, staged)
		}
		pst, err := peers[i].CeremonyStatus(context.Background(), id)
		if err != nil || pst.State != "complete" || pst.Transcript != st.Transcript {
			t.Errorf("signer %d: %+v %v", i+1, pst, err)
		}
	}
	checkEverySubsetSigns(t, tc.lc, tc.net, 3, keys)

	// Peers are granted duty types only: the deposits above were signed
	// because each participant checked them against the plan it holds.
	// Attack: a signer asks the others for a deposit of a new validator
	// with its own withdrawal credentials.
	t.Run("signs a ceremony's deposit only for its coordinator and its plan", func(t *testing.T) {
		wc, _ := deposit.WithdrawalCredentials(testWithdrawal)
		other, _ := deposit.WithdrawalCredentials("0x00000000000000000000000000000000000000aa")
		deposit := func(wc [32]byte, amount uint64) []byte {
			return mustJSON(map[string]any{"type": "DEPOSIT", "deposit": map[string]string{
				"pubkey": keys[0].String(), "withdrawal_credentials": fmt.Sprintf("%#x", wc[:]),
				"amount": fmt.Sprint(amount), "genesis_fork_version": fmt.Sprintf("%#x", tc.net.GenesisForkVersion()),
			}})
		}
		for _, c := range []struct {
			name, from string
			req        []byte
			want       int
		}{
			{"the coordinator with the plan's deposit", "signer-1", deposit(wc, 32_000_000_000), http.StatusOK},
			{"refuses the coordinator with other withdrawal credentials", "signer-1", deposit(other, 32_000_000_000), http.StatusForbidden},
			{"refuses the coordinator with another amount", "signer-1", deposit(wc, 1_000_000_000), http.StatusForbidden},
			{"refuses another signer with the plan's deposit", "signer-3", deposit(wc, 32_000_000_000), http.StatusForbidden},
		} {
			r := post(t, tc.identityClient(1, c.from), tc.url(1, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+keys[0].String()), c.req)
			if r.code != c.want {
				t.Errorf("%s: %d %s, want %d", c.name, r.code, r.body, c.want)
			}
		}
	})

	// The accounts sign through the standard API and are slashing
	// protected like any other.
	att := attestationRequest(tc.net, 1, 2, 0x33)
	tc.checkSigned("attestation with a new account", tc.sign(1, keys[0], att), keys[0], att)
	if r := tc.sign(2, keys[0], attestationRequest(tc.net, 1, 2, 0x34)); r.code != http.StatusPreconditionFailed {
		t.Fatalf("double vote with a new account: %d %s", r.code, r.body)
	}

	// The accounts survive a restart of every signer.
	for i := range tc.lc.Signers {
		tc.stop(i)
		tc.restart(i)
	}
	tc.checkSigned("after a restart", tc.sign(3, keys[len(keys)-1], att), keys[len(keys)-1], att)
}

func TestCeremonyRefusesBadStart(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 0)
	_, peers := admin(t, tc.lc)
	good := startRequest(t, 4, 2)
	for _, c := range []struct {
		name  string
		edit  func(r *adminapi.StartCeremonyRequest)
		field string
	}{
		{"refuses zero validators", func(r *adminapi.StartCeremonyRequest) { r.Validators = 0 }, "validators"},
		{"refuses too many validators", func(r *adminapi.StartCeremonyRequest) { r.Validators = adminapi.MaxCeremonyValidators + 1 }, "validators"},
		{"refuses a threshold that is not a majority", func(r *adminapi.StartCeremonyRequest) { r.Threshold = 1 }, "threshold"},
		{"refuses a threshold above the signers", func(r *adminapi.StartCeremonyRequest) { r.Threshold = 4 }, "threshold"},
		{"refuses BLS (0x00) withdrawal credentials", func(r *adminapi.StartCeremonyRequest) { r.WithdrawalCredentials[0] = 0 }, "withdrawal_credentials"},
		{"refuses a zero withdrawal address", func(r *adminapi.StartCeremonyRequest) { r.WithdrawalCredentials = api.Root{0x01} }, "withdrawal_credentials"},
		{"refuses an amount above 32 ETH", func(r *adminapi.StartCeremonyRequest) { r.AmountGwei = 33_000_000_000 }, "amount"},
		{"refuses an amount below 1 ETH", func(r *adminapi.StartCeremonyRequest) { r.AmountGwei = 999_999_999 }, "amount"},
		{"refuses a malformed participant timeout", func(r *adminapi.StartCeremonyRequest) { r.ParticipantTimeout = "soon" }, "participant_timeout"},
		{"refuses a negative timeout", func(r *adminapi.StartCeremonyRequest) { r.Timeout = "-1h" }, "timeout"},
		{"refuses a timeout of months", func(r *adminapi.StartCeremonyRequest) { r.Timeout = "2000h" }, "timeout"},
		{"refuses a negative batch size", func(r *adminapi.StartCeremonyRequest) { r.BatchSize = -1 }, "batch_size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := *good
			c.edit(&r)
			_, err := peers[0].StartCeremony(context.Background(), &r)
			if coordinator.Status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("got %v, want 400 naming %s", err, c.field)
			}
		})
	}
	t.Run("refuses unknown fields", func(t *testing.T) {
		r := tc.adminDo(t, 0, "admin", http.MethodPost, "/rampart/v1/ceremonies", []byte(`{"validators":1,"threshold":2,"surprise":1}`), tc.lc.AdminToken.Hex(), "")
		if r.code != http.StatusBadRequest {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a client that is not an administrator", func(t *testing.T) {
		body, _ := json.Marshal(good)
		r := post(t, tc.client(0, "vc-1"), tc.url(0, appliance.ListenerParticipant, "/rampart/v1/ceremonies"), body)
		if r.code != http.StatusForbidden {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a join from an administrator that is not the coordinator", func(t *testing.T) {
		r := tc.adminDo(t, 1, "admin", http.MethodPut, "/rampart/v1/ceremonies/"+strings.Repeat("ab", 32), []byte(`{}`), tc.lc.AdminToken.Hex(), "")
		if r.code != http.StatusBadRequest && r.code != http.StatusForbidden {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses messages from a client that is not a participant", func(t *testing.T) {
		r := post(t, tc.client(0, "vc-1"), tc.url(0, appliance.ListenerParticipant, "/rampart/v1/ceremonies/"+strings.Repeat("ab", 32)+"/messages"), []byte(`{"message":"AA=="}`))
		if r.code != http.StatusForbidden {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("reports an unknown ceremony as 404", func(t *testing.T) {
		_, err := peers[0].CeremonyStatus(context.Background(), strings.Repeat("cd", 32))
		if coordinator.Status(err) != http.StatusNotFound || !errors.Is(err, adminapi.ErrUnknownCeremony) {
			t.Fatalf("got %v", err)
		}
	})
	for i := range tc.lc.Signers {
		if got := len(shareFiles(tc.lc, i)); got != 0 {
			t.Fatalf("refused starts left %d share files at signer %d", got, i+1)
		}
	}
}

// TestCeremonyAbortedByTheOperator aborts a running ceremony: every
// participant ends it, with the operator's reason, and nothing of it is
// left anywhere.
func TestCeremonyAbortedByTheOperator(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 0)
	_, peers := admin(t, tc.lc)
	// A participant that is down keeps the ceremony from finishing.
	tc.stop(2)
	id, err := peers[0].StartCeremony(context.Background(), startRequest(t, 6, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Aborted once it is under way at the signers that are up.
	waitStatus(t, peers[0], id, time.Minute, func(st *adminapi.CeremonyStatus) bool {
		return st.Coordination != nil && len(st.Coordination.Participants) == 2
	})
	if err := peers[0].AbortCeremony(context.Background(), id, "operator changed their mind"); err != nil {
		t.Fatal(err)
	}
	st := waitCeremony(t, peers[0], id, time.Minute)
	if st.Coordination.Stage != "aborted" || !strings.Contains(st.Coordination.Reason, "operator changed their mind") {
		t.Fatalf("%+v", st.Coordination)
	}
	tc.restart(2)
	waitAborted(t, tc.lc, peers, id)
}

// waitAborted waits until every signer reports the ceremony aborted and
// checks that nothing of it is left: no share, staged share or snapshot.
func waitAborted(t testing.TB, lc *localcluster.Cluster, peers []*adminapi.Client, id string) {
	t.Helper()
	for i, p := range peers {
		waitStatus(t, p, id, time.Minute, func(st *adminapi.CeremonyStatus) bool { return st.State == adminapi.StateAborted })
		snaps, staged := ceremonyFiles(lc, i)
		if shares := shareFiles(lc, i); len(snaps)+len(staged)+len(shares) != 0 {
			t.Errorf("signer %d kept %v %v %v", i+1, snaps, staged, shares)
		}
	}
}
