package vc_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/vc"
)

// TestPerValidatorProposerSettings: the keymanager API's fee recipient,
// gas limit and graffiti per validator (before, one global fee recipient
// and 404 for these endpoints): set, read back, refused when wrong,
// persisted across a restart, used in the proposer preparations and
// builder registrations, and deleted back to the configuration's.
func TestPerValidatorProposerSettings(t *testing.T) {
	e := newEnv(t, defaultEnv())
	settings := filepath.Join(t.TempDir(), "proposer-settings.json")
	token := "0123456789abcdef0123456789abcdef"
	mutate := func(c *vc.Config) {
		c.Builder.Enabled = true
		c.Keymanager.SettingsFile = settings
	}
	client, _, _, stop := e.start(t, mutate)
	srv := httptest.NewServer(client.KeymanagerHandler([]byte(token)))
	defer srv.Close()
	key := api.PublicKey(e.cluster.secrets[0].PublicKey().Bytes())
	call := func(method, path, auth, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	fee := "/eth/v1/validator/" + key.String() + "/feerecipient"
	// The client serves the key once it has discovered the accounts.
	waitFor(t, time.Minute, "the accounts discovered", func() bool { code, _ := call(http.MethodGet, fee, token, ""); return code == http.StatusOK })

	if code, body := call(http.MethodGet, fee, token, ""); !strings.Contains(body, `"ethaddress":"0x5241d0000000000000000000000000000000d0fe"`) {
		t.Fatalf("default fee recipient: %d %s", code, body)
	}
	own := "0x1111111111111111111111111111111111111111"
	for _, tc := range []struct {
		name, method, path, auth, body string
		code                           int
		want                           string
	}{
		{"refuses a request without the token", http.MethodPost, fee, "", `{"ethaddress":"` + own + `"}`, http.StatusUnauthorized, "bearer"},
		{"refuses a wrong token", http.MethodPost, fee, strings.Repeat("x", 32), `{"ethaddress":"` + own + `"}`, http.StatusForbidden, "invalid"},
		{"refuses a validator it does not serve", http.MethodGet, "/eth/v1/validator/0x" + strings.Repeat("ab", 48) + "/feerecipient", token, "", http.StatusNotFound, "not one this client serves"},
		{"refuses the placeholder fee recipient", http.MethodPost, fee, token, `{"ethaddress":"0x0000000000000000000000000000000000000001"}`, http.StatusBadRequest, "placeholder"},
		{"refuses a gas limit below the minimum", http.MethodPost, "/eth/v1/validator/" + key.String() + "/gas_limit", token, `{"gas_limit":"100"}`, http.StatusBadRequest, "minimum"},
		{"refuses a graffiti over 32 bytes", http.MethodPost, "/eth/v1/validator/" + key.String() + "/graffiti", token, `{"graffiti":"` + strings.Repeat("g", 33) + `"}`, http.StatusBadRequest, "32 bytes"},
		{"sets the fee recipient", http.MethodPost, fee, token, `{"ethaddress":"` + own + `"}`, http.StatusAccepted, ""},
		{"sets the gas limit", http.MethodPost, "/eth/v1/validator/" + key.String() + "/gas_limit", token, `{"gas_limit":"36000000"}`, http.StatusAccepted, ""},
		{"sets the graffiti", http.MethodPost, "/eth/v1/validator/" + key.String() + "/graffiti", token, `{"graffiti":"cluster seven"}`, http.StatusAccepted, ""},
		{"reads the gas limit", http.MethodGet, "/eth/v1/validator/" + key.String() + "/gas_limit", token, "", http.StatusOK, `"gas_limit":"36000000"`},
		{"reads the graffiti", http.MethodGet, "/eth/v1/validator/" + key.String() + "/graffiti", token, "", http.StatusOK, `"graffiti":"cluster seven"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(tc.method, tc.path, tc.auth, tc.body)
			if code != tc.code || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.want)) {
				t.Fatalf("%d %s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	// Used: the preparations and the builder registrations carry the
	// validator's own fee recipient and gas limit.
	ownHex := strings.TrimPrefix(own, "0x")
	waitFor(t, 2*time.Minute, "a registration with the validator's settings", func() bool {
		for _, s := range e.node.Submissions("/eth/v1/validator/register_validator") {
			if bytes.Contains(bytes.ToLower(s), []byte(ownHex)) && bytes.Contains(s, []byte(`"36000000"`)) {
				return true
			}
		}
		return false
	})
	waitFor(t, time.Minute, "a proposer preparation with the validator's fee recipient", func() bool {
		for _, s := range e.node.Submissions("/eth/v1/validator/prepare_beacon_proposer") {
			if bytes.Contains(bytes.ToLower(s), []byte(ownHex)) {
				return true
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(settings)
	if err != nil || !strings.Contains(string(data), ownHex) || !strings.Contains(string(data), "cluster seven") {
		t.Fatalf("settings file: %v\n%s", err, data)
	}
	if st, _ := os.Stat(settings); st.Mode().Perm() != 0o600 {
		t.Errorf("settings file mode %v", st.Mode().Perm())
	}

	// A restart keeps them; DELETE goes back to the configuration's.
	client2, _, _, _ := e.start(t, mutate)
	srv2 := httptest.NewServer(client2.KeymanagerHandler([]byte(token)))
	defer srv2.Close()
	srv = srv2
	waitFor(t, time.Minute, "the accounts discovered", func() bool { code, _ := call(http.MethodGet, fee, token, ""); return code == http.StatusOK })
	if _, body := call(http.MethodGet, fee, token, ""); !strings.Contains(body, own) {
		t.Fatalf("after a restart: %s", body)
	}
	if code, body := call(http.MethodDelete, fee, token, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	if _, body := call(http.MethodGet, fee, token, ""); !strings.Contains(body, "0x5241d0000000000000000000000000000000d0fe") {
		t.Fatalf("after delete: %s", body)
	}
}
