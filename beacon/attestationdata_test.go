package beacon_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
)

// serveData makes a node answer attestation data built by f.
func serveData(n *beacontest.Node, f func(slot phase0.Slot) *phase0.AttestationData) {
	n.Handle("GET /eth/v1/validator/attestation_data", func(w http.ResponseWriter, r *http.Request) {
		var slot phase0.Slot
		for _, c := range r.URL.Query().Get("slot") {
			slot = slot*10 + phase0.Slot(c-'0')
		}
		beacontest.WriteData(w, f(slot))
	})
}

func TestAttestationDataSelection(t *testing.T) {
	net := testNetwork(t)
	slot := phase0.Slot(time.Since(net.GenesisTime())/net.SlotDuration()) - 1
	epoch := net.EpochAtSlot(slot)
	data := func(head byte, source phase0.Epoch) func(phase0.Slot) *phase0.AttestationData {
		return func(s phase0.Slot) *phase0.AttestationData {
			d := beacontest.AttestationData(net, s, phase0.Root{head})
			d.Source = &phase0.Checkpoint{Epoch: source, Root: phase0.Root{0x5c, byte(source)}}
			d.Target.Root = phase0.Root{0x7a}
			return d
		}
	}
	// staleTarget is a node that has not imported the block starting the
	// epoch: same epochs, but the previous block as the target root.
	staleTarget := func(head byte) func(phase0.Slot) *phase0.AttestationData {
		return func(s phase0.Slot) *phase0.AttestationData {
			d := data(head, epoch-1)(s)
			d.Target.Root = phase0.Root{0x7b}
			return d
		}
	}
	for _, tc := range []struct {
		name        string
		answers     []func(phase0.Slot) *phase0.AttestationData
		heads       []phase0.Slot
		want        int // node whose answer wins
		disagreeing []string
		// early: a majority may be reached before the others answer, so
		// they may be missing from Disagreeing.
		early bool
	}{
		{"chooses data identical on a majority", []func(phase0.Slot) *phase0.AttestationData{
			data(1, epoch-1), data(2, epoch-1), data(2, epoch-1)}, nil, 1, []string{"n0"}, true},
		{"chooses the highest head among answers sharing the majority's source and target", []func(phase0.Slot) *phase0.AttestationData{
			data(1, epoch-1), data(2, epoch-1), data(3, epoch-2)}, []phase0.Slot{slot - 1, slot, slot + 1}, 1, []string{"n0", "n2"}, false},
		{"a higher head with a minority source does not win", []func(phase0.Slot) *phase0.AttestationData{
			data(1, epoch-1), data(2, epoch-1), data(3, epoch-2)}, []phase0.Slot{slot, slot - 1, slot + 5}, 0, []string{"n1", "n2"}, false},
		{"a preferred node that lags behind does not impose its stale target", []func(phase0.Slot) *phase0.AttestationData{
			staleTarget(1), data(2, epoch-1)}, []phase0.Slot{slot - 1, slot}, 1, []string{"n0"}, false},
		{"a genuine fork at equal heads goes to the preferred node", []func(phase0.Slot) *phase0.AttestationData{
			staleTarget(1), data(2, epoch-1)}, []phase0.Slot{slot, slot}, 0, []string{"n1"}, false},
		{"claiming a head past the slot attested does not win a split", []func(phase0.Slot) *phase0.AttestationData{
			staleTarget(1), data(2, epoch-1)}, []phase0.Slot{slot, slot + 7}, 0, []string{"n1"}, false},
		{"a split pair goes to the later source", []func(phase0.Slot) *phase0.AttestationData{
			data(1, epoch-2), data(2, epoch-1)}, nil, 1, []string{"n0"}, false},
		{"one node is its own majority", []func(phase0.Slot) *phase0.AttestationData{data(4, epoch-1)}, nil, 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, len(tc.answers))
			for i, f := range tc.answers {
				serveData(nodes[i], f)
				if tc.heads != nil {
					nodes[i].SetHead(tc.heads[i], phase0.Root{byte(i)})
				}
			}
			c := startClient(t, net, nodes, nil)
			got, err := c.AttestationData(context.Background(), slot, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.answers[tc.want](slot)
			if !reflect.DeepEqual(got.Data, want) {
				t.Fatalf("chose %+v (from %s), want node n%d's %+v", got.Data, got.Node, tc.want, want)
			}
			if tc.early {
				for _, name := range got.Disagreeing {
					if name != tc.disagreeing[0] {
						t.Fatalf("disagreeing %v, want at most %v", got.Disagreeing, tc.disagreeing)
					}
				}
				return
			}
			if !sameSet(got.Disagreeing, tc.disagreeing) {
				t.Fatalf("disagreeing %v, want %v", got.Disagreeing, tc.disagreeing)
			}
			for _, name := range tc.disagreeing {
				if n := c.counter(t, "rampart_beacon_attestation_data_disagreements_total", map[string]string{"node": name}); n != 1 {
					t.Fatalf("disagreement of %s counted %v times, want 1", name, n)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestAttestationDataFromALyingNodeIsRefused: answers that cannot be the
// slot's data never reach the vote.
func TestAttestationDataFromALyingNodeIsRefused(t *testing.T) {
	net := testNetwork(t)
	slot := phase0.Slot(time.Since(net.GenesisTime())/net.SlotDuration()) - 1
	for _, tc := range []struct {
		name string
		lie  func(d *phase0.AttestationData)
	}{
		{"refuses data for another slot", func(d *phase0.AttestationData) { d.Slot++ }},
		{"refuses a target outside the slot's epoch", func(d *phase0.AttestationData) { d.Target.Epoch++ }},
		{"refuses a source after the target", func(d *phase0.AttestationData) { d.Source.Epoch = d.Target.Epoch + 1 }},
		{"refuses a committee index after Electra", func(d *phase0.AttestationData) { d.Index = 3 }},
		{"refuses a zero head root", func(d *phase0.AttestationData) { d.BeaconBlockRoot = phase0.Root{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, 2)
			serveData(nodes[0], func(s phase0.Slot) *phase0.AttestationData {
				d := beacontest.AttestationData(net, s, phase0.Root{9})
				tc.lie(d)
				return d
			})
			c := startClient(t, net, nodes, nil)
			got, err := c.AttestationData(context.Background(), slot, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Node != "n1" || got.Answered != 1 || got.Asked != 2 || len(got.Disagreeing) != 0 {
				t.Fatalf("result %+v; want n1's answer alone", got)
			}
			alone := startClient(t, net, nodes[:1], nil)
			if _, err := alone.AttestationData(context.Background(), slot, 0); !errors.Is(err, beacon.ErrInvalidResponse) {
				t.Fatalf("lying node alone gave %v, want ErrInvalidResponse", err)
			}
		})
	}
}

// TestAttestationDataDoesNotWaitForASlowMinority: once most nodes agree,
// the slow node's answer cannot change the outcome and is not awaited.
func TestAttestationDataDoesNotWaitForASlowMinority(t *testing.T) {
	net := testNetwork(t)
	slot := phase0.Slot(time.Since(net.GenesisTime())/net.SlotDuration()) - 1
	nodes := fakeNodes(t, net, 3)
	release := make(chan struct{})
	defer close(release)
	nodes[2].Handle("GET /eth/v1/validator/attestation_data", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		beacontest.WriteError(w, 503, "late")
	})
	c := startClient(t, net, nodes, func(cfg *beacon.Config) {
		cfg.Timeout = time.Hour
		cfg.AttestationDataWait = time.Hour
	})
	got, err := c.AttestationData(context.Background(), slot, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Agreeing != 2 || got.Asked != 3 {
		t.Fatalf("result %+v", got)
	}
}

// TestDutiesFollowTheNetworksChain: attester and proposer duties are read
// from every healthy node; when their dependent roots differ (a node
// missed blocks, after a partition), the root most nodes give wins, else
// the chain justified last, else the latest head, else the preferred
// node's. Two validator clients preferring different nodes then follow
// the same shuffling.
func TestDutiesFollowTheNetworksChain(t *testing.T) {
	net := testNetwork(t)
	epoch := currentEpoch(net)
	slot := phase0.Slot(uint64(epoch) * net.Preset().SlotsPerEpoch)
	// serve answers duties computed from dependent root r: each validator
	// one slot further for each r, so that the shufflings differ.
	serve := func(n *beacontest.Node, r byte) {
		root := phase0.Root{0xd0, r}
		spe := net.Preset().SlotsPerEpoch
		n.Handle("POST /eth/v1/validator/duties/attester/{epoch}", func(w http.ResponseWriter, req *http.Request) {
			var ids []string
			_ = json.NewDecoder(req.Body).Decode(&ids)
			var duties []map[string]any
			for _, id := range ids {
				i, _ := strconv.ParseUint(id, 10, 64)
				duties = append(duties, map[string]any{
					"pubkey": testKeys(int(i) + 1)[i].String(), "validator_index": id,
					"slot": strconv.FormatUint(uint64(slot)+(i+uint64(r))%spe, 10), "committee_index": "0",
					"committee_length": "128", "committees_at_slot": "1", "validator_committee_index": id,
				})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"dependent_root": root.String(), "execution_optimistic": false, "data": duties})
		})
	}
	// justify makes n's head state justified at epoch j.
	justify := func(n *beacontest.Node, j phase0.Epoch) {
		n.Handle("GET /eth/v1/beacon/states/{state}/finality_checkpoints", func(w http.ResponseWriter, _ *http.Request) {
			cp := map[string]string{"epoch": strconv.FormatUint(uint64(j), 10), "root": phase0.Root{0xc0, byte(j)}.String()}
			beacontest.WriteData(w, map[string]any{"previous_justified": cp, "current_justified": cp, "finalized": cp})
		})
	}
	for _, tc := range []struct {
		name      string
		roots     []byte
		heads     []phase0.Slot
		justified []phase0.Epoch
		want      byte
	}{
		{"a preferred node that lags behind does not impose its shuffling", []byte{1, 2}, []phase0.Slot{slot - 3, slot}, []phase0.Epoch{3, 3}, 2},
		{"equal heads go to the preferred node", []byte{1, 2}, []phase0.Slot{slot, slot}, []phase0.Epoch{3, 3}, 1},
		// Seen in the chaos runs: a node cut off from most validators
		// got a block from this client and had the later head for a
		// moment, on a chain that stopped justifying at the partition.
		{"a later head on a chain justified earlier does not win", []byte{1, 2}, []phase0.Slot{slot + 1, slot}, []phase0.Epoch{2, 4}, 2},
		{"the root most nodes give wins over a later head", []byte{1, 2, 2}, []phase0.Slot{slot + 1, slot, slot}, []phase0.Epoch{5, 3, 3}, 2},
		{"agreeing nodes: the preferred node's answer", []byte{3, 3}, []phase0.Slot{slot - 1, slot}, []phase0.Epoch{3, 3}, 3},
		// Each root is judged by its nodes together, whatever the order
		// the answers arrive in: root 1's nodes show the later checkpoint.
		{"an even split goes to the root whose nodes justified later", []byte{1, 2, 1, 2}, []phase0.Slot{slot - 2, slot + 1, slot - 3, slot + 1}, []phase0.Epoch{5, 5, 6, 5}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, len(tc.roots))
			for i, r := range tc.roots {
				serve(nodes[i], r)
				justify(nodes[i], tc.justified[i])
				nodes[i].SetHead(tc.heads[i], phase0.Root{byte(i)})
			}
			c := startClient(t, net, nodes, nil)
			got, err := c.AttesterDuties(context.Background(), epoch, keyMap(testKeys(4)))
			if err != nil {
				t.Fatal(err)
			}
			if want := (phase0.Root{0xd0, tc.want}); got.DependentRoot != want {
				t.Fatalf("followed dependent root %#x, want %#x", got.DependentRoot, want)
			}
			for i, n := range nodes {
				if calls := n.Calls("POST /eth/v1/validator/duties/attester/{epoch}"); calls != 1 {
					t.Errorf("node %d asked %d times, want once", i, calls)
				}
			}
		})
	}
}
