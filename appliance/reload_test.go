package appliance_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/rampart-signer/rampart/appliance"
)

// TestReloadPutsNewRulesInForceWithoutARestart is issue 17's "SIGHUP
// kills the signer (exit 129) and nothing reloads": Reload (what SIGHUP
// runs) gives a client refused until now its rule at every signer, and it
// signs, on the same running signers. A reload whose certificate does not
// certify the node's key is refused and changes
// nothing: the rule given with it is not in force.
func TestReloadPutsNewRulesInForceWithoutARestart(t *testing.T) {
	tc := newTestCluster(t, 3, 2, 1)
	key := tc.keys[0]
	req := attestationRequest(tc.net, 70, 71, 0x71)
	if r := post(t, tc.client(0, "intruder"), tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), req); r.code != http.StatusForbidden {
		t.Fatalf("before the reload: %d %s", r.code, r.body)
	}
	grant := appliance.Rule{Client: "intruder", Accounts: appliance.Selector{All: true}, Types: appliance.Selector{List: []string{"ATTESTATION"}}}

	// Refused reloads first: nothing changes.
	for _, tw := range []struct {
		name string
		edit func(*appliance.Config)
	}{
		{"another identity's certificate", func(c *appliance.Config) { c.TLS.Certificate = tc.lc.Client("vc-1").CertPath }},
		// A new file that renames a participant passes its own check, but
		// the running signer still knows the old name as a peer: exits for
		// it would be a peer granted what no peer may have.
		{"exits for a running peer renamed in the new file", func(c *appliance.Config) {
			peer := c.Cluster.Participants[1].TLSName
			c.Cluster.Participants[1].TLSName = "renamed.example"
			for i, r := range c.Authorization {
				if r.Client == peer {
					c.Authorization[i].Types = appliance.Selector{List: []string{"ATTESTATION", "VOLUNTARY_EXIT"}}
				}
			}
		}},
	} {
		cfg := copyConfig(tc.lc.Signers[0].Config)
		cfg.Authorization = append(cfg.Authorization, grant)
		tw.edit(cfg)
		if _, err := tc.app(0).Reload(context.Background(), cfg); !errors.Is(err, appliance.ErrReload) {
			t.Fatalf("%s: reload %v; want ErrReload", tw.name, err)
		}
	}
	if r := post(t, tc.client(0, "intruder"), tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), req); r.code != http.StatusForbidden {
		t.Fatalf("a refused reload changed the rules: %d %s", r.code, r.body)
	}

	for i := range tc.lc.Signers {
		cfg := copyConfig(tc.lc.Signers[i].Config)
		cfg.Authorization = append(cfg.Authorization, grant)
		cfg.Cluster.HedgeDelay++ // needs a restart: reported, not applied
		restart, err := tc.app(i).Reload(context.Background(), cfg)
		if err != nil || len(restart) != 1 || restart[0] != "cluster" {
			t.Fatalf("signer %d: reload: %v, restart %v", i+1, err, restart)
		}
	}
	tc.checkSigned("after the reload", post(t, tc.client(0, "intruder"), tc.url(0, appliance.ListenerCoordinator, "/api/v1/eth2/sign/"+key.String()), req), key, req)
}

// app is running signer i.
func (tc *testCluster) app(i int) *appliance.Appliance {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.running[i].App
}

// copyConfig is a copy of c whose participants and rules can be edited.
func copyConfig(c *appliance.Config) *appliance.Config {
	n := *c
	n.Cluster.Participants = append([]appliance.ParticipantConfig(nil), c.Cluster.Participants...)
	n.Authorization = append([]appliance.Rule(nil), c.Authorization...)
	return &n
}
