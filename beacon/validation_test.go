package beacon_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	bitfield "github.com/OffchainLabs/go-bitfield"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/beacon"
	"github.com/rampart-signer/rampart/beacon/beacontest"
	"github.com/rampart-signer/rampart/internal/network"
)

// writeJSON writes a raw beacon API answer.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// goodDuty is a valid attester duty of validator i in epoch.
func goodDuty(net *network.Network, epoch phase0.Epoch, i int) *apiv1.AttesterDuty {
	spe := net.Preset().SlotsPerEpoch
	return &apiv1.AttesterDuty{
		PubKey: testKeys(8)[i], ValidatorIndex: phase0.ValidatorIndex(i),
		Slot:           phase0.Slot(uint64(epoch)*spe + uint64(i)),
		CommitteeIndex: 0, CommitteeLength: 64, CommitteesAtSlot: 1, ValidatorCommitteeIndex: 3,
	}
}

// TestLyingNodeDutiesAreRefused serves attester duties that no honest node
// can give; each is refused with ErrInvalidResponse, the node is reported
// (degraded, counted) and an honest second node answers instead.
func TestLyingNodeDutiesAreRefused(t *testing.T) {
	net := testNetwork(t)
	epoch := currentEpoch(net)
	for _, tc := range []struct {
		name string
		lie  func(d *apiv1.AttesterDuty)
		meta map[string]any
	}{
		{"refuses a duty outside the requested epoch", func(d *apiv1.AttesterDuty) { d.Slot += phase0.Slot(net.Preset().SlotsPerEpoch) }, nil},
		{"refuses a duty for a validator not asked about", func(d *apiv1.AttesterDuty) { d.ValidatorIndex = 99 }, nil},
		{"refuses a duty naming another key", func(d *apiv1.AttesterDuty) { d.PubKey = phase0.BLSPubKey{0xee} }, nil},
		{"refuses a committee index beyond the slot's committees", func(d *apiv1.AttesterDuty) { d.CommitteeIndex = 1 }, nil},
		{"refuses more committees than the preset allows", func(d *apiv1.AttesterDuty) { d.CommitteesAtSlot = 65 }, nil},
		{"refuses a position beyond the committee", func(d *apiv1.AttesterDuty) { d.ValidatorCommitteeIndex = 64 }, nil},
		{"refuses an empty committee", func(d *apiv1.AttesterDuty) { d.CommitteeLength = 0 }, nil},
		{"refuses execution-optimistic duties", func(*apiv1.AttesterDuty) {}, map[string]any{"execution_optimistic": true}},
		{"refuses duties without a dependent root", func(*apiv1.AttesterDuty) {}, map[string]any{"dependent_root": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, 2)
			nodes[0].Handle("POST /eth/v1/validator/duties/attester/{epoch}", func(w http.ResponseWriter, _ *http.Request) {
				d := goodDuty(net, epoch, 2)
				tc.lie(d)
				body := map[string]any{"dependent_root": beacontest.DependentRoot().String(), "execution_optimistic": false,
					"data": []*apiv1.AttesterDuty{goodDuty(net, epoch, 1), d}}
				for k, v := range tc.meta {
					if v == nil {
						delete(body, k)
					} else {
						body[k] = v
					}
				}
				writeJSON(w, body)
			})
			c := startClient(t, net, nodes, nil)
			keys := keyMap(testKeys(8))
			got, err := c.AttesterDuties(context.Background(), epoch, keys)
			if err != nil {
				t.Fatalf("the honest node did not take over: %v", err)
			}
			if len(got.Duties) != 8 {
				t.Fatalf("%d duties from the honest node, want 8", len(got.Duties))
			}
			if st := c.Nodes()[0].State; st != beacon.StateDegraded {
				t.Fatalf("lying node is %s, want degraded", st)
			}

			// Alone, the lying node's answer is an error, never data.
			alone := startClient(t, net, nodes[:1], nil)
			_, err = alone.AttesterDuties(context.Background(), epoch, keys)
			if tc.meta != nil && tc.meta["execution_optimistic"] == true {
				if !errors.Is(err, beacon.ErrUnavailable) {
					t.Fatalf("optimistic answer gave %v, want ErrUnavailable", err)
				}
				return
			}
			if !errors.Is(err, beacon.ErrInvalidResponse) {
				t.Fatalf("lying answer gave %v, want ErrInvalidResponse", err)
			}
			if n := alone.counter(t, "rampart_beacon_requests_total", map[string]string{"node": "n0", "op": "attester_duties", "outcome": "invalid"}); n != 1 {
				t.Fatalf("invalid answers counted %v, want 1", n)
			}
		})
	}
}

