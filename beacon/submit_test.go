package beacon_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	bitfield "github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
)

const attestationsPath = "/eth/v2/beacon/pool/attestations"

// singleAttestation is an Electra attestation by one validator of
// committee 0, as a validator client makes it.
func singleAttestation(slot phase0.Slot, index phase0.ValidatorIndex) *spec.VersionedAttestation {
	bits := bitfield.NewBitlist(8)
	bits.SetBitAt(uint64(index)%8, true)
	committees := bitfield.NewBitvector64()
	committees.SetBitAt(0, true)
	return &spec.VersionedAttestation{
		Version:        spec.DataVersionElectra,
		ValidatorIndex: &index,
		Electra: &electra.Attestation{
			AggregationBits: bits,
			Data: &phase0.AttestationData{Slot: slot, BeaconBlockRoot: phase0.Root{1},
				Source: &phase0.Checkpoint{}, Target: &phase0.Checkpoint{Root: phase0.Root{1}}},
			Signature:     phase0.BLSSignature{0xc0, 1},
			CommitteeBits: committees,
		},
	}
}

func TestSubmissionsGoToEveryNode(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 3)
	c := startClient(t, net, nodes, nil)
	atts := []*spec.VersionedAttestation{singleAttestation(10, 3), singleAttestation(10, 5)}
	if err := c.SubmitAttestations(context.Background(), atts); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		got := n.Submissions(attestationsPath)
		if len(got) != 2 {
			t.Fatalf("node %d received %d attestations, want 2", i, len(got))
		}
		// From Electra on the endpoint takes SingleAttestation objects.
		var single electra.SingleAttestation
		if err := json.Unmarshal(got[1], &single); err != nil || single.AttesterIndex != 5 || single.CommitteeIndex != 0 {
			t.Fatalf("node %d received %s (%v), want a single attestation by 5", i, got[1], err)
		}
	}
}

func TestSubmissionSucceedsIfOneNodeAccepts(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	nodes[0].Handle("POST "+attestationsPath, func(w http.ResponseWriter, _ *http.Request) {
		beacontest.WriteError(w, http.StatusBadRequest, "unknown head block")
	})
	c := startClient(t, net, nodes, nil)
	if err := c.SubmitAttestations(context.Background(), []*spec.VersionedAttestation{singleAttestation(10, 1)}); err != nil {
		t.Fatalf("one node accepted, yet %v", err)
	}
	if len(nodes[1].Submissions(attestationsPath)) != 1 {
		t.Fatal("the accepting node did not receive the attestation")
	}
}

func TestSubmissionRefusedByEveryNodeIsRejected(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	for _, n := range nodes {
		n.Handle("POST "+attestationsPath, func(w http.ResponseWriter, _ *http.Request) {
			beacontest.WriteError(w, http.StatusBadRequest, "invalid signature")
		})
	}
	c := startClient(t, net, nodes, nil)
	err := c.SubmitAttestations(context.Background(), []*spec.VersionedAttestation{singleAttestation(10, 1)})
	if !errors.Is(err, beacon.ErrRejected) {
		t.Fatalf("got %v, want ErrRejected", err)
	}
	for _, st := range c.Nodes() {
		if st.State != beacon.StateHealthy {
			t.Fatalf("a refusal changed %s to %s", st.Name, st.State)
		}
	}
}

// TestAttestationsGoEthTwoClientWouldDropAreRefused: go-eth2-client
// silently skips an Electra attestation it cannot turn into a single
// attestation; the client refuses the whole submission instead.
func TestAttestationsGoEthTwoClientWouldDropAreRefused(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 1)
	c := startClient(t, net, nodes, nil)
	for _, tc := range []struct {
		name   string
		change func(a *spec.VersionedAttestation)
	}{
		{"refuses an attestation without a validator index", func(a *spec.VersionedAttestation) { a.ValidatorIndex = nil }},
		{"refuses an aggregate posing as a single attestation", func(a *spec.VersionedAttestation) { a.Electra.AggregationBits.SetBitAt(7, true) }},
		{"refuses an attestation for two committees", func(a *spec.VersionedAttestation) { a.Electra.CommitteeBits.SetBitAt(1, true) }},
		{"refuses an attestation without attesters", func(a *spec.VersionedAttestation) { a.Electra.AggregationBits = bitfield.NewBitlist(8) }},
		{"refuses an unsigned attestation", func(a *spec.VersionedAttestation) { a.Electra.Signature = phase0.BLSSignature{} }},
		{"refuses an attestation of the wrong fork", func(a *spec.VersionedAttestation) {
			a.Version = spec.DataVersionDeneb
			a.Deneb = &phase0.Attestation{AggregationBits: a.Electra.AggregationBits, Data: a.Electra.Data, Signature: a.Electra.Signature}
			a.Electra = nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := singleAttestation(10, 2)
			tc.change(bad)
			err := c.SubmitAttestations(context.Background(), []*spec.VersionedAttestation{singleAttestation(10, 1), bad})
			if !errors.Is(err, beacon.ErrInvalidRequest) {
				t.Fatalf("got %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := len(nodes[0].Submissions(attestationsPath)); n != 0 {
		t.Fatalf("%d attestations of refused submissions reached the node", n)
	}
}

func TestSubmissionWithNoUsableNodeFails(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 1)
	nodes[0].Close()
	c := startClient(t, net, nodes, func(cfg *beacon.Config) { cfg.Timeout = 200 * time.Millisecond })
	err := c.SubmitAttestations(context.Background(), []*spec.VersionedAttestation{singleAttestation(10, 1)})
	if !errors.Is(err, beacon.ErrNoNode) {
		t.Fatalf("got %v, want ErrNoNode", err)
	}
}
