package appliance_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/coordinator"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss"
)

// componentKeys reads every signer's component key of every account, as a
// coordinator discovers them.
func componentKeys(t testing.TB, tc *testCluster) []map[api.PublicKey]api.PublicKey {
	t.Helper()
	return clusterComponentKeys(t, tc.lc)
}

// clusterComponentKeys is componentKeys for any local cluster: each
// signer's participant listener asked with the cluster file's client
// identity.
func clusterComponentKeys(t testing.TB, lc *localcluster.Cluster) []map[api.PublicKey]api.PublicKey {
	t.Helper()
	clientTLS, release, err := lc.File.TLSConfig(context.Background(), lc.File.Client)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	out := make([]map[api.PublicKey]api.PublicKey, len(lc.Signers))
	for i, s := range lc.Signers {
		hp, err := coordinator.NewHTTPParticipant(tss.ID(s.ID), "https://"+s.Config.Listen.Participant, s.Name, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		accs, err := hp.Accounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = map[api.PublicKey]api.PublicKey{}
		for _, a := range accs {
			out[i][a.CompositePublicKey] = a.PublicKey
		}
	}
	return out
}

// shareContents reads signer i's sealed share files by name.
func shareContents(t testing.TB, lc *localcluster.Cluster, i int) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range shareFiles(lc, i) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// refreshLeftovers lists what a refresh may leave in signer i's shares and
// ceremony directories: previous shares, shares being placed, snapshots.
func refreshLeftovers(lc *localcluster.Cluster, i int) []string {
	s := lc.Signers[i]
	var out []string
	for _, pat := range []string{"*.share.prev", "*.share.next", "*.staged"} {
		m, _ := filepath.Glob(filepath.Join(s.Config.Accounts.SharesDir, pat))
		out = append(out, m...)
	}
	m, _ := filepath.Glob(filepath.Join(s.Config.DataDir, "ceremonies", "*", "*.snapshot"))
	return append(out, m...)
}

func sortedKeys(keys []api.PublicKey) []api.PublicKey {
	out := slices.Clone(keys)
	slices.SortFunc(out, func(a, b api.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func TestReshareRefreshChangesEveryShareAndNoKey(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 6)
	_, peers := admin(t, tc.lc)
	keys := tc.keys
	// A vote before the refresh: its slashing history must stay.
	att := attestationRequest(tc.net, 1, 2, 0x33)
	tc.checkSigned("attestation before the refresh", tc.sign(0, keys[0], att), keys[0], att)
	before, files := refreshBaseline(t, tc)

	id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRefresh, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	st := waitCeremony(t, peers[0], id, 3*time.Minute)
	co := st.Coordination
	if co.Stage != adminapi.StageComplete || co.Kind != adminapi.ReshareRefresh {
		t.Fatalf("refresh ended %s (%s): %s", co.Stage, co.Kind, co.Reason)
	}
	if !slices.Equal(sortedKeys(co.Accounts), sortedKeys(keys)) || co.Validators != len(keys) || len(co.DepositData) != 0 {
		t.Fatalf("refresh reports accounts %v (%d validators, %d deposits), want %v and no deposit", co.Accounts, co.Validators, len(co.DepositData), keys)
	}

	// Every share changed, on disk and as announced; no key changed;
	// nothing of the ceremony is left, the old sealed shares included.
	after := componentKeys(t, tc)
	for i := range tc.lc.Signers {
		for _, k := range keys {
			if after[i][k] == before[i][k] {
				t.Errorf("signer %d: component key of %s unchanged by the refresh", i+1, k)
			}
		}
		now := shareContents(t, tc.lc, i)
		if len(now) != len(files[i]) {
			t.Errorf("signer %d has %d share files, had %d", i+1, len(now), len(files[i]))
		}
		for name, b := range now {
			if bytes.Equal(b, files[i][name]) {
				t.Errorf("signer %d: share file %s unchanged by the refresh", i+1, name)
			}
		}
		if left := refreshLeftovers(tc.lc, i); len(left) != 0 {
			t.Errorf("signer %d kept %v", i+1, left)
		}
		pst, err := peers[i].CeremonyStatus(context.Background(), id)
		if err != nil || pst.State != adminapi.StateComplete || pst.Transcript != st.Transcript {
			t.Errorf("signer %d: %+v %v", i+1, pst, err)
		}
	}
	checkEverySubsetSigns(t, tc.lc, tc.net, 3, keys)

	// The validator clients' coordinators learn the new component keys
	// and sign; the slashing history is the same: the vote signed before
	// signs again, a conflicting one is refused.
	tc.checkSigned("the same attestation after the refresh", tc.sign(1, keys[0], att), keys[0], att)
	if r := tc.sign(2, keys[0], attestationRequest(tc.net, 1, 2, 0x34)); r.code != http.StatusPreconditionFailed {
		t.Fatalf("double vote after the refresh: %d %s", r.code, r.body)
	}
	next := attestationRequest(tc.net, 2, 3, 0x35)
	tc.checkSigned("a new attestation after the refresh", tc.sign(3, keys[len(keys)-1], next), keys[len(keys)-1], next)

	// The refreshed shares are what every signer loads after a restart.
	for i := range tc.lc.Signers {
		tc.stop(i)
		tc.restart(i)
	}
	att4 := attestationRequest(tc.net, 3, 4, 0x36)
	tc.checkSigned("after a restart", tc.sign(4, keys[1], att4), keys[1], att4)
}

// A member that stays away: the refresh is aborted everywhere and every
// signer keeps its current shares, untouched.
func TestReshareRefreshAbortsWhenAMemberStaysAway(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 3)
	_, peers := admin(t, tc.lc)
	before, files := refreshBaseline(t, tc)
	tc.stop(2)
	// A refresh needs every member's current component key: with one
	// down, the start is refused at once.
	if _, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRefresh}); err == nil || !strings.Contains(err.Error(), "needs every participant") {
		t.Fatalf("refresh with a member down: %v", err)
	}
	tc.restart(2)
	// Once under way, a member that goes away and stays away aborts it.
	id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRefresh, ParticipantTimeout: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	tc.stop(2)
	st := waitCeremony(t, peers[0], id, 2*time.Minute)
	if st.Coordination.Stage != adminapi.StageAborted {
		t.Fatalf("refresh with a member away ended %s", st.Coordination.Stage)
	}
	t.Logf("aborted: %s", st.Coordination.Reason)
	tc.restart(2)
	checkRefreshUndone(t, tc, peers, id, files, before)
}