func TestProposerAndSyncDutiesAreValidated(t *testing.T) {
	net := testNetwork(t)
	epoch := currentEpoch(net)
	spe := phase0.Slot(net.Preset().SlotsPerEpoch)
	start := phase0.Slot(epoch) * spe
	for _, tc := range []struct {
		name    string
		pattern string
		body    any
		call    func(c started) error
	}{
		{"refuses a proposer outside the epoch", "GET /eth/v1/validator/duties/proposer/{epoch}",
			map[string]any{"dependent_root": beacontest.DependentRoot().String(), "data": []*apiv1.ProposerDuty{{PubKey: testKeys(1)[0], Slot: start + spe}}},
			func(c started) error { _, err := c.ProposerDuties(context.Background(), epoch); return err }},
		{"refuses two proposers for one slot", "GET /eth/v1/validator/duties/proposer/{epoch}",
			map[string]any{"dependent_root": beacontest.DependentRoot().String(), "data": []*apiv1.ProposerDuty{
				{PubKey: testKeys(2)[0], Slot: start, ValidatorIndex: 0}, {PubKey: testKeys(2)[1], Slot: start, ValidatorIndex: 1}}},
			func(c started) error { _, err := c.ProposerDuties(context.Background(), epoch); return err }},
		{"refuses a sync committee position beyond the committee", "POST /eth/v1/validator/duties/sync/{epoch}",
			map[string]any{"data": []*apiv1.SyncCommitteeDuty{{PubKey: testKeys(1)[0], ValidatorIndex: 0, ValidatorSyncCommitteeIndices: []phase0.CommitteeIndex{512}}}},
			func(c started) error {
				_, err := c.SyncCommitteeDuties(context.Background(), epoch, keyMap(testKeys(1)))
				return err
			}},
		{"refuses a sync committee duty for a validator not asked about", "POST /eth/v1/validator/duties/sync/{epoch}",
			map[string]any{"data": []*apiv1.SyncCommitteeDuty{{PubKey: testKeys(2)[1], ValidatorIndex: 1, ValidatorSyncCommitteeIndices: []phase0.CommitteeIndex{3}}}},
			func(c started) error {
				_, err := c.SyncCommitteeDuties(context.Background(), epoch, keyMap(testKeys(1)))
				return err
			}},
		{"refuses validators not asked for", "POST /eth/v1/beacon/states/{state}/validators",
			map[string]any{"data": []*apiv1.Validator{{Index: 5, Status: apiv1.ValidatorStateActiveOngoing,
				Validator: &phase0.Validator{PublicKey: phase0.BLSPubKey{0xbb}, WithdrawalCredentials: make([]byte, 32)}}}},
			func(c started) error {
				_, err := c.Validators(context.Background(), "head", testKeys(1))
				return err
			}},
		{"refuses liveness of validators not asked for", "POST /eth/v1/validator/liveness/{epoch}",
			map[string]any{"data": []*apiv1.ValidatorLiveness{{Index: 7, IsLive: true}}},
			func(c started) error {
				_, err := c.ValidatorLiveness(context.Background(), epoch, []phase0.ValidatorIndex{1})
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, 1)
			nodes[0].Handle(tc.pattern, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, tc.body) })
			c := startClient(t, net, nodes, nil)
			if err := tc.call(c); !errors.Is(err, beacon.ErrInvalidResponse) {
				t.Fatalf("got %v, want ErrInvalidResponse", err)
			}
		})
	}
}

