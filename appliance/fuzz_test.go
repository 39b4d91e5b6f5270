package appliance_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

// FuzzSignHandlers sends arbitrary bodies to every signing endpoint of a
// running signer: the answer is always a Remote Signing API status (never a
// 500 or a dropped connection), and a refused request changes nothing: no
// audit record, so no signature and no slashing record either.
func FuzzSignHandlers(f *testing.F) {
	lc := oneSigner(f, 1)
	s := lc.Signers[0]
	rs, err := s.Run(appliance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listeners: s.Listeners})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { rs.Stop() })
	if err := rs.Ready(2 * time.Minute); err != nil {
		f.Fatal(err)
	}

	entries, _ := os.ReadDir(s.Config.Accounts.SharesDir)
	key := strings.TrimSuffix(entries[0].Name(), appliance.ShareFileExt)
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(lc.CAPath)
	pool.AppendCertsFromPEM(ca)
	cl := lc.Client("vc-1")
	cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
	if err != nil {
		f.Fatal(err)
	}
	mtls := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: s.Name, Certificates: []tls.Certificate{cert}}}}
	urls := []struct {
		client *http.Client
		url    string
	}{
		{http.DefaultClient, "http://" + s.Config.Listen.CoordinatorInsecureLoopback + "/api/v1/eth2/sign/" + key},
		{http.DefaultClient, "http://" + s.Config.Listen.CoordinatorInsecureLoopback + "/api/v1/eth2/sign"},
		{mtls, "https://" + s.Config.Listen.Participant + "/api/v1/eth2/distributed/sign/" + key},
		{mtls, "https://" + s.Config.Listen.Participant + "/api/v1/eth2/distributed/sign"},
	}
	// Releases, not bytes: an HSM checkpoint of the audit chain may be
	// written at any time (the first one soon after a first signature).
	releases := func() int { return auditReleases(s.Config) }

	n := mustNetwork(f)
	good := attestationRequest(n, 3, 4, 0x10)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"ATTESTATION"}`))
	f.Add(bytes.Replace(good, []byte(`"target"`), []byte(`"targets"`), 1))
	f.Add(bytes.Replace(good, []byte(`"epoch":"4"`), []byte(`"epoch":"99999999999999999999"`), 1))
	f.Add([]byte(`{"identifiers":[],"signing_request":{}}`))
	f.Add([]byte(`{"identifiers":["` + key + `","` + strings.ToUpper(key) + `"],"signing_request":` + string(good) + `}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, u := range urls {
			before := releases()
			resp, err := u.client.Post(u.url, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", u.url, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				continue
			case 400, 403, 404, 412:
			default:
				t.Fatalf("%s: status %d for %q", u.url, resp.StatusCode, body)
			}
			if after := releases(); after != before {
				t.Fatalf("%s: refused request (%d) added %d release records to the audit log", u.url, resp.StatusCode, after-before)
			}
		}
	})
}