// refreshBaseline reads every signer's component keys and share files, to
// compare with after a refresh (checkRefreshUndone after an aborted one).
func refreshBaseline(t *testing.T, tc *testCluster) ([]map[api.PublicKey]api.PublicKey, []map[string][]byte) {
	t.Helper()
	files := make([]map[string][]byte, len(tc.lc.Signers))
	for i := range tc.lc.Signers {
		files[i] = shareContents(t, tc.lc, i)
	}
	return componentKeys(t, tc), files
}

// checkRefreshUndone checks that the aborted refresh id left the cluster
// as it began: aborted at every signer, nothing of it left on disk, the
// share files as they were (files) or put back, the component keys as
// before, every subset of t signers signing.
func checkRefreshUndone(t *testing.T, tc *testCluster, peers []*adminapi.Client, id string, files []map[string][]byte, before []map[api.PublicKey]api.PublicKey) {
	t.Helper()
	for i, p := range peers {
		waitStatus(t, p, id, time.Minute, func(st *adminapi.CeremonyStatus) bool { return st.State == adminapi.StateAborted })
		if left := refreshLeftovers(tc.lc, i); len(left) != 0 {
			t.Errorf("signer %d kept %v", i+1, left)
		}
		now := shareContents(t, tc.lc, i)
		for name, b := range files[i] {
			if !bytes.Equal(now[name], b) {
				t.Errorf("signer %d: share file %s not as before the aborted refresh", i+1, name)
			}
		}
	}
	after := componentKeys(t, tc)
	for i := range after {
		for k, c := range before[i] {
			if after[i][k] != c {
				t.Errorf("signer %d: component key of %s not as before the aborted refresh", i+1, k)
			}
		}
	}
	checkEverySubsetSigns(t, tc.lc, tc.net, len(tc.lc.Signers)/2+1, tc.keys)
}

