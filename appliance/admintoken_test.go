package appliance_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/internal/files"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/protect"
)

// single is a started 1-of-1 signer for tests of start-up.
type single struct {
	t    testing.TB
	lc   *localcluster.Cluster
	stop func() error
}

// startSingle starts signer 1 of lc, or returns Run's error if it stops
// while starting.
func startSingle(t testing.TB, lc *localcluster.Cluster, opts appliance.Options) (*single, error) {
	t.Helper()
	s := lc.Signers[0]
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Listeners = s.Listeners
	rs, err := s.Run(opts)
	if err != nil {
		return nil, err
	}
	if err := rs.Ready(2 * time.Minute); err != nil {
		return nil, errors.Join(err, rs.Stop())
	}
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		err := rs.Stop()
		// The listeners are closed; bind them again for a restart.
		for name, l := range s.Listeners {
			nl, lerr := net.Listen("tcp", l.Addr().String())
			if lerr != nil {
				t.Fatal(lerr)
			}
			s.Listeners[name] = nl
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return &single{t: t, lc: lc, stop: stop}, nil
}

// adminRequest sends an administrative request to the single signer with
// the operator's certificate and token.
func (s *single) adminRequest(method, path, token string) response {
	s.t.Helper()
	sig := s.lc.Signers[0]
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(s.lc.CAPath)
	pool.AppendCertsFromPEM(ca)
	cl := s.lc.Client("admin")
	cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
	if err != nil {
		s.t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: sig.Name, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(method, "https://"+sig.Config.Listen.Participant+path, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

func (s *single) sign(key string, epoch uint64) int {
	s.t.Helper()
	req := attestationRequest(mustNetwork(s.t), epoch-1, epoch, 0x21)
	resp, err := http.Post("http://"+s.lc.Signers[0].Config.Listen.CoordinatorInsecureLoopback+"/api/v1/eth2/sign/"+key, "application/json", strings.NewReader(string(req)))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func verifierPath(lc *localcluster.Cluster) string {
	return strings.TrimPrefix(lc.Signers[0].Config.Admin.Token, "file:")
}

// Issue 13, item 5: the administrative token's file is read like the
// PIN's: owner-only, or refused with a precise error.
func TestAdminTokenFileMustBeOwnerOnly(t *testing.T) {
	lc := oneSigner(t, 1)
	if err := os.Chmod(verifierPath(lc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := startSingle(t, lc, appliance.Options{})
	if err == nil || !strings.Contains(err.Error(), "admin.token") || !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Run: %v", err)
	}
}

func TestAdminTokenSources(t *testing.T) {
	t.Run("a verifier: the token works, another does not", func(t *testing.T) {
		lc := oneSigner(t, 0)
		s, err := startSingle(t, lc, appliance.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := os.ReadFile(verifierPath(lc)); !strings.HasPrefix(string(raw), "sha256:") {
			t.Fatalf("the signer's file holds %q, not a verifier", raw)
		}
		if r := s.adminRequest(http.MethodGet, "/rampart/v1/accounts/removed", lc.AdminToken.Hex()); r.code != http.StatusOK {
			t.Fatalf("%d %s", r.code, r.body)
		}
		if r := s.adminRequest(http.MethodGet, "/rampart/v1/accounts/removed", strings.Repeat("ef", 32)); r.code != http.StatusForbidden {
			t.Fatalf("wrong token: %d %s", r.code, r.body)
		}
	})
	t.Run("the token itself", func(t *testing.T) {
		lc := oneSigner(t, 0)
		if err := os.WriteFile(verifierPath(lc), []byte(lc.AdminToken.Hex()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := startSingle(t, lc, appliance.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.adminRequest(http.MethodGet, "/rampart/v1/accounts/removed", lc.AdminToken.Hex()); r.code != http.StatusOK {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("a systemd credential", func(t *testing.T) {
		lc := oneSigner(t, 0)
		creds := t.TempDir()
		if err := os.WriteFile(filepath.Join(creds, "admin-token"), []byte(lc.AdminToken.Verifier()), 0o400); err != nil {
			t.Fatal(err)
		}
		lc.Signers[0].Config.Admin.Token = "credential:admin-token"
		s, err := startSingle(t, lc, appliance.Options{CredentialsDir: creds})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.adminRequest(http.MethodGet, "/rampart/v1/accounts/removed", lc.AdminToken.Hex()); r.code != http.StatusOK {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	for _, c := range []struct{ name, content, want string }{
		{"refuses a short token", strings.Repeat("ab", 16), "32 to 128 random bytes"},
		{"refuses a malformed verifier", "sha256:1234", "64 hex digits"},
		{"refuses an empty file", "\n", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lc := oneSigner(t, 0)
			if err := os.WriteFile(verifierPath(lc), []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := startSingle(t, lc, appliance.Options{}); err == nil || !strings.Contains(err.Error(), "admin.token") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

func shareKeys(t testing.TB, lc *localcluster.Cluster) []string {
	entries, err := os.ReadDir(lc.Signers[0].Config.Accounts.SharesDir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		if k, ok := strings.CutSuffix(e.Name(), appliance.ShareFileExt); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// setEnabled disables or enables key in the stopped signer's slashing
// protection database, as a crash in the middle of a removal or a restore
// leaves it.
func setEnabled(t testing.TB, lc *localcluster.Cluster, key string, enabled bool) {
	t.Helper()
	db, err := protect.Open(context.Background(), lc.Signers[0].Config.Slashing.Database, protect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k, err := api.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if enabled {
		err = db.Enable(context.Background(), protect.PublicKey(k))
	} else {
		err = db.Disable(context.Background(), protect.PublicKey(k))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A crash after slashing protection disabled a removed key and before its
// share file moved: the next start finishes the removal, never signs
// with it, and keeps the share for the grace period.
func TestStartupFinishesAnInterruptedRemoval(t *testing.T) {
	lc := oneSigner(t, 2)
	keys := shareKeys(t, lc)
	setEnabled(t, lc, keys[0], false)
	s, err := startSingle(t, lc, appliance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if code := s.sign(keys[0], 5); code != http.StatusNotFound {
		t.Errorf("the interrupted removal's key: %d", code)
	}
	if code := s.sign(keys[1], 5); code != http.StatusOK {
		t.Errorf("another key: %d", code)
	}
	r := s.adminRequest(http.MethodGet, "/rampart/v1/accounts/removed", lc.AdminToken.Hex())
	var rr adminapi.RemovedResponse
	if err := json.Unmarshal(r.body, &rr); err != nil || len(rr.Removed) != 1 || rr.Removed[0].PublicKey.String() != keys[0] || !strings.Contains(rr.Removed[0].Client, "interrupted") {
		t.Fatalf("removed: %d %s", r.code, r.body)
	}
	// Restorable like any removal.
	if r := s.adminRequest(http.MethodPost, "/rampart/v1/accounts/"+keys[0]+"/restore", lc.AdminToken.Hex()); r.code != http.StatusOK {
		t.Fatalf("restore: %d %s", r.code, r.body)
	}
	if code := s.sign(keys[0], 6); code != http.StatusOK {
		t.Errorf("restored key: %d", code)
	}
}

// A crash in a restore, after the share file came back: with the key
// still disabled the restore did not happen (the removal stands); with the
// key enabled it did (the pending record goes).
func TestStartupFinishesAnInterruptedRestore(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		name := map[bool]string{false: "before slashing protection enabled the key", true: "after slashing protection enabled the key"}[enabled]
		t.Run(name, func(t *testing.T) {
			lc := oneSigner(t, 1)
			key := shareKeys(t, lc)[0]
			s, err := startSingle(t, lc, appliance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r := s.adminRequest(http.MethodDelete, "/rampart/v1/accounts/"+key, lc.AdminToken.Hex()); r.code != http.StatusOK {
				t.Fatalf("DELETE: %d %s", r.code, r.body)
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			// Put the share file back as the restore does first.
			dir := lc.Signers[0].Config.Accounts.SharesDir
			records, _ := filepath.Glob(filepath.Join(dir, "*"+files.PendingExt))
			if len(records) != 1 {
				t.Fatalf("records %v", records)
			}
			raw, _ := os.ReadFile(records[0])
			var rec struct {
				Share []byte `json:"share"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, key+appliance.ShareFileExt), rec.Share, 0o600); err != nil {
				t.Fatal(err)
			}
			if enabled {
				setEnabled(t, lc, key, true)
			}
			s, err = startSingle(t, lc, appliance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			records, _ = filepath.Glob(filepath.Join(dir, "*"+files.PendingExt))
			_, statErr := os.Stat(filepath.Join(dir, key+appliance.ShareFileExt))
			code := s.sign(key, 9)
			if enabled {
				if code != http.StatusOK || len(records) != 0 || statErr != nil {
					t.Fatalf("restore not finished: sign %d, records %v, share file %v", code, records, statErr)
				}
				return
			}
			if code != http.StatusNotFound || len(records) != 1 || statErr == nil {
				t.Fatalf("removal not kept: sign %d, records %v, share file %v", code, records, statErr)
			}
		})
	}
}
