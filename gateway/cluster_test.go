package gateway_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/gateway"
	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/bls"
	"github.com/rampart-signer/rampart/internal/signing"
)

// verifies checks that sig is key's signature of the request's signing
// root, computed here from the request as a validator client would.
func verifies(t *testing.T, c *cluster, key api.PublicKey, req map[string]any, sig api.Signature) {
	t.Helper()
	parsed, err := signing.ParseRequest(mustJSON(req))
	if err != nil {
		t.Fatal(err)
	}
	sg, err := parsed.Verify(c.net)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := bls.PublicKeyFromBytes(key[:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := bls.SignatureFromBytes(sig[:])
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Verify(sg.SigningRoot, s) {
		t.Fatalf("the gateway's signature does not verify under %s", key)
	}
}

func (tg *testGateway) sign(key api.PublicKey, req map[string]any) (int, api.Signature, string) {
	tg.t.Helper()
	code, body := tg.do(http.MethodPost, "/api/v1/eth2/sign/"+key.String(), mustJSON(req))
	if code != http.StatusOK {
		var e api.Error
		if err := json.Unmarshal(body, &e); err != nil || e.Code != code {
			tg.t.Fatalf("status %d with a body that is no error object: %s", code, body)
		}
		return code, api.Signature{}, e.Message
	}
	sr, err := api.DecodeSigningResponse(body)
	if err != nil {
		tg.t.Fatalf("%s: %v", body, err)
	}
	return code, sr.Signature, ""
}

func (tg *testGateway) health() (int, gateway.HealthReport) {
	tg.t.Helper()
	code, body := tg.do(http.MethodGet, "/healthcheck", nil)
	var r gateway.HealthReport
	if err := json.Unmarshal(body, &r); err != nil {
		tg.t.Fatalf("/healthcheck: %v: %s", err, body)
	}
	return code, r
}

// TestGatewaySignsThroughAThresholdOfRealSigners runs the gateway against
// five real signers (3-of-5) over mutual TLS: it signs, in one hop to
// every signer; with two signers down (signer 1 among them: none is
// special) it still signs and is healthy; with three down it answers 503
// saying which signers failed and how many partials it had, and its health
// fails; a second, conflicting block is refused with 412 saying how many
// signers refused and why, once.
func TestGatewaySignsThroughAThresholdOfRealSigners(t *testing.T) {
	c := startCluster(t, 5, 3, 3)
	tg := c.newGateway(gatewayClient, nil)

	t.Run("lists the cluster's accounts", func(t *testing.T) {
		code, body := tg.do(http.MethodGet, "/api/v1/eth2/publicKeys", nil)
		var keys []string
		if code != http.StatusOK || json.Unmarshal(body, &keys) != nil || len(keys) != len(c.keys) {
			t.Fatalf("%d %s; want the %d keys", code, body, len(c.keys))
		}
		for _, k := range c.keys {
			if !strings.Contains(string(body), k.String()) {
				t.Errorf("key %s not listed", k)
			}
		}
	})

	t.Run("signs an attestation that verifies under the validator key", func(t *testing.T) {
		req := attestation(c.net, 4, 5, 0x11)
		code, sig, msg := tg.sign(c.keys[0], req)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, msg)
		}
		verifies(t, c, c.keys[0], req, sig)
	})

	t.Run("answers text/plain to a client that asks only for it", func(t *testing.T) {
		req := attestation(c.net, 4, 5, 0x11)
		code, body := tg.do(http.MethodPost, "/api/v1/eth2/sign/"+c.keys[0].String(), mustJSON(req), "Accept", "text/plain")
		var sig api.Signature
		if code != http.StatusOK || sig.UnmarshalText(body) != nil {
			t.Fatalf("%d %q; want the bare signature", code, body)
		}
		verifies(t, c, c.keys[0], req, sig)
	})

	t.Run("signs a batch for every key", func(t *testing.T) {
		req := attestation(c.net, 5, 6, 0x12)
		ids := make([]string, len(c.keys))
		for i, k := range c.keys {
			ids[i] = k.String()
		}
		code, body := tg.do(http.MethodPost, "/api/v1/eth2/sign", mustJSON(map[string]any{"identifiers": ids, "signing_request": req}))
		rs, err := api.DecodeBatchResults(body)
		if code != http.StatusOK || err != nil || len(rs) != len(c.keys) {
			t.Fatalf("%d %s %v", code, body, err)
		}
		for i, r := range rs {
			if r.Signature == nil || r.Identifier != c.keys[i] {
				t.Fatalf("item %d: %+v", i, r)
			}
			verifies(t, c, c.keys[i], req, *r.Signature)
		}
	})

	t.Run("is healthy with every signer answering", func(t *testing.T) {
		tg.gw.Probe(t.Context())
		code, r := tg.health()
		if code != http.StatusOK || r.Checks["signers"].Detail != "5 of 5 signers answer; 3 needed" {
			t.Fatalf("%d %+v", code, r)
		}
	})

	t.Run("still signs and is healthy with t-1 signers down, signer 1 among them", func(t *testing.T) {
		c.stop(0)
		c.stop(1)
		req := attestation(c.net, 6, 7, 0x13)
		code, sig, msg := tg.sign(c.keys[1], req)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, msg)
		}
		verifies(t, c, c.keys[1], req, sig)
		tg.gw.Probe(t.Context())
		code, r := tg.health()
		if code != http.StatusOK || r.Checks["signers"].Detail != "3 of 5 signers answer; 3 needed" || r.Signers["1"].Status != "DOWN" {
			t.Fatalf("%d %+v", code, r)
		}
	})

	t.Run("answers 503 naming the failed signers with n-t+1 down, and health fails", func(t *testing.T) {
		c.stop(2)
		code, _, msg := tg.sign(c.keys[1], attestation(c.net, 7, 8, 0x14))
		if code != http.StatusServiceUnavailable {
			t.Fatalf("%d %s; want 503", code, msg)
		}
		t.Logf("503: %s", msg)
		for _, want := range []string{
			"coordinator: no signature: 2 valid partial signatures, 3 needed",
			"3 of 5 signers failed: ",
			"(participants 1, 2, 3)",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		tg.gw.Probe(t.Context())
		code, r := tg.health()
		if code != http.StatusServiceUnavailable || r.Status != "DOWN" || !strings.HasPrefix(r.Checks["signers"].Error, "2 of 5 signers answer; 3 needed, for 3 of 3 accounts: signer 1: ") {
			t.Fatalf("%d %+v", code, r)
		}
	})

	t.Run("signs again once the signers are back", func(t *testing.T) {
		for i := range 3 {
			c.start(i)
		}
		tg.gw.Probe(t.Context())
		if code, r := tg.health(); code != http.StatusOK {
			t.Fatalf("%d %+v", code, r)
		}
		if code, _, msg := tg.sign(c.keys[2], attestation(c.net, 8, 9, 0x15)); code != http.StatusOK {
			t.Fatalf("%d %s", code, msg)
		}
	})

	t.Run("refuses a double proposal with 412, saying how many refused and why once", func(t *testing.T) {
		slot := uint64(5*32 + 3)
		if code, _, msg := tg.sign(c.keys[0], block(c.net, slot, 0x21)); code != http.StatusOK {
			t.Fatalf("first block: %d %s", code, msg)
		}
		code, _, msg := tg.sign(c.keys[0], block(c.net, slot, 0x22))
		if code != http.StatusPreconditionFailed {
			t.Fatalf("second block: %d %s; want 412", code, msg)
		}
		t.Logf("412: %s", msg)
		// Signers asked for the first block after the threshold answered
		// may record it after the second arrives; each signer signs one of
		// the two at most, so three or more refuse.
		m := regexp.MustCompile(`no signature: (\d) valid partial signatures?, 3 needed; (\d) of 5 signers refused \(status 412\): [^;]*double proposal[^;]*\(participants [0-9, ]+\)`).FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("message %q does not say how many refused and why", msg)
		}
		valid, refused := atoi(m[1]), atoi(m[2])
		if refused < 3 || valid+refused != 5 {
			t.Errorf("%d valid and %d refusals; want at least 3 refusals out of 5", valid, refused)
		}
		if k := strings.Count(msg, "double proposal"); k != 1 {
			t.Errorf("the reason is given %d times in %q; want once", k, msg)
		}
	})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestGatewayRefusesBeforeAskingTheSigners: what the configuration does not
