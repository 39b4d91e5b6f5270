package appliance

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance/adminapi"
	"github.com/rampart-signer/rampart/appliance/ceremony"
	"github.com/rampart-signer/rampart/tss"
)

// ceremonyMux is the example signer's ceremony routes behind its real
// guards, with a ceremony service that knows no ceremony.
func ceremonyMux(t *testing.T) *http.ServeMux {
	t.Helper()
	a := exampleAppliance(t, nil)
	a.ceremonies = ceremony.New(ceremony.Config{Self: tss.ID(a.cfg.Node.ID), Dir: t.TempDir()}, ceremony.Deps{})
	a.authz.ceremonies = a.ceremonies
	mux := http.NewServeMux()
	for _, rt := range a.ceremonies.Routes() {
		mux.HandleFunc(rt.Pattern, a.ceremonyGuard(rt))
	}
	return mux
}

// asClient is a request whose verified certificate names client.
func asClient(method, path, client string, body []byte) *http.Request {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{DNSNames: []string{client}}}}}
	return r
}

// TestCeremonyMessagesNeedAParticipant (moved from the ceremony's message
// attacks): a client that is not a participant of the cluster is refused
// before its message is read; a participant gets through to the ceremony,
// which does not know this one.
func TestCeremonyMessagesNeedAParticipant(t *testing.T) {
	mux := ceremonyMux(t)
	path := adminapi.PathCeremonies + "/" + strings.Repeat("ab", 32) + "/messages"
	for _, tc := range []struct {
		name, client string
		code         int
	}{
		{"refuses a client that is not a participant", "vc-1.example.internal", http.StatusForbidden},
		{"lets a participant through to the ceremony", "signer-2.example.internal", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, asClient(http.MethodPost, path, tc.client, []byte(`{"message":"AA=="}`)))
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
		})
	}
}
