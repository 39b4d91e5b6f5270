package vc_test

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/vc"
)

// submittedAttestation is the part of a published attestation (phase0
// Attestation or Electra SingleAttestation JSON) the tests read.
type submittedAttestation struct {
	Data          *phase0.AttestationData `json:"data"`
	Signature     string                  `json:"signature"`
	AttesterIndex string                  `json:"attester_index"`
}

// TestDutiesOnEveryFork runs the client on a chain of each fork from
// genesis and checks that, for a whole epoch, every validator's
// attestation is published with a signature that verifies under its
// composite key, every slot gets a block (blinded from Bellatrix on, with
// builders enabled), aggregates are published, and from Altair on sync
// committee messages and contributions too.
func TestDutiesOnEveryFork(t *testing.T) {
	for _, fork := range []spec.DataVersion{spec.DataVersionPhase0, spec.DataVersionAltair, spec.DataVersionBellatrix,
		spec.DataVersionCapella, spec.DataVersionDeneb, spec.DataVersionElectra, spec.DataVersionFulu} {
		t.Run(fork.String(), func(t *testing.T) {
			t.Parallel()
			o := defaultEnv()
			o.fork = fork
			e := newEnv(t, o)
			_, reg, _, stop := e.start(t, func(c *vc.Config) { c.Builder.Enabled = true })
			spe := phase0.Slot(o.slotsPerEpoch)
			// Epoch 2 is the first whole epoch the client sees.
			first, last := 2*spe, 3*spe-1
			waitFor(t, 2*time.Minute, "the end of epoch 2", func() bool { return e.slotNow() > last+1 })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}

			atts := decodeItems[submittedAttestation](t, e.node.Submissions("/eth/v2/beacon/pool/attestations"))
			perSlot := map[phase0.Slot]int{}
			for _, a := range atts {
				if a.Data.Slot < first || a.Data.Slot > last {
					continue
				}
				perSlot[a.Data.Slot]++
				e.checkAttestationSignature(t, a)
			}
			for s := first; s <= last; s++ {
				if want := o.validators / int(o.slotsPerEpoch); perSlot[s] != want {
					t.Errorf("slot %d: %d attestations published, want %d", s, perSlot[s], want)
				}
				e.mu.Lock()
				blocks := e.published[s]
				e.mu.Unlock()
				if blocks != 1 {
					t.Errorf("slot %d: %d blocks published, want 1", s, blocks)
				}
			}
			if got := len(e.node.Submissions("/eth/v2/validator/aggregate_and_proofs")); got == 0 {
				t.Error("no aggregate published")
			}
			// The node's aggregate is asked once per committee, however
			// many of the client's validators aggregate for it.
			e.mu.Lock()
			for k, n := range e.aggregateAsks {
				if n != 1 {
					t.Errorf("slot %d, committee %d: the aggregate was asked %d times, want once", k[0], k[1], n)
				}
			}
			asks := len(e.aggregateAsks)
			e.mu.Unlock()
			if asks == 0 {
				t.Error("the node's aggregate was never asked")
			}
			syncMsgs := len(e.node.Submissions("/eth/v1/beacon/pool/sync_committees"))
			contributions := len(e.node.Submissions("/eth/v1/validator/contribution_and_proofs"))
			preparations := len(e.node.Submissions("/eth/v1/validator/prepare_beacon_proposer"))
			registrations := len(e.node.Submissions("/eth/v1/validator/register_validator"))
			if fork >= spec.DataVersionAltair && (syncMsgs < o.validators*int(spe) || contributions == 0) {
				t.Errorf("%d sync committee messages and %d contributions published", syncMsgs, contributions)
			}
			if fork < spec.DataVersionAltair && syncMsgs+contributions > 0 {
				t.Errorf("sync committee messages before Altair")
			}
			if fork >= spec.DataVersionBellatrix && (preparations == 0 || registrations == 0) {
				t.Errorf("%d fee recipient preparations and %d builder registrations published", preparations, registrations)
			}
			if got := counter(t, reg, "rampart_vc_signatures_total", map[string]string{"result": "failed"}); got != 0 {
				t.Errorf("%v signatures failed", got)
			}
		})
	}
}

// checkAttestationSignature verifies a published attestation under the
// key of its attester (Electra) or of one of the validators (before).
func (e *env) checkAttestationSignature(t *testing.T, a submittedAttestation) {
	t.Helper()
	req := &signing.Request{Type: signing.TypeAttestation, Attestation: a.Data, ForkInfo: e.forkInfo(a.Data.Target.Epoch)}
	root, err := req.SigningRoot(e.net)
	if err != nil {
		t.Fatal(err)
	}
	for i, sk := range e.cluster.secrets {
		if a.AttesterIndex != "" && a.AttesterIndex != fmt.Sprint(i) {
			continue
		}
		want := sk.Sign(root).Bytes()
		if a.Signature == "0x"+hex.EncodeToString(want[:]) {
			return
		}
	}
	t.Errorf("attestation at slot %d (attester %q): signature verifies under no validator key", a.Data.Slot, a.AttesterIndex)
}

// forkInfo is the fork_info of a message of epoch on the env's chain.
func (e *env) forkInfo(epoch phase0.Epoch) *signing.ForkInfo {
	f := e.net.ForkAtEpoch(epoch)
	return &signing.ForkInfo{Fork: phase0.Fork{PreviousVersion: f.PreviousVersion, CurrentVersion: f.Version, Epoch: f.Epoch}, GenesisValidatorsRoot: e.net.GenesisValidatorsRoot()}
}
