package beacon_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
)

func TestConfigValidateNamesTheWrongField(t *testing.T) {
	net := testNetwork(t)
	good := func() beacon.Config {
		c := beacon.DefaultConfig()
		c.Network = net
		c.Nodes = []beacon.NodeConfig{{Name: "a", URL: "http://127.0.0.1:1"}}
		return c
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		change     func(*beacon.Config)
	}{
		{"refuses no nodes", "Nodes: none", func(c *beacon.Config) { c.Nodes = nil }},
		{"refuses a nameless node", "Nodes[0].Name", func(c *beacon.Config) { c.Nodes[0].Name = "" }},
		{"refuses a name with spaces", "Nodes[0].Name", func(c *beacon.Config) { c.Nodes[0].Name = "a b" }},
		{"refuses a repeated name", "Nodes[1].Name", func(c *beacon.Config) { c.Nodes = append(c.Nodes, c.Nodes[0]) }},
		{"refuses a non-http URL", "Nodes[0].URL", func(c *beacon.Config) { c.Nodes[0].URL = "ftp://x" }},
		{"refuses a URL with a query", "Nodes[0].URL", func(c *beacon.Config) { c.Nodes[0].URL = "http://x/?k=v" }},
		{"refuses no network", "Network", func(c *beacon.Config) { c.Network = nil }},
		{"refuses a zero timeout", "Timeout", func(c *beacon.Config) { c.Timeout = 0 }},
		{"refuses a zero health interval", "HealthInterval", func(c *beacon.Config) { c.HealthInterval = 0 }},
		{"refuses a negative attestation data wait", "AttestationDataWait", func(c *beacon.Config) { c.AttestationDataWait = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.want)
			}
			if _, err := beacon.New(c); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestURLCredentialsNeverAppearInErrors(t *testing.T) {
	net := testNetwork(t)
	cfg := beacon.DefaultConfig()
	cfg.Network = net
	cfg.Timeout = 200 * time.Millisecond
	// Nothing listens on port 1.
	cfg.Nodes = []beacon.NodeConfig{{Name: "secret-node", URL: "http://user:hunter2@127.0.0.1:1/base"}}
	bad := cfg
	bad.Nodes = []beacon.NodeConfig{{Name: "x", URL: "gopher://user:hunter2@host"}}
	if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Validate() = %v; want an error without the password", err)
	}
	c, err := beacon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-c.Ready()
	st := c.Nodes()[0]
	if st.State != beacon.StateUnreachable || strings.Contains(st.Reason, "hunter2") {
		t.Fatalf("node status %+v", st)
	}
	_, err = c.Genesis(ctx)
	if !errors.Is(err, beacon.ErrNoNode) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Genesis() = %v", err)
	}
	cancel()
	<-done
}

func TestCallsBeforeRunFailWithNoNode(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 1)
	cfg := beacon.DefaultConfig()
	cfg.Network = net
	cfg.Nodes = []beacon.NodeConfig{{Name: "a", URL: nodes[0].URL}}
	c, err := beacon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Genesis(context.Background()); !errors.Is(err, beacon.ErrNoNode) {
		t.Fatalf("Genesis before Run = %v, want ErrNoNode", err)
	}
	if nodes[0].Calls("GET /eth/v1/beacon/genesis") != 0 {
		t.Fatal("New or a call before Run talked to the node")
	}
}

func TestReadsFailOverOnUnavailableNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"5xx", func(w http.ResponseWriter, _ *http.Request) { beacontest.WriteError(w, 503, "busy") }},
		{"429", func(w http.ResponseWriter, _ *http.Request) { beacontest.WriteError(w, 429, "slow down") }},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{"garbage", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("{not json")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := testNetwork(t)
			nodes := fakeNodes(t, net, 2)
			c := startClient(t, net, nodes, nil)
			// Sync committee duties are read from one node at a time
			// (attester and proposer duties from every healthy node: see
			// TestDutiesFollowTheNetworksChain).
			nodes[0].Handle("POST /eth/v1/validator/duties/sync/{epoch}", tc.handler)
			keys := testKeys(8)
			duties, err := c.SyncCommitteeDuties(context.Background(), currentEpoch(net), keyMap(keys))
			if err != nil {
				t.Fatalf("SyncCommitteeDuties: %v", err)
			}
			if len(duties) != 8 {
				t.Fatalf("duties %+v", duties)
			}
			if got := nodes[1].Calls("POST /eth/v1/validator/duties/sync/{epoch}"); got != 1 {
				t.Fatalf("second node asked %d times, want 1", got)
			}
			if got := c.counter(t, "rampart_beacon_failovers_total", map[string]string{"op": "sync_duties"}); got != 1 {
				t.Fatalf("failovers %v, want 1", got)
			}
			if st := c.Nodes()[0].State; st != beacon.StateDegraded {
				t.Fatalf("failed node is %s, want degraded", st)
			}
			// The degraded node is now asked last.
			if _, err := c.SyncCommitteeDuties(context.Background(), currentEpoch(net), keyMap(keys)); err != nil {
				t.Fatal(err)
			}
			if got := nodes[1].Calls("POST /eth/v1/validator/duties/sync/{epoch}"); got != 2 {
				t.Fatalf("healthy node asked %d times, want 2 (asked first)", got)
			}
		})
	}
}

