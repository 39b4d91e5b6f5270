package appliance_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/appliance"
)

// tightLimits makes the listener limits small enough to reach in a test.
func tightLimits(c *appliance.Config) {
	l := &c.Listen.Limits
	l.ReadBodyTimeout = time.Second
	l.MaxConnections.CoordinatorInsecureLoopback = 3
	l.MaxConnections.Participant = 3
	l.HTTP2MaxConcurrentStreams = 17
	l.MaxHeaderBytes = 8192
}

// safety bounds every read of these tests, so that a server that never
// answers (the holes they test for) fails the test instead of hanging it.
// No test asserts how long anything took.
const safety = 20 * time.Second

// dialTLS opens an HTTP/1.1 TLS connection to signer i's listener as name.
func (tc *testCluster) dialTLS(t *testing.T, i int, listener, name string, protos ...string) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(tc.lc.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	cl := tc.lc.Client(name)
	cert, err := tls.LoadX509KeyPair(cl.CertPath, cl.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(protos) == 0 {
		protos = []string{"http/1.1"}
	}
	addr := strings.TrimPrefix(tc.url(i, listener, ""), "https://")
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: safety}, "tcp", addr, &tls.Config{
		RootCAs: pool, ServerName: tc.lc.Signers[i].Name, Certificates: []tls.Certificate{cert},
		MinVersion: tls.VersionTLS13, NextProtos: protos,
	})
	if err != nil {
		t.Fatalf("TLS to %s as %s: %v", listener, name, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(safety))
	return c
}

func (tc *testCluster) dialPlain(t *testing.T, i int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tc.lc.Signers[i].Config.Listen.CoordinatorInsecureLoopback, safety)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(safety))
	return c
}

// startSlowPost sends a POST announcing a body of size bytes and sends only
// its first byte.
func startSlowPost(t *testing.T, c net.Conn, path string, size int) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: signer\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", path, size); err != nil {
		t.Fatal(err)
	}
}

// answerThenClose reads one response, then expects the server to close
// the connection.
func answerThenClose(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed after the answer (read: %v)", err)
	}
	return resp, string(body)
}