// A member restarted in the middle of a refresh resumes from its sealed
// snapshots (its current shares still active and untouched), and the
// refresh completes with new shares every threshold subset signs with.
// startRefreshUntilABatchIsDone starts a refresh at signer 1 in batches
// of 5 and returns its id once signer i has finished a batch of it and
// still runs it.
func startRefreshUntilABatchIsDone(t *testing.T, peers []*adminapi.Client, i int) string {
	t.Helper()
	id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRefresh, BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, peers[i], id, 2*time.Minute, func(st *adminapi.CeremonyStatus) bool {
		return st.BatchesDone >= 1 && st.State == adminapi.StateRunning
	})
	return id
}

func TestReshareRefreshResumesAfterAMemberRestarts(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 30)
	_, peers := admin(t, tc.lc)
	before := componentKeys(t, tc)
	const victim = 3
	id := startRefreshUntilABatchIsDone(t, peers, victim)
	tc.stop(victim)
	// Its current shares are as they were: nothing of a refresh is on
	// disk before activation but sealed snapshots.
	if left := refreshLeftovers(tc.lc, victim); len(left) == 0 || slices.ContainsFunc(left, func(f string) bool { return !strings.HasSuffix(f, ".snapshot") }) {
		t.Fatalf("signer %d stopped mid-refresh with %v; want sealed snapshots only", victim+1, left)
	}
	tc.restart(victim)
	st := waitCeremony(t, peers[0], id, 4*time.Minute)
	if st.Coordination.Stage != adminapi.StageComplete {
		t.Fatalf("refresh ended %s: %s", st.Coordination.Stage, st.Coordination.Reason)
	}
	after := componentKeys(t, tc)
	for i := range tc.lc.Signers {
		for _, k := range tc.keys {
			if after[i][k] == before[i][k] {
				t.Errorf("signer %d: component key of %s unchanged", i+1, k)
			}
		}
		if left := refreshLeftovers(tc.lc, i); len(left) != 0 {
			t.Errorf("signer %d kept %v", i+1, left)
		}
	}
	checkEverySubsetSigns(t, tc.lc, tc.net, 3, tc.keys)
}

// A signer that fails to activate its new shares (here a directory where
// its refreshed share file must go) after others activated theirs: the
// refresh is aborted everywhere, and every signer that had activated new
// shares puts its previous ones back. The cluster ends as it began: the
// same share files, the same component keys, every subset signing.
func TestReshareRefreshRollsBackWhenActivationFails(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 3)
	_, peers := admin(t, tc.lc)
	before, files := refreshBaseline(t, tc)
	last := sortedKeys(tc.keys)[len(tc.keys)-1]
	const victim = 2
	blocker := filepath.Join(tc.lc.Signers[victim].Config.Accounts.SharesDir, last.String()+".share.next")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRefresh})
	if err != nil {
		t.Fatal(err)
	}
	st := waitCeremony(t, peers[0], id, 3*time.Minute)
	if st.Coordination.Stage != adminapi.StageAborted || !strings.Contains(st.Coordination.Reason, "activating") {
		t.Fatalf("refresh ended %s (%s); want aborted while activating", st.Coordination.Stage, st.Coordination.Reason)
	}
	t.Logf("aborted: %s", st.Coordination.Reason)
	os.RemoveAll(blocker)
	checkRefreshUndone(t, tc, peers, id, files, before)
	att := attestationRequest(tc.net, 1, 2, 0x40)
	tc.checkSigned("after the rollback", tc.sign(1, tc.keys[0], att), tc.keys[0], att)
}