func TestReadsDoNotFailOverOnRefusal(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	c := startClient(t, net, nodes, nil)
	nodes[0].Handle("POST /eth/v1/validator/duties/sync/{epoch}", func(w http.ResponseWriter, _ *http.Request) {
		beacontest.WriteError(w, http.StatusBadRequest, "epoch too far ahead")
	})
	_, err := c.SyncCommitteeDuties(context.Background(), currentEpoch(net)+5, keyMap(testKeys(8)))
	if !errors.Is(err, beacon.ErrRejected) {
		t.Fatalf("SyncCommitteeDuties = %v, want ErrRejected", err)
	}
	var ne *beacon.NodeError
	if !errors.As(err, &ne) || ne.Node != "n0" || ne.Status != http.StatusBadRequest {
		t.Fatalf("error %v does not say node n0 refused with 400", err)
	}
	if got := nodes[1].Calls("POST /eth/v1/validator/duties/sync/{epoch}"); got != 0 {
		t.Fatalf("a 4xx failed over to the second node (%d calls)", got)
	}
	if st := c.Nodes()[0].State; st != beacon.StateHealthy {
		t.Fatalf("a refusal changed the node's state to %s", st)
	}
}

func TestNodeOnAnotherNetworkIsNeverUsed(t *testing.T) {
	net := testNetwork(t)
	for _, tc := range []struct {
		name  string
		other func(t *testing.T) *beacontest.Node
	}{
		{"other genesis validators root", func(t *testing.T) *beacontest.Node {
			return beacontest.New(networkWithGenesis(t, net.GenesisTime(), phase0.Root{0xba, 0xd}))
		}},
		{"other genesis time", func(t *testing.T) *beacontest.Node {
			return beacontest.New(networkWithGenesis(t, net.GenesisTime().Add(time.Minute), testGVR))
		}},
		{"other slots per epoch", func(t *testing.T) *beacontest.Node {
			n := beacontest.New(net)
			n.Handle("GET /eth/v1/config/spec", func(w http.ResponseWriter, _ *http.Request) {
				spec := beacontest.Spec(net)
				spec["SLOTS_PER_EPOCH"] = "8"
				beacontest.WriteData(w, spec)
			})
			return n
		}},
		{"other fork schedule", func(t *testing.T) *beacontest.Node {
			n := beacontest.New(net)
			n.Handle("GET /eth/v1/config/fork_schedule", func(w http.ResponseWriter, _ *http.Request) {
				beacontest.WriteData(w, []*phase0.Fork{{PreviousVersion: phase0.Version{0x10}, CurrentVersion: phase0.Version{0x10, 0, 0, 9}, Epoch: 3}})
			})
			return n
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			liar := tc.other(t)
			defer liar.Close()
			honest := fakeNodes(t, net, 1)[0]
			c := startClient(t, net, []*beacontest.Node{liar, honest}, nil)
			if st := c.Nodes()[0]; st.State != beacon.StateWrongNetwork {
				t.Fatalf("node on another network is %s (%s)", st.State, st.Reason)
			}
			if _, err := c.Genesis(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := c.AttesterDuties(context.Background(), currentEpoch(net), keyMap(testKeys(8))); err != nil {
				t.Fatal(err)
			}
			if got := liar.Calls("POST /eth/v1/validator/duties/attester/{epoch}"); got != 0 {
				t.Fatalf("node on another network was asked for duties %d times", got)
			}
		})
	}
}

func TestNodeStatesFollowSyncState(t *testing.T) {
	net := testNetwork(t)
	for _, tc := range []struct {
		name                           string
		syncing, optimistic, elOffline bool
		want                           beacon.State
	}{
		{"synced node is healthy", false, false, false, beacon.StateHealthy},
		{"syncing node", true, false, false, beacon.StateSyncing},
		{"optimistic node is not healthy", false, true, false, beacon.StateSyncing},
		{"node without execution client is not healthy", false, false, true, beacon.StateSyncing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, 2)
			nodes[0].SetSyncState(tc.syncing, tc.optimistic, tc.elOffline)
			c := startClient(t, net, nodes, nil)
			if st := c.Nodes()[0]; st.State != tc.want {
				t.Fatalf("state %s (%s), want %s", st.State, st.Reason, tc.want)
			}
			if got := c.counter(t, "rampart_beacon_node_state", map[string]string{"node": "n0", "state": tc.want.String()}); got != 1 {
				t.Fatalf("state metric %v, want 1", got)
			}
			if tc.want == beacon.StateHealthy {
				return
			}
			// A node that is not healthy is asked after the healthy one.
			if _, err := c.Genesis(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := nodes[0].Calls("GET /eth/v1/beacon/genesis"); got != 1 {
				// 1: the health check's own request.
				t.Fatalf("unhealthy node served %d genesis requests, want only the health check's", got)
			}
		})
	}
}

func TestRunTwiceIsRefused(t *testing.T) {
	net := testNetwork(t)
	c := startClient(t, net, fakeNodes(t, net, 1), nil)
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

// TestFailedNodeStaysDegradedThroughHealthChecks: a node that answers
// health checks but fails real requests is not promoted back to first
// choice at the next round.
func TestFailedNodeStaysDegradedThroughHealthChecks(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	nodes[0].Handle("POST /eth/v1/validator/duties/attester/{epoch}", func(w http.ResponseWriter, _ *http.Request) {
		beacontest.WriteError(w, 500, "broken")
	})
	c := startClient(t, net, nodes, func(cfg *beacon.Config) { cfg.HealthInterval = 20 * time.Millisecond })
	if _, err := c.AttesterDuties(context.Background(), currentEpoch(net), keyMap(testKeys(8))); err != nil {
		t.Fatal(err)
	}
	rounds := nodes[0].Calls("GET /eth/v1/node/syncing")
	for nodes[0].Calls("GET /eth/v1/node/syncing") < rounds+3 {
		time.Sleep(10 * time.Millisecond)
	}
	if st := c.Nodes()[0]; st.State != beacon.StateDegraded {
		t.Fatalf("after passing health checks the failed node is %s, want degraded for a while", st.State)
	}
}