// metricValue reads one sample from signer i's /metrics ("" when absent).
func (tc *testCluster) metricValue(t *testing.T, i int, series string) string {
	t.Helper()
	_, body := get(t, tc.url(i, appliance.ListenerOperations, "/metrics"))
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// waitMetric waits until a sample has a value.
func (tc *testCluster) waitMetric(t *testing.T, i int, series, want string) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for tc.metricValue(t, i, series) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %s (now %q)", series, want, tc.metricValue(t, i, series))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowClientsCannotHoldTheListeners replays the slow-client attack of
// issue 13 against each defence: a client the policy denies everything
// announces an 8 MiB body and sends one byte (it must be answered 403 and
// disconnected without its body being read), an authorised client sends
// its body too slowly (it must be cut at listen.limits.read_body_timeout),
// and a client opens more connections than a listener's cap (the extra one
// must be refused).
func TestSlowClientsCannotHoldTheListeners(t *testing.T) {
	tc := newTestCluster(t, 1, 1, 1, tightLimits)
	key := tc.keys[0].String()

	for _, l := range []struct{ listener, route, path string }{
		{appliance.ListenerCoordinator, "sign", "/api/v1/eth2/sign/" + key},
		{appliance.ListenerCoordinator, "batch", "/api/v1/eth2/sign"},
		{appliance.ListenerCoordinator, "keymanager", "/eth/v1/keystores"},
		{appliance.ListenerParticipant, "sign", "/api/v1/eth2/distributed/sign/" + key},
		{appliance.ListenerParticipant, "stage", "/rampart/v1/accounts"},
		{appliance.ListenerParticipant, "ceremony message", "/rampart/v1/ceremonies/0x00/messages"},
	} {
		t.Run("an unauthorised client is refused before its body on "+l.listener+" "+l.route, func(t *testing.T) {
			c := tc.dialTLS(t, 0, l.listener, "intruder")
			startSlowPost(t, c, l.path, 8<<20)
			resp, body := answerThenClose(t, c)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no role") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}

	t.Run("an unauthorised client is refused before its body over HTTP/2", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() { _, _ = pw.Write([]byte("{")) }()
		req, err := http.NewRequest(http.MethodPost, tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 8 << 20
		resp, err := tc.client(0, "intruder").Do(req)
		if err != nil {
			t.Fatalf("no answer while the body is incomplete: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.ProtoMajor != 2 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
	})

	t.Run("an authorised client's slow body is cut at read_body_timeout", func(t *testing.T) {
		for name, c := range map[string]net.Conn{
			"TLS":      tc.dialTLS(t, 0, appliance.ListenerCoordinator, "vc-1"),
			"loopback": tc.dialPlain(t, 0),
		} {
			startSlowPost(t, c, "/api/v1/eth2/sign/"+key, 4096)
			resp, body := answerThenClose(t, c)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "read_body_timeout") {
				t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
			}
		}
		if v := tc.metricValue(t, 0, `rampart_signer_refusals_total{reason="body_timeout"}`); v != "2" {
			t.Errorf("body_timeout refusals: %q, want 2", v)
		}
		if v := tc.metricValue(t, 0, `rampart_signer_listener_requests_refused_total{listener="participant",reason="no_role"}`); v == "" || v == "0" {
			t.Errorf("no_role refusals on the participant listener: %q", v)
		}
	})

	t.Run("a connection over the listener's cap is refused", func(t *testing.T) {
		tc.waitMetric(t, 0, `rampart_signer_listener_connections{listener="coordinator_insecure_loopback"}`, "0")
		for range 3 {
			c := tc.dialPlain(t, 0)
			if _, err := io.WriteString(c, "GET /upcheck HTTP/1.1\r\nHost: signer\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("connection within the cap: %v %v", err, resp)
			}
			resp.Body.Close()
		}
		resp, body := answerThenClose(t, tc.dialPlain(t, 0))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "max_connections") {
			t.Fatalf("extra connection: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}

		tc.waitMetric(t, 0, `rampart_signer_listener_connections{listener="participant"}`, "0")
		for range 3 {
			c := tc.dialTLS(t, 0, appliance.ListenerParticipant, "vc-1")
			if _, err := io.WriteString(c, "GET /upcheck HTTP/1.1\r\nHost: signer\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("TLS connection within the cap: %v %v", err, resp)
			}
		}
		if v := tc.metricValue(t, 0, `rampart_signer_listener_connections{listener="participant"}`); v != "3" {
			t.Errorf("open participant connections: %q", v)
		}
		c, err := net.DialTimeout("tcp", tc.lc.Signers[0].Config.Listen.Participant, safety)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(safety))
		tlsc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if err := tlsc.Handshake(); err == nil {
			t.Fatal("a TLS connection over the cap completed its handshake")
		}
		for _, m := range []string{
			`rampart_signer_listener_connections_rejected_total{listener="coordinator_insecure_loopback"}`,
			`rampart_signer_listener_connections_rejected_total{listener="participant"}`,
		} {
			if v := tc.metricValue(t, 0, m); v != "1" {
				t.Errorf("%s = %q, want 1", m, v)
			}
		}
	})

	t.Run("HTTP/2 advertises the configured stream, frame and header limits", func(t *testing.T) {
		c := tc.dialTLS(t, 0, appliance.ListenerCoordinator, "vc-1", "h2")
		if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("negotiated %q", p)
		}
		if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
			t.Fatal(err)
		}
		settings := readSettings(t, bufio.NewReader(c))
		for id, want := range map[uint16]uint32{3: 17, 5: 16 << 10} {
			if settings[id] != want {
				t.Errorf("SETTINGS %#x = %d, want %d (all: %v)", id, settings[id], want, settings)
			}
		}
		if settings[6] == 0 || settings[6] > 16<<10 {
			t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE %d, want at most 16 KiB", settings[6])
		}
	})
}

// readSettings reads HTTP/2 frames until the server's first SETTINGS frame
// and returns its parameters.
func readSettings(t *testing.T, r *bufio.Reader) map[uint16]uint32 {
	t.Helper()
	for {
		var h [9]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatal(err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatal(err)
		}
		if h[3] != 4 || h[4]&1 != 0 {
			continue
		}
		out := map[uint16]uint32{}
		for i := 0; i+6 <= n; i += 6 {
			out[uint16(payload[i])<<8|uint16(payload[i+1])] = uint32(payload[i+2])<<24 | uint32(payload[i+3])<<16 | uint32(payload[i+4])<<8 | uint32(payload[i+5])
		}
		return out
	}
}