func TestHonestAnswersPassValidation(t *testing.T) {
	net := testNetwork(t)
	c := startClient(t, net, fakeNodes(t, net, 1), nil)
	ctx := context.Background()
	epoch := currentEpoch(net)
	keys := testKeys(8)
	if _, err := c.ProposerDuties(ctx, epoch); err != nil {
		t.Fatal(err)
	}
	if d, err := c.SyncCommitteeDuties(ctx, epoch, keyMap(keys)); err != nil || len(d) != 8 {
		t.Fatalf("sync duties %d, %v", len(d), err)
	}
	vals, err := c.Validators(ctx, "head", keys[:3])
	if err != nil || len(vals) != 3 || vals[keys[2]].Index != 2 {
		t.Fatalf("validators %v, %v", vals, err)
	}
	if l, err := c.ValidatorLiveness(ctx, epoch-1, []phase0.ValidatorIndex{1, 2}); err != nil || len(l) != 2 {
		t.Fatalf("liveness %v, %v", l, err)
	}
	if f, err := c.ForkSchedule(ctx); err != nil || len(f) != 6 {
		t.Fatalf("fork schedule %v, %v", f, err)
	}
	if s, err := c.Spec(ctx); err != nil || s["SECONDS_PER_SLOT"] != 3*time.Second {
		t.Fatalf("spec %v, %v", s["SECONDS_PER_SLOT"], err)
	}
}