// grant, and what every signer would refuse as malformed or foreign, is
// refused by the gateway itself, with a status and a message naming the
// problem, and no signer is asked.
func TestGatewayRefusesBeforeAskingTheSigners(t *testing.T) {
	c := startCluster(t, 3, 2, 2)
	tg := c.newGateway(gatewayClient, nil)
	narrow := c.newGateway(gatewayClient, func(cfg *gateway.Config) {
		cfg.Accounts = gateway.Selector{List: []string{c.keys[0].String()}}
		cfg.Types = gateway.Selector{All: true}
	})
	exit := map[string]any{"type": "VOLUNTARY_EXIT", "fork_info": forkInfo(c.net, 5), "voluntary_exit": map[string]any{"epoch": "5", "validator_index": "9"}}
	wrongNet := attestation(c.net, 4, 5, 0x31)
	wrongNet["fork_info"].(map[string]any)["genesis_validators_root"] = hexRoot(0x99)
	wrongRoot := attestation(c.net, 4, 5, 0x32)
	wrongRoot["signingRoot"] = hexRoot(0x77)
	f := c.net.ForkAtEpoch(phase0.Epoch(5))
	attesterDomain := signing.ComputeDomain(phase0.DomainType{0x01, 0, 0, 0}, f.Version, c.net.GenesisValidatorsRoot())
	generic := map[string]any{"type": "GENERIC", "signing_data": map[string]any{"object_root": hexRoot(6), "domain": "0x" + hex.EncodeToString(attesterDomain[:])}}

	for _, tc := range []struct {
		name string
		gw   *testGateway
		path string
		body []byte
		code int
		want string
	}{
		{"refuses an exit, not granted by default", tg, c.keys[0].String(), mustJSON(exit), 403, "VOLUNTARY_EXIT requests are not granted"},
		{"refuses an account the configuration does not grant", narrow, c.keys[1].String(), mustJSON(attestation(c.net, 4, 5, 0x33)), 403, "is not granted to the local validator client"},
		{"refuses a malformed request naming the field", tg, c.keys[0].String(), []byte(`{"type":"ATTESTATION","fork_info":{}}`), 400, "fork_info"},
		{"refuses a request for another network", tg, c.keys[0].String(), mustJSON(wrongNet), 400, "genesis"},
		{"refuses a signing root it did not compute", tg, c.keys[0].String(), mustJSON(wrongRoot), 400, "signing root"},
		{"refuses GENERIC in the attester domain", narrow, c.keys[0].String(), mustJSON(generic), 400, "GENERIC requests in the beacon proposer or attester domain are refused"},
		{"refuses a malformed identifier", tg, "0x1234", mustJSON(attestation(c.net, 4, 5, 0x34)), 400, "identifier"},
		{"refuses a body that is not JSON", tg, c.keys[0].String(), []byte("attest please"), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.gw.calls()
			code, body := tc.gw.do(http.MethodPost, "/api/v1/eth2/sign/"+tc.path, tc.body)
			var e api.Error
			if code != tc.code || json.Unmarshal(body, &e) != nil || e.Code != tc.code || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("%d %s; want %d with %q", code, body, tc.code, tc.want)
			}
			if after := tc.gw.calls(); after != before {
				t.Fatalf("the signers were asked %v times", after-before)
			}
		})
	}

	t.Run("refuses in a batch only the items not granted", func(t *testing.T) {
		before := narrow.calls()
		req := attestation(c.net, 5, 6, 0x35)
		code, body := narrow.do(http.MethodPost, "/api/v1/eth2/sign", mustJSON(map[string]any{"identifiers": []string{c.keys[0].String(), c.keys[1].String()}, "signing_request": req}))
		rs, err := api.DecodeBatchResults(body)
		if code != http.StatusOK || err != nil || len(rs) != 2 {
			t.Fatalf("%d %s %v", code, body, err)
		}
		if rs[0].Signature == nil || rs[1].Error == nil || rs[1].Error.Code != 403 {
			t.Fatalf("results %+v; want the first signed and the second refused with 403", rs)
		}
		verifies(t, c, c.keys[0], req, *rs[0].Signature)
		if narrow.calls()-before != 3 {
			t.Fatalf("%v calls for one granted item over 3 signers", narrow.calls()-before)
		}
	})

	t.Run("lists only the granted accounts", func(t *testing.T) {
		_, body := narrow.do(http.MethodGet, "/api/v1/eth2/publicKeys", nil)
		if string(body) != fmt.Sprintf("[%q]\n", c.keys[0].String()) {
			t.Fatalf("listed %s", body)
		}
	})

	t.Run("counts a client that hangs up mid-body as gone, not as a bad request", func(t *testing.T) {
		bad := tg.metric("rampart_gateway_refusals_total", "bad_request")
		conn, err := net.Dial("tcp", strings.TrimPrefix(tg.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /api/v1/eth2/sign/%s HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"type\":", c.keys[0])
		conn.Close()
		for deadline := time.Now().Add(time.Minute); tg.metric("rampart_gateway_refusals_total", "client_gone") == 0; {
			if time.Now().After(deadline) {
				t.Fatal("the hang-up was never counted")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n := tg.metric("rampart_gateway_refusals_total", "bad_request") - bad; n != 0 {
			t.Fatalf("%v bad requests counted for a client that hung up", n)
		}
	})

	t.Run("answers 404 for a key the cluster does not hold", func(t *testing.T) {
		var other api.PublicKey
		copy(other[:], c.keys[0][:])
		other[47] ^= 1
		code, body := tg.do(http.MethodPost, "/api/v1/eth2/sign/"+other.String(), mustJSON(attestation(c.net, 4, 5, 0x36)))
		if code != http.StatusNotFound || !strings.Contains(string(body), "no signer holds it") {
			t.Fatalf("%d %s", code, body)
		}
	})
}

// TestGatewayIdentityIsAuthorisedByEachSigner: the gateway is a client,
// not a peer. An identity from the cluster CA that no signer authorises
// discovers no account, signs nothing, and its health says why.
func TestGatewayIdentityIsAuthorisedByEachSigner(t *testing.T) {
	c := startCluster(t, 3, 2, 1)
	tg := c.newGateway(intruderClient, nil)
	if code, _, msg := tg.sign(c.keys[0], attestation(c.net, 4, 5, 0x41)); code != http.StatusNotFound {
		t.Fatalf("%d %s; want 404", code, msg)
	}
	tg.gw.Probe(t.Context())
	code, r := tg.health()
	if code != http.StatusServiceUnavailable || !strings.Contains(r.Checks["accounts"].Error, "authorization rules") {
		t.Fatalf("%d %+v", code, r)
	}
}

// TestGatewayHealthGoesStaleWithoutProbes: a prober that stopped must not
// leave the last UP standing.
func TestGatewayHealthGoesStaleWithoutProbes(t *testing.T) {
	c := startCluster(t, 3, 2, 1)
	tg := c.newGateway(gatewayClient, nil)
	if code, r := tg.health(); code != http.StatusServiceUnavailable || r.Checks["signers"].Status != "STARTING" {
		t.Fatalf("before the first probe: %d %+v", code, r)
	}
	tg.gw.Probe(t.Context())
	if code, r := tg.health(); code != http.StatusOK {
		t.Fatalf("%d %+v", code, r)
	}
	tg.advance(time.Minute)
	code, r := tg.health()
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(r.Checks["probe"].Error, "last probe 1m0s ago") {
		t.Fatalf("a minute after the last probe: %d %+v", code, r)
	}
}