// A signer's server is replaced (same participant id) after its shares and
// slashing history were lost with its disk: the threshold of the other
// signers (one more is down) repair its shares (the same ones: no key and
// no other share changes) and give it their slashing histories, merged,
// with watermarks raised past the cutover. Every threshold subset, the
// repaired signer in it, signs.
func TestReshareRepairGivesAReplacedSignerItsShares(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 4)
	_, peers := admin(t, tc.lc)
	keys := tc.keys
	// A vote for the next epoch before the loss: past the cutover's
	// floors, so that the record the repaired signer holds of it can only
	// come from the others' histories.
	now, _ := tc.net.LatestEpochAt(time.Now())
	next := uint64(now) + 1
	att := attestationRequest(tc.net, next-1, next, 0x33)
	tc.checkSigned("attestation before the loss", tc.sign(0, keys[0], att), keys[0], att)
	before := componentKeys(t, tc)

	const victim = 4
	s := tc.lc.Signers[victim]
	tc.stop(victim)
	for _, f := range shareFiles(tc.lc, victim) {
		os.Remove(f)
	}
	if err := os.Remove(s.Config.Slashing.Database); err != nil {
		t.Fatal(err)
	}
	tc.restart(victim)
	if got := shareFiles(tc.lc, victim); len(got) != 0 {
		t.Fatalf("the replaced signer holds %v", got)
	}

	// Only an administrator's request naming the signer starts a repair;
	// it refuses a signer that is not a participant.
	if _, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRepair, Participant: 9}); err == nil || !strings.Contains(err.Error(), "not a participant") {
		t.Fatalf("repair of participant 9: %v", err)
	}
	// Another signer is down meanwhile: the threshold of the others
	// helps.
	const away = 3
	tc.stop(away)
	id, err := peers[0].StartReshare(context.Background(), &adminapi.StartReshareRequest{Mode: adminapi.ReshareRepair, Participant: victim + 1, Helpers: []api.Uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	st := waitCeremony(t, peers[0], id, 3*time.Minute)
	if co := st.Coordination; co.Stage != adminapi.StageComplete || co.Kind != adminapi.ReshareRepair || co.Repaired != victim+1 {
		t.Fatalf("repair ended %s (%s, participant %d): %s", co.Stage, co.Kind, co.Repaired, co.Reason)
	}
	tc.restart(away)
	// The same component keys everywhere: the repaired signer's are the
	// ones it had, the others' did not change.
	after := componentKeys(t, tc)
	for i := range tc.lc.Signers {
		for _, k := range keys {
			if after[i][k] != before[i][k] {
				t.Errorf("signer %d: component key of %s is %s, was %s", i+1, k, after[i][k], before[i][k])
			}
		}
		if left := refreshLeftovers(tc.lc, i); len(left) != 0 {
			t.Errorf("signer %d kept %v", i+1, left)
		}
	}
	if got := len(shareFiles(tc.lc, victim)); got != len(keys) {
		t.Fatalf("the repaired signer has %d share files, want %d", got, len(keys))
	}
	checkEverySubsetSigns(t, tc.lc, tc.net, 3, keys)

	// Its slashing protection holds the vote the others signed (with its
	// signing root: only their histories had it), and floors at the
	// cutover (no root).
	doc, err := peers[victim].ExportSlashing(context.Background(), keys[:1])
	if err != nil {
		t.Fatal(err)
	}
	ic, err := protect.ParseInterchange(doc)
	if err != nil || len(ic.Data) != 1 {
		t.Fatalf("export of the repaired signer: %v %+v", err, ic)
	}
	carried := false
	for _, a := range ic.Data[0].SignedAttestations {
		if uint64(a.TargetEpoch) == next && a.SigningRoot != (protect.Root{}) {
			carried = true
		}
	}
	if !carried {
		t.Fatalf("the repaired signer's history %+v lacks the vote for epoch %d the others signed", ic.Data[0].SignedAttestations, next)
	}
	// Attacks through the repaired signer alone: a double vote of what
	// the others signed, and a vote below the cutover.
	for _, c := range []struct {
		name string
		key  api.PublicKey
		req  []byte
	}{
		{"a double vote", keys[0], attestationRequest(tc.net, next-1, next, 0x34)},
		{"a vote below the cutover", keys[1], attestationRequest(tc.net, next-2, next-1, 0x35)},
	} {
		r := post(t, tc.identityClient(victim, "signer-1"), tc.url(victim, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+c.key.String()), c.req)
		if r.code != http.StatusPreconditionFailed {
			t.Errorf("the repaired signer signed %s: %d %s", c.name, r.code, r.body)
		}
	}
}
