//go:build redteam

package redteam_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
	"github.com/rampart-signer/rampart/appliance/localcluster"
	"github.com/rampart-signer/rampart/internal/api"
)

// probe is one endpoint, called so that passing authorisation is harmless:
// a selection proof to sign, an unknown account to delete or activate, a
// ceremony start with an invalid body.
type probe struct {
	name     string
	listener string
	method   string
	path     string
	body     []byte
}

func probes(c *cluster) []probe {
	key := c.keys[0].String()
	var unknown api.PublicKey
	unknown[0] = 0xa0
	unknown[47] = 0x01
	sel := aggregationSlotBody(c.net, 6*32+9)
	randao := genericBody(c.net, [4]byte{0x02, 0, 0, 0}, [32]byte{0x42})
	keys := mustJSON(map[string]any{"keys": []string{unknown.String()}})
	P, C := appliance.ListenerParticipant, appliance.ListenerCoordinator
	return []probe{
		{"P upcheck", P, http.MethodGet, "/upcheck", nil},
		{"P accounts", P, http.MethodGet, "/api/v1/eth2/distributed/accounts", nil},
		{"P sign", P, http.MethodPost, "/api/v1/eth2/distributed/sign/" + key, sel},
		{"P batch", P, http.MethodPost, "/api/v1/eth2/distributed/sign", batchBody(c.keys[:1], sel)},
		{"P stage", P, http.MethodPost, "/rampart/v1/accounts", []byte(`{"accounts":[]}`)},
		{"P activate", P, http.MethodPost, "/rampart/v1/accounts/activate", keys},
		{"P discard", P, http.MethodPost, "/rampart/v1/accounts/discard", keys},
		{"P DELETE account", P, http.MethodDelete, "/rampart/v1/accounts/" + unknown.String(), nil},
		{"P ceremony start", P, http.MethodPost, "/rampart/v1/ceremonies", []byte(`{"timeout":"not-a-duration"}`)},
		{"P ceremony status", P, http.MethodGet, "/rampart/v1/ceremonies/none", nil},
		{"P ceremony message", P, http.MethodPost, "/rampart/v1/ceremonies/none/messages", []byte(`{"message":""}`)},
		{"C publicKeys", C, http.MethodGet, "/api/v1/eth2/publicKeys", nil},
		{"C sign", C, http.MethodPost, "/api/v1/eth2/sign/" + key, sel},
		{"C batch", C, http.MethodPost, "/api/v1/eth2/sign", batchBody(c.keys[:1], sel)},
		{"C GENERIC randao", C, http.MethodPost, "/api/v1/eth2/sign/" + key, randao},
	}
}

// cell is what a probe got: a status, the status of a batch's item, or
// "TLS" when the handshake refused the certificate.
func cell(r reply) (text string, code int, passed bool) {
	if r.err != nil {
		return "TLS", 0, false
	}
	code, text = r.code, fmt.Sprint(r.code)
	if code == http.StatusOK {
		// A batch answers 200 with a status per item.
		var items []struct {
			Error *api.Error `json:"error"`
		}
		if json.Unmarshal(r.body, &items) == nil && len(items) > 0 && items[0].Error != nil {
			code = items[0].Error.Code
			text = fmt.Sprintf("item %d", code)
		}
	}
	return text, code, code != http.StatusForbidden && code != http.StatusUnauthorized
}

// TestForgedIdentitiesGetOnlyTheirNamesRights presents, at signer 1 of the
// 3-of-5 cluster, the cluster's own identities and forged ones: from the
// cluster CA with an unknown name, with a peer signer's name (the CA
// issuing a second certificate for signer-2), with a validator client's
// name, with both; from another CA; expired; without the clientAuth EKU;
// and none. It prints which endpoints each passes. On 108c238 a
// peer-named certificate passes the administrative endpoints, since
// localcluster (like the example configuration) lists the peers in
// admin.clients: TestHole1 tests the fix.
func TestForgedIdentitiesGetOnlyTheirNamesRights(t *testing.T) {
	c := sharedCluster(t, spec35)
	ctx := context.Background()
	ps := probes(c)
	order := []string{validatorClient, localcluster.AdminClient, genericClient, intruderClient,
		forgedUnknown, forgedPeer, forgedClient, forgedTwoNames, forgedOtherCA, forgedExpired, forgedNoClient, noCertificate}
	var b strings.Builder
	b.WriteString("| Identity |")
	for _, p := range ps {
		b.WriteString(" " + p.name + " |")
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(ps)) + "\n")
	section := "Forged identities at signer 1 of the 3-of-5 cluster (attempts: endpoints probed)"
	cells := map[string][]string{}
	for _, name := range order {
		id := c.ids[name]
		fmt.Fprintf(&b, "| %s (%s) |", name, id.about)
		var passed []string
		res := row{section: section, attack: fmt.Sprintf("%s: %s", name, id.about), outcome: counts{}, refusals: counts{}}
		for _, p := range ps {
			r := c.do(ctx, 0, p.listener, name, p.method, p.path, p.body)
			text, code, ok := cell(r)
			cells[name] = append(cells[name], text)
			b.WriteString(" " + text + " |")
			res.attempts++
			if ok {
				passed = append(passed, p.name)
			} else if r.err != nil {
				res.refusals["TLS handshake refused"]++
				t.Logf("%s, %s: %v", name, p.name, r.err)
			} else {
				res.refusals[reason(code, nil)]++
			}
		}
		b.WriteString("\n")
		if len(passed) == 0 {
			res.outcome["passes nothing"]++
		} else {
			res.outcome["passes "+strings.Join(passed, ", ")]++
		}
		record(res)
		t.Logf("%s passes authorisation at: %s", name, strings.Join(passed, ", "))

		switch name {
		case forgedOtherCA, forgedExpired, forgedNoClient, noCertificate:
			if len(passed) > 0 {
				t.Errorf("%s (%s) passed %v: the TLS handshake must refuse it", name, id.about, passed)
			}
		case forgedUnknown, intruderClient:
			if slices.ContainsFunc(passed, func(p string) bool { return p != "P upcheck" }) {
				t.Errorf("%s (%s) passed %v: a name without rules may reach nothing but upcheck", name, id.about, passed)
			}
		case forgedClient:
			// A certificate the CA issued for a name is that name: the
			// CA's key is the trust root.
			if !slices.Equal(cells[forgedClient], cells[validatorClient]) {
				t.Errorf("a second certificate for vc-1's name got %v, vc-1 got %v", cells[forgedClient], cells[validatorClient])
			}
		}
	}
	t.Logf("Forged-identity matrix at signer 1 (status per endpoint; P = participant listener, C = coordinator listener; TLS = handshake refused):\n%s", b.String())
}