func TestInvalidRequestsSendNothing(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 1)
	c := startClient(t, net, nodes, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"refuses duties for no validators", func() error { _, err := c.AttesterDuties(ctx, 1, nil); return err }},
		{"refuses a zero public key", func() error {
			_, err := c.SyncCommitteeDuties(ctx, 1, map[phase0.ValidatorIndex]phase0.BLSPubKey{1: {}})
			return err
		}},
		{"refuses a validator query without keys", func() error { _, err := c.Validators(ctx, "head", nil); return err }},
		{"refuses a malformed state id", func() error { _, err := c.Validators(ctx, "head; rm", testKeys(1)); return err }},
		{"refuses repeated liveness indices", func() error {
			_, err := c.ValidatorLiveness(ctx, 1, []phase0.ValidatorIndex{1, 1})
			return err
		}},
		{"refuses an aggregate for a zero data root", func() error {
			_, err := c.AggregateAttestation(ctx, 1, phase0.Root{}, 0)
			return err
		}},
		{"refuses a contribution of a subcommittee that does not exist", func() error {
			_, err := c.SyncCommitteeContribution(ctx, 1, 4, phase0.Root{1})
			return err
		}},
		{"refuses a proposal without options", func() error { _, err := c.Proposal(ctx, nil); return err }},
		{"refuses an empty submission", func() error { return c.SubmitAttestations(ctx, nil) }},
		{"refuses an exit without a signature", func() error {
			return c.SubmitVoluntaryExit(ctx, &phase0.SignedVoluntaryExit{Message: &phase0.VoluntaryExit{}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, beacon.ErrInvalidRequest) {
				t.Fatalf("got %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := nodes[0].Calls("POST /eth/v1/beacon/states/{state}/validators"); n != 0 {
		t.Fatalf("an invalid request reached the node (%d calls)", n)
	}
}

// TestAggregatesAndContributionsAreValidated: an aggregate or contribution
// for something other than what was asked is refused.
func TestAggregatesAndContributionsAreValidated(t *testing.T) {
	net := testNetwork(t)
	slot := phase0.Slot(time.Since(net.GenesisTime())/net.SlotDuration()) - 2
	att := singleAttestation(slot, 3)
	dataRoot, err := att.Electra.Data.HashTreeRoot()
	if err != nil {
		t.Fatal(err)
	}
	serveAggregate := func(version string, a any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Eth-Consensus-Version", version)
			writeJSON(w, map[string]any{"version": version, "data": a})
		}
	}
	otherCommittee := *att.Electra
	otherCommittee.CommitteeBits = bitfield.NewBitvector64()
	otherCommittee.CommitteeBits.SetBitAt(2, true)
	noAttesters := *att.Electra
	noAttesters.AggregationBits = bitfield.NewBitlist(8)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"accepts the aggregate asked for", serveAggregate("electra", att.Electra)},
		{"refuses an aggregate of another committee", serveAggregate("electra", &otherCommittee)},
		{"refuses an aggregate without attesters", serveAggregate("electra", &noAttesters)},
		{"refuses an aggregate of another fork", serveAggregate("deneb", &phase0.Attestation{
			AggregationBits: att.Electra.AggregationBits, Data: att.Electra.Data, Signature: att.Electra.Signature})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := fakeNodes(t, net, 1)
			nodes[0].Handle("GET /eth/v2/validator/aggregate_attestation", tc.handler)
			c := startClient(t, net, nodes, nil)
			got, err := c.AggregateAttestation(context.Background(), slot, dataRoot, 0)
			if tc.name == "accepts the aggregate asked for" {
				if err != nil || got.Version != spec.DataVersionElectra {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, beacon.ErrInvalidResponse) {
				t.Fatalf("got %v, want ErrInvalidResponse", err)
			}
		})
	}

	t.Run("refuses a contribution for another block", func(t *testing.T) {
		nodes := fakeNodes(t, net, 1)
		nodes[0].Handle("GET /eth/v1/validator/sync_committee_contribution", func(w http.ResponseWriter, _ *http.Request) {
			beacontest.WriteData(w, &altair.SyncCommitteeContribution{Slot: slot, SubcommitteeIndex: 1,
				BeaconBlockRoot: phase0.Root{0xee}, AggregationBits: bitfield.NewBitvector128()})
		})
		c := startClient(t, net, nodes, nil)
		if _, err := c.SyncCommitteeContribution(context.Background(), slot, 1, phase0.Root{0x01}); !errors.Is(err, beacon.ErrInvalidResponse) {
			t.Fatalf("got %v, want ErrInvalidResponse", err)
		}
	})

	t.Run("refuses to publish a contribution without participants", func(t *testing.T) {
		nodes := fakeNodes(t, net, 1)
		c := startClient(t, net, nodes, nil)
		empty := &altair.SignedContributionAndProof{Message: &altair.ContributionAndProof{Contribution: &altair.SyncCommitteeContribution{
			Slot: slot, SubcommitteeIndex: 1, BeaconBlockRoot: phase0.Root{0x01}, AggregationBits: bitfield.NewBitvector128()}}}
		if err := c.SubmitSyncCommitteeContributions(context.Background(), []*altair.SignedContributionAndProof{empty}); !errors.Is(err, beacon.ErrInvalidRequest) {
			t.Fatalf("got %v, want ErrInvalidRequest", err)
		}
	})
}

// TestOptimisticBlockRootIsNotTaken: sync committee messages sign the
// head's root, which an execution-optimistic node must not give
// (sync/optimistic.md): the next node answers, and alone the answer is
// ErrUnavailable.
func TestOptimisticBlockRootIsNotTaken(t *testing.T) {
	net := testNetwork(t)
	nodes := fakeNodes(t, net, 2)
	nodes[0].Handle("GET /eth/v1/beacon/blocks/{block}/root", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"execution_optimistic": true, "finalized": false, "data": map[string]string{"root": phase0.Root{0x0f}.String()}})
	})
	nodes[1].Handle("GET /eth/v1/beacon/blocks/{block}/root", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"execution_optimistic": false, "finalized": false, "data": map[string]string{"root": phase0.Root{0x11}.String()}})
	})
	c := startClient(t, net, nodes, nil)
	root, err := c.BeaconBlockRoot(context.Background(), "head")
	if err != nil || root != (phase0.Root{0x11}) {
		t.Fatalf("got %#x, %v; want the verified node's root", root, err)
	}
	alone := startClient(t, net, nodes[:1], nil)
	if _, err := alone.BeaconBlockRoot(context.Background(), "head"); !errors.Is(err, beacon.ErrUnavailable) {
		t.Fatalf("optimistic answer gave %v, want ErrUnavailable", err)
	}
}
