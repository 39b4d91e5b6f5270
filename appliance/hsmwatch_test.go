package appliance_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/hsm"
)

// dropHSMSessions does to signer i's token what losing the HSM does: the
// module closes every session of the token in this process (another part
// of it calls C_CloseAllSessions), which ends the login and, in SoftHSM,
// invalidates the handles of private keys: the TLS key's among them.
func dropHSMSessions(t *testing.T, cfg *appliance.Config) {
	t.Helper()
	u, err := hsm.ParseURI(cfg.HSM.SealingKey)
	if err != nil {
		t.Fatal(err)
	}
	p := pkcs11.New(u.ModulePath)
	if p == nil {
		t.Fatal("cannot load the module")
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil && err != pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		t.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil && ti.Label == u.Token {
			if err := p.CloseAllSessions(s); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no token %q", u.Token)
}

// TestHSMSessionLostUnderARunningSignerIsReopened is the chaos run's
// hsm-lost finding (docs/reliability.md), against real SoftHSM: the
// signer's HSM sessions die under it while it serves. Before, every new
// TLS handshake failed from then on (C_Sign: CKR_OBJECT_HANDLE_INVALID),
// also once the token was back, until a restart, while /healthcheck said
// UP. Now the first failed handshake makes the HSM watch reopen the token
// and the next handshakes succeed. The periodic probe is set to an hour,
// so only the failed handshake can have brought it back.
func TestHSMSessionLostUnderARunningSignerIsReopened(t *testing.T) {
	tc := newTestCluster(t, 1, 1, 1, func(c *appliance.Config) { c.HSM.CheckInterval = time.Hour })
	s := tc.lc.Signers[0]
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(tc.lc.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	cl := tc.lc.Client("vc-1")
	cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	handshake := func() error {
		conn, err := tls.Dial("tcp", s.Config.Listen.Coordinator, &tls.Config{
			RootCAs: pool, ServerName: s.Name, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if err := handshake(); err != nil {
		t.Fatalf("handshake with a healthy token: %v", err)
	}

	dropHSMSessions(t, s.Config)
	failed := false
	deadline := time.Now().Add(time.Minute)
	for {
		err := handshake()
		if err == nil {
			break
		}
		failed = true
		if time.Now().After(deadline) {
			t.Fatalf("no TLS handshake succeeded within a minute of the HSM sessions' loss: %v", err)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
	if !failed {
		t.Error("no handshake failed after the sessions were dropped: the test did not lose the token")
	}
	if code, body := get(t, tc.url(0, appliance.ListenerOperations, "/healthcheck")); code != 200 || !strings.Contains(body, `"hsm":{"status":"UP"}`) {
		t.Errorf("/healthcheck after the token was reopened: %d %s", code, body)
	}
}
