package appliance_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/signing"
)

// identityClient is an mTLS client for signer i with the identity name:
// a validator client or the operator (file keys), or a signer's own
// identity (its key in its SoftHSM token), as a compromised signer would
// use it.
func (tc *testCluster) identityClient(i int, name string) *http.Client {
	tc.t.Helper()
	for j, s := range tc.lc.Signers {
		if s.Name != name {
			continue
		}
		pool := x509.NewCertPool()
		ca, err := os.ReadFile(tc.lc.CAPath)
		if err != nil {
			tc.t.Fatal(err)
		}
		pool.AppendCertsFromPEM(ca)
		cfg := &tls.Config{RootCAs: pool, ServerName: tc.lc.Signers[i].Name, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{tc.hsmCertificate(j)}}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	}
	return tc.client(i, name)
}

// adminDo sends an administrative request to signer i's participant
// listener as name, with a bearer token and a Rampart-On-Behalf-Of header
// when given.
func (tc *testCluster) adminDo(t testing.TB, i int, name, method, path string, body []byte, token, onBehalfOf string) response {
	t.Helper()
	req, err := http.NewRequest(method, tc.url(i, appliance.ListenerParticipant, path), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if onBehalfOf != "" {
		req.Header.Set(adminapi.HeaderOnBehalfOf, onBehalfOf)
	}
	resp, err := tc.identityClient(i, name).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// partialSign asks signer i's participant listener for a partial signature
// as vc-1.
func (tc *testCluster) partialSign(i int, key api.PublicKey, req []byte) response {
	return post(tc.t, tc.client(i, "vc-1"), tc.url(i, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), req)
}

func pendingFiles(tc *testCluster, i int) []string {
	m, _ := filepath.Glob(filepath.Join(tc.lc.Signers[i].Config.Accounts.SharesDir, "*"+files.PendingExt))
	return m
}

func hasShareFile(tc *testCluster, i int, key api.PublicKey) bool {
	_, err := os.Stat(filepath.Join(tc.lc.Signers[i].Config.Accounts.SharesDir, files.ShareName(key)))
	return err == nil
}

// Attack (issue 13, item 1): one compromised signer, or the operator's
// certificate alone, deletes a validator's share at every other signer.
// Every administrative request needs an administrator's identity (or a
// peer relaying one) and the administrative token, at every signer.
func TestAdministrativeRequestsNeedBothProofs(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 1)
	key := tc.keys[0]
	token := tc.lc.AdminToken.Hex()
	del := "/rampart/v1/accounts/" + key.String()
	for _, c := range []struct {
		name, client, token, onBehalfOf string
		want                            int
	}{
		{"refuses a peer signer without the token", "signer-2", "", "", http.StatusForbidden},
		{"refuses a peer signer with the token", "signer-2", token, "", http.StatusForbidden},
		{"refuses a peer relaying for a name that is not an administrator", "signer-2", token, "signer-2", http.StatusForbidden},
		{"refuses a peer relaying for the administrator without the token", "signer-2", "", "admin", http.StatusUnauthorized},
		{"refuses a peer relaying for the administrator with a wrong token", "signer-2", strings.Repeat("cd", 32), "admin", http.StatusForbidden},
		{"refuses the administrator's certificate without the token", "admin", "", "", http.StatusUnauthorized},
		{"refuses the administrator's certificate with a wrong token", "admin", strings.Repeat("cd", 32), "", http.StatusForbidden},
		{"refuses the administrator's certificate with a malformed token", "admin", "not-hex", "", http.StatusForbidden},
		{"refuses the administrator claiming to relay", "admin", token, "admin", http.StatusForbidden},
		{"refuses a validator client with the token", "vc-1", token, "", http.StatusForbidden},
		{"refuses an unknown identity of the cluster CA with the token", "intruder", token, "", http.StatusForbidden},
		{"refuses an unknown identity relaying for the administrator", "intruder", token, "admin", http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, i := range []int{0, 2} {
				r := tc.adminDo(t, i, c.client, http.MethodDelete, del, nil, c.token, c.onBehalfOf)
				if r.code != c.want {
					t.Fatalf("signer %d: %d %s, want %d", i+1, r.code, r.body, c.want)
				}
			}
		})
	}
	// Nothing was removed anywhere: every signer holds its share and the
	// cluster signs.
	for i := range tc.lc.Signers {
		if !hasShareFile(tc, i, key) || len(pendingFiles(tc, i)) != 0 {
			t.Errorf("signer %d lost its share", i+1)
		}
	}
	req := attestationRequest(tc.net, 3, 4, 0x44)
	tc.checkSigned("after the refused removals", tc.sign(0, key, req), key, req)
	// Other administrative endpoints are guarded alike.
	for _, p := range []struct{ method, path string }{
		{http.MethodGet, "/rampart/v1/accounts/removed"},
		{http.MethodPost, "/rampart/v1/accounts/" + key.String() + "/restore"},
		{http.MethodPost, "/rampart/v1/accounts/proof"},
		{http.MethodPost, "/rampart/v1/accounts/activate"},
		{http.MethodPost, "/rampart/v1/accounts/discard"},
		{http.MethodPost, "/rampart/v1/accounts"},
		{http.MethodPost, "/rampart/v1/ceremonies"},
	} {
		if r := tc.adminDo(t, 1, "admin", p.method, p.path, []byte(`{"keys":["`+key.String()+`"]}`), "", ""); r.code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d %s", p.method, p.path, r.code, r.body)
		}
		if r := tc.adminDo(t, 1, "signer-1", p.method, p.path, []byte(`{"keys":["`+key.String()+`"]}`), token, ""); r.code != http.StatusForbidden {
			t.Errorf("%s %s from a peer: %d %s", p.method, p.path, r.code, r.body)
		}
	}
}

