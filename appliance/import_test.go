package appliance_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
	"github.com/rampart-signer/rampart/tss/keystore"
)

// adminImporter is the importer rampartctl builds from the cluster file.
func (tc *testCluster) adminImporter(t testing.TB) *adminapi.Importer {
	t.Helper()
	var admins []adminapi.AccountAdmin
	for _, p := range tc.adminPeers(t) {
		admins = append(admins, p)
	}
	return &adminapi.Importer{Admins: admins, Threshold: 3, Network: tc.net, Rand: rand.Reader}
}

// adminPeers are rampartctl's administrative clients: the admin identity
// and the administrative token of the cluster file.
func (tc *testCluster) adminPeers(t testing.TB) []*adminapi.Client {
	t.Helper()
	_, peers := admin(t, tc.lc)
	return peers
}

// history is an EIP-3076 document: key attested source 28, target 30.
func history(t testing.TB, tc *testCluster, key api.PublicKey) *protect.Interchange {
	doc := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + testGVR + `"},"data":[{"pubkey":"` + key.String() + `","signed_blocks":[{"slot":"900"}],"signed_attestations":[{"source_epoch":"28","target_epoch":"30"}]}]}`
	ic, err := protect.ParseInterchange([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

func TestImportSplitsKeysAndKeepsTheirHistory(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 0)
	im := tc.adminImporter(t)
	secrets := make([]*bls.SecretKey, 3)
	var keys []adminapi.ImportKey
	for i := range secrets {
		secrets[i], _ = bls.GenerateSecretKey(rand.Reader)
		k := adminapi.ImportKey{Secret: secrets[i]}
		if i == 0 {
			k.History = history(t, tc, api.PublicKey(secrets[i].PublicKey().Bytes()))
		}
		keys = append(keys, k)
	}
	pubs, err := im.Import(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	// Signatures through the cluster equal the original keys' signatures.
	for i, pub := range pubs {
		req := attestationRequest(tc.net, 40, 41, byte(i))
		r := tc.sign(i%5, pub, req)
		tc.checkSigned("imported key", r, pub, req)
		var sr api.SigningResponse
		json.Unmarshal(r.body, &sr)
		parsed, _ := signing.ParseRequest(req)
		sg, _ := parsed.Verify(tc.net)
		if sr.Signature != api.Signature(secrets[i].Sign(sg.SigningRoot).Bytes()) {
			t.Errorf("key %d: cluster signature differs from the original key's", i)
		}
	}
	// The imported history holds at every signer.
	for name, req := range map[string][]byte{
		"refuses a double vote against imported history": attestationRequest(tc.net, 29, 30, 0x99),
		"refuses below the imported watermark":           attestationRequest(tc.net, 20, 25, 0x98),
		"refuses a block at the imported slot":           blockRequest(tc.net, 900, 0x97),
	} {
		if r := tc.sign(1, pubs[0], req); r.code != http.StatusPreconditionFailed {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
	// Importing the same key again is refused and changes nothing.
	if _, err := im.Import(context.Background(), keys[:1]); err == nil {
		t.Fatal("second import of the same key succeeded")
	}
	tc.checkSigned("still signs after the refused re-import", tc.sign(0, pubs[1], attestationRequest(tc.net, 41, 42, 1)), pubs[1], attestationRequest(tc.net, 41, 42, 1))
}

func TestImportLeavesNothingWhenAParticipantFails(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 0)
	im := tc.adminImporter(t)
	tc.stop(4)
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	pub := api.PublicKey(sk.PublicKey().Bytes())
	if _, err := im.Import(context.Background(), []adminapi.ImportKey{{Secret: sk}}); err == nil || !strings.Contains(err.Error(), "participant 5") {
		t.Fatalf("import with a signer down: %v", err)
	}
	for i := 0; i < 4; i++ {
		files, _ := filepath.Glob(filepath.Join(tc.lc.Signers[i].Config.Accounts.SharesDir, "*"))
		if len(files) != 0 {
			t.Errorf("signer %d kept %v", i+1, files)
		}
		if r := tc.sign(i, pub, attestationRequest(tc.net, 3, 4, 1)); r.code != http.StatusNotFound {
			t.Errorf("signer %d: %d %s", i+1, r.code, r.body)
		}
	}
}

func (tc *testCluster) keymanager(t testing.TB, i int, client, token, method string, body any) response {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(body))
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, tc.url(i, appliance.ListenerCoordinator, "/eth/v1/keystores"), rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := tc.client(i, client).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return response{resp.StatusCode, b.Bytes()}
}

func TestKeymanagerImportDeleteRoundTrip(t *testing.T) {
	tc := newTestCluster(t, 5, 3, 0, func(c *appliance.Config) { c.Keymanager = &appliance.KeymanagerConfig{} })
	token := tc.lc.AdminToken.Hex()
	sk, _ := bls.GenerateSecretKey(rand.Reader)
	pub := api.PublicKey(sk.PublicKey().Bytes())
	opts := keystore.DefaultOptions()
	opts.ScryptN = 1 << 10
	ks, err := keystore.Encrypt(rand.Reader, sk, []byte("correct horse"), opts)
	if err != nil {
		t.Fatal(err)
	}
	ksJSON, _ := json.Marshal(ks)
	hist, _ := history(t, tc, pub).Marshal()

	t.Run("refuses calls without a token", func(t *testing.T) {
		if r := tc.keymanager(t, 0, "admin", "", http.MethodGet, nil); r.code != http.StatusUnauthorized {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a wrong token", func(t *testing.T) {
		if r := tc.keymanager(t, 0, "admin", strings.Repeat("cd", 32), http.MethodGet, nil); r.code != http.StatusForbidden {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("refuses a client that is not an administrator", func(t *testing.T) {
		if r := tc.keymanager(t, 0, "vc-1", token, http.MethodGet, nil); r.code != http.StatusForbidden {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})

	r := tc.keymanager(t, 0, "admin", token, http.MethodPost, map[string]any{
		"keystores": []string{string(ksJSON)}, "passwords": []string{"correct horse"}, "slashing_protection": string(hist)})
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"imported"`) {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	req := attestationRequest(tc.net, 40, 41, 0x55)
	tc.checkSigned("imported through the keymanager API", tc.sign(2, pub, req), pub, req)
	if r := tc.sign(2, pub, attestationRequest(tc.net, 29, 30, 0x56)); r.code != http.StatusPreconditionFailed {
		t.Fatalf("imported history not enforced: %d", r.code)
	}
	if r := tc.keymanager(t, 0, "admin", token, http.MethodPost, map[string]any{"keystores": []string{string(ksJSON)}, "passwords": []string{"correct horse"}}); !strings.Contains(string(r.body), `"duplicate"`) {
		t.Fatalf("second POST: %d %s", r.code, r.body)
	}
	if r := tc.keymanager(t, 0, "admin", token, http.MethodGet, nil); !strings.Contains(string(r.body), pub.String()) {
		t.Fatalf("GET: %s", r.body)
	}

	// One signer down: the other four remove the key, more than the
	// n-t+1 = 3 whose histories hold every signature.
	tc.stop(4)
	r = tc.keymanager(t, 0, "admin", token, http.MethodDelete, map[string]any{"pubkeys": []string{pub.String()}})
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"deleted"`) {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	var del struct {
		SlashingProtection string `json:"slashing_protection"`
	}
	json.Unmarshal(r.body, &del)
	ic, err := protect.ParseInterchange([]byte(del.SlashingProtection))
	if err != nil {
		t.Fatal(err)
	}
	// The exported history holds what was signed after the import.
	found := false
	for _, v := range ic.Data {
		for _, a := range v.SignedAttestations {
			if a.TargetEpoch == 41 {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("exported history lacks the attestation signed at target 41: %s", del.SlashingProtection)
	}
	// No signer that answered holds the share any more: each participant
	// refuses, and so does every coordinator, also the one asked.
	for i := range 4 {
		rp := post(t, tc.client(i, "vc-1"), tc.url(i, appliance.ListenerParticipant, "/api/v1/eth2/distributed/sign/"+pub.String()), attestationRequest(tc.net, 45, 46, 1))
		if rp.code != http.StatusNotFound {
			t.Fatalf("participant %d after DELETE: %d %s", i+1, rp.code, rp.body)
		}
		if rc := tc.sign(i, pub, attestationRequest(tc.net, 45, 46, 1)); rc.code != http.StatusNotFound {
			t.Fatalf("coordinator %d after DELETE: %d %s", i+1, rc.code, rc.body)
		}
	}
	// With three of five signers down, a DELETE cannot vouch for a
	// complete history: an error, and no history.
	tc.stop(2)
	tc.stop(3)
	r = tc.keymanager(t, 0, "admin", token, http.MethodDelete, map[string]any{"pubkeys": []string{pub.String()}})
	if !strings.Contains(string(r.body), `"error"`) || !strings.Contains(string(r.body), "removed from 2 of 5 signers") {
		t.Fatalf("DELETE with three signers down: %s", r.body)
	}
	for i := 2; i < 5; i++ {
		tc.restart(i)
	}
	// All back: the retry removes the share signer 5 still held and
	// returns every signer's history.
	r = tc.keymanager(t, 0, "admin", token, http.MethodDelete, map[string]any{"pubkeys": []string{pub.String()}})
	if !strings.Contains(string(r.body), `"deleted"`) || !strings.Contains(string(r.body), `\"target_epoch\":\"41\"`) {
		t.Fatalf("DELETE with every signer back: %s", r.body)
	}
	r = tc.keymanager(t, 0, "admin", token, http.MethodDelete, map[string]any{"pubkeys": []string{pub.String()}})
	if !strings.Contains(string(r.body), `"not_active"`) {
		t.Fatalf("DELETE of a key no signer holds: %s", r.body)
	}
}