// TestRemovalWaitsForItsGracePeriod: a removal by the administrator stops
// the account signing at once, but the sealed share is destroyed only
// accounts.destroy_after later; until then it can be restored.
func TestRemovalWaitsForItsGracePeriod(t *testing.T) {
	clock := newFakeClock(time.Now())
	tc := newTestClusterWithClock(t, clock, 3, 2, 1)
	key := tc.keys[0]
	token := tc.lc.AdminToken.Hex()
	const victim = 1
	epoch := uint64(10)
	signs := func(name string) {
		t.Helper()
		epoch++
		r := tc.partialSign(victim, key, attestationRequest(tc.net, epoch-1, epoch, 0x50))
		if r.code != http.StatusOK {
			t.Fatalf("%s: participant %d: %d %s", name, victim+1, r.code, r.body)
		}
	}
	refuses := func(name string) {
		t.Helper()
		epoch++
		if r := tc.partialSign(victim, key, attestationRequest(tc.net, epoch-1, epoch, 0x50)); r.code != http.StatusNotFound {
			t.Fatalf("%s: participant %d: %d %s, want 404", name, victim+1, r.code, r.body)
		}
		if r := tc.sign(victim, key, attestationRequest(tc.net, epoch-1, epoch, 0x50)); r.code != http.StatusNotFound {
			t.Fatalf("%s: coordinator %d: %d %s, want 404", name, victim+1, r.code, r.body)
		}
	}
	remove := func() {
		t.Helper()
		calls := clock.Advance(0)
		if r := tc.adminDo(t, victim, "admin", http.MethodDelete, "/rampart/v1/accounts/"+key.String(), nil, token, ""); r.code != http.StatusOK {
			t.Fatalf("DELETE: %d %s", r.code, r.body)
		}
		// The destroyer, woken by the new record, waits again.
		if !clock.waitAfterCalls(calls, time.After(time.Minute)) {
			t.Fatal("the destroyer never waited on the clock again")
		}
	}
	removed := func() adminapi.RemovedResponse {
		t.Helper()
		r := tc.adminDo(t, victim, "admin", http.MethodGet, "/rampart/v1/accounts/removed", nil, token, "")
		var rr adminapi.RemovedResponse
		if r.code != http.StatusOK || json.Unmarshal(r.body, &rr) != nil {
			t.Fatalf("GET removed: %d %s", r.code, r.body)
		}
		return rr
	}
	// Each signer's destroyer waits on the clock before anything happens.
	if !clock.waitAfterCalls(len(tc.lc.Signers)-1, time.After(time.Minute)) {
		t.Fatal("the destroyers never waited on the clock")
	}
	advance := func(d time.Duration) {
		t.Helper()
		// Every destroyer waits at most an hour: each comes round once.
		calls := clock.Advance(d)
		if !clock.waitAfterCalls(calls+len(tc.lc.Signers)-1, time.After(time.Minute)) {
			t.Fatal("the destroyers did not come round")
		}
	}
	signs("before removal")

	remove()
	refuses("at once after removal")
	if hasShareFile(tc, victim, key) || len(pendingFiles(tc, victim)) != 1 {
		t.Fatalf("after removal: share file %v, pending %v", hasShareFile(tc, victim, key), pendingFiles(tc, victim))
	}
	rr := removed()
	if len(rr.Removed) != 1 || rr.Removed[0].PublicKey != key || rr.Removed[0].Client != "admin" || rr.Removed[0].Due.Sub(rr.Removed[0].RemovedAt) != 24*time.Hour {
		t.Fatalf("removed: %+v", rr)
	}
	_, metrics := get(t, tc.url(victim, appliance.ListenerOperations, "/metrics"))
	for _, m := range []string{"rampart_accounts_pending_destruction 1", "rampart_accounts_next_destruction_seconds 86400"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	if _, health := get(t, tc.url(victim, appliance.ListenerOperations, "/healthcheck")); !strings.Contains(health, `"accounts_pending_destruction":{"count":1`) {
		t.Errorf("/healthcheck: %s", health)
	}
	// The other signers still hold their shares: the cluster still signs.
	req := attestationRequest(tc.net, 30, 31, 0x51)
	tc.checkSigned("with one share removed", tc.sign(0, key, req), key, req)

	// Restored before it is due: it signs again, nothing pends.
	advance(23 * time.Hour)
	if len(pendingFiles(tc, victim)) != 1 {
		t.Fatal("the share was destroyed before it was due")
	}
	if r := tc.adminDo(t, victim, "admin", http.MethodPost, "/rampart/v1/accounts/"+key.String()+"/restore", nil, token, ""); r.code != http.StatusOK {
		t.Fatalf("restore: %d %s", r.code, r.body)
	}
	signs("after restore")
	if !hasShareFile(tc, victim, key) || len(pendingFiles(tc, victim)) != 0 || len(removed().Removed) != 0 {
		t.Fatal("restore left the share pending")
	}
	if r := tc.adminDo(t, victim, "admin", http.MethodPost, "/rampart/v1/accounts/"+key.String()+"/restore", nil, token, ""); r.code != http.StatusConflict && r.code != http.StatusNotFound {
		t.Fatalf("second restore: %d %s", r.code, r.body)
	}

	// Removed again and left: once due, the destroyer deletes the share,
	// and nothing can bring it back.
	remove()
	refuses("after the second removal")
	advance(24*time.Hour + time.Second)
	// Waited for on the state: the HSM watch, the quorum probe and the
	// ceremonies wait on the same clock, so their After calls can make
	// advance return before the destroyer has come round. The destroyer
	// asks the clock again once it has destroyed what was due.
	for deadline := time.After(time.Minute); len(pendingFiles(tc, victim)) != 0; {
		if !clock.waitAfterCalls(clock.Advance(0), deadline) {
			t.Fatalf("the due share was not destroyed: %v", pendingFiles(tc, victim))
		}
	}
	if r := tc.adminDo(t, victim, "admin", http.MethodPost, "/rampart/v1/accounts/"+key.String()+"/restore", nil, token, ""); r.code != http.StatusNotFound {
		t.Fatalf("restore after destruction: %d %s", r.code, r.body)
	}
	refuses("after destruction")
	if len(removed().Removed) != 0 {
		t.Fatal("destroyed share still listed")
	}
}

// Attack (issue 13, item 2): GENERIC over the domain of a typed request
// gets the typed signature without the typed request's checks or grant:
// an exit, a deposit with other withdrawal credentials, a RANDAO reveal,
// a builder registration. Refused whoever asks, also a client granted
// GENERIC; an administrator gets no signing type at all.
func TestGenericIsRefusedInEveryTypedDomain(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 1, grantEverything("vc-1"))
	key := tc.keys[0]
	fork := tc.net.ForkAtEpoch(6)
	generic := func(d phase0.DomainType, genesis bool) []byte {
		domain := signing.ComputeDomain(d, fork.Version, tc.net.GenesisValidatorsRoot())
		if genesis {
			domain = signing.ComputeDomain(d, tc.net.GenesisForkVersion(), phase0.Root{})
		}
		return mustJSON(map[string]any{"type": "GENERIC", "signing_data": map[string]any{"object_root": hexRoot(0x66), "domain": fmt.Sprintf("%#x", domain[:])}})
	}
	for _, c := range []struct {
		name    string
		d       phase0.DomainType
		genesis bool
	}{
		{"voluntary exit", phase0.DomainType{0x04, 0, 0, 0}, false},
		{"deposit", phase0.DomainType{0x03, 0, 0, 0}, true},
		{"RANDAO", phase0.DomainType{0x02, 0, 0, 0}, false},
		{"application builder", phase0.DomainType{0, 0, 0, 0x01}, true},
		{"beacon proposer", phase0.DomainType{0x00, 0, 0, 0}, false},
		{"selection proof", phase0.DomainType{0x05, 0, 0, 0}, false},
		{"aggregate and proof", phase0.DomainType{0x06, 0, 0, 0}, false},
		{"sync committee", phase0.DomainType{0x07, 0, 0, 0}, false},
		{"sync committee selection proof", phase0.DomainType{0x08, 0, 0, 0}, false},
		{"contribution and proof", phase0.DomainType{0x09, 0, 0, 0}, false},
		{"BLS to execution change", phase0.DomainType{0x0a, 0, 0, 0}, false},
		{"a later fork's domain", phase0.DomainType{0x0c, 0, 0, 0}, false},
		{"Rampart's proof of possession", signing.DomainRampartProof, false},
	} {
		t.Run("refuses GENERIC in the "+c.name+" domain", func(t *testing.T) {
			req := generic(c.d, c.genesis)
			for i := range tc.lc.Signers {
				if r := tc.partialSign(i, key, req); r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "GENERIC refused") {
					t.Fatalf("participant %d to a client granted GENERIC: %d %s", i+1, r.code, r.body)
				}
				r := post(t, tc.client(i, "admin"), tc.url(i, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), req)
				if r.code != http.StatusForbidden {
					t.Fatalf("participant %d to the administrator: %d %s", i+1, r.code, r.body)
				}
			}
			if r := tc.sign(0, key, req); r.code != http.StatusBadRequest {
				t.Fatalf("coordinator: %d %s", r.code, r.body)
			}
		})
	}
	t.Run("an administrator may sign nothing", func(t *testing.T) {
		att := attestationRequest(tc.net, 5, 6, 0x67)
		for _, r := range []response{
			post(t, tc.client(0, "admin"), tc.url(0, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), att),
			post(t, tc.client(0, "admin"), tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), att),
			post(t, tc.client(0, "admin"), tc.url(0, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), generic(phase0.DomainType{'t', 'e', 's', 't'}, false)),
		} {
			if r.code != http.StatusForbidden {
				t.Fatalf("%d %s", r.code, r.body)
			}
		}
	})
	t.Run("a client granted GENERIC gets other domains", func(t *testing.T) {
		req := generic(phase0.DomainType{'t', 'e', 's', 't'}, false)
		sig, err := tc.clientSign(key, req)
		if err != nil {
			t.Fatal(err)
		}
		tc.checkSigned("GENERIC", response{http.StatusOK, mustJSON(api.SigningResponse{Signature: sig})}, key, req)
	})
}

// Attack: a compromised signer asks the others for a VOLUNTARY_EXIT or a
// DEPOSIT (its own withdrawal credentials) of a validator. Peers are
// granted duty types only.
func TestPeersGetNoExitOrDeposit(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 1)
	key := tc.keys[0]
	reqs := everyRequest(tc.net, key.String())
	for _, name := range []string{"VOLUNTARY_EXIT (capella)", "DEPOSIT", "GENERIC (a domain without a typed request)"} {
		for i := 1; i < 3; i++ {
			r := post(t, tc.identityClient(i, "signer-1"), tc.url(i, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), reqs[name])
			if r.code != http.StatusForbidden {
				t.Errorf("%s asked by signer 1 of signer %d: %d %s", name, i+1, r.code, r.body)
			}
		}
	}
	att := attestationRequest(tc.net, 7, 8, 0x68)
	if r := post(t, tc.identityClient(1, "signer-1"), tc.url(1, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+key.String()), att); r.code != http.StatusOK {
		t.Errorf("a duty asked by a peer: %d %s", r.code, r.body)
	}
}

// TestKeyGenerationStopsWhenTheTokenIsGone: the coordinating signer keeps
// the administrator's token in memory only, for the joins; restarted
// before every participant joined, it cannot send the plan again, and the
// ceremony fails saying to start again.
func TestKeyGenerationStopsWhenTheTokenIsGone(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 0)
	_, peers := admin(t, tc.lc)
	tc.stop(2)
	id, err := peers[0].StartCeremony(context.Background(), startRequest(t, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	tc.stop(0)
	tc.restart(0)
	tc.restart(2)
	st := waitCeremony(t, peers[0], id, 2*time.Minute)
	if st.Coordination.Stage != "aborted" || !strings.Contains(st.Coordination.Reason, "start the ceremony again") {
		t.Fatalf("%s: %s", st.Coordination.Stage, st.Coordination.Reason)
	}
}
