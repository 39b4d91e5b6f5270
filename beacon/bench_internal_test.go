package beacon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

func benchNetwork(b *testing.B) *network.Network {
	cfg := fmt.Sprintf("PRESET_BASE: mainnet\nMIN_GENESIS_TIME: %d\nGENESIS_DELAY: 0\nGENESIS_FORK_VERSION: 0x10000000\nELECTRA_FORK_VERSION: 0x10000005\nELECTRA_FORK_EPOCH: 0\nALTAIR_FORK_VERSION: 0x10000001\nALTAIR_FORK_EPOCH: 0\nBELLATRIX_FORK_VERSION: 0x10000002\nBELLATRIX_FORK_EPOCH: 0\nCAPELLA_FORK_VERSION: 0x10000003\nCAPELLA_FORK_EPOCH: 0\nDENEB_FORK_VERSION: 0x10000004\nDENEB_FORK_EPOCH: 0\nSECONDS_PER_SLOT: 12\n", time.Now().Add(-time.Hour).Unix())
	n, err := network.ParseConfig([]byte(cfg), phase0.Root{1})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkChooseAttestationData: the selection rule over four answers in
// a split (no identical majority), the slow path.
func BenchmarkChooseAttestationData(b *testing.B) {
	var answers []*answer
	for i := 0; i < 4; i++ {
		d := &phase0.AttestationData{Slot: 100, BeaconBlockRoot: phase0.Root{byte(i)},
			Source: &phase0.Checkpoint{Epoch: 2}, Target: &phase0.Checkpoint{Epoch: 3, Root: phase0.Root{byte(i % 2)}}}
		root, _ := d.HashTreeRoot()
		answers = append(answers, &answer{node: &node{name: fmt.Sprint(i)}, rank: i, data: d, root: root, head: phase0.Slot(99 + i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		chooseAttestationData(answers)
	}
}

// BenchmarkCheckAttesterDuties1024: validating the duties of 1,024
// validators, as every epoch does.
func BenchmarkCheckAttesterDuties1024(b *testing.B) {
	c := &Client{net: benchNetwork(b)}
	vals := map[phase0.ValidatorIndex]phase0.BLSPubKey{}
	var duties []*apiv1.AttesterDuty
	for i := 0; i < 1024; i++ {
		pk := phase0.BLSPubKey{byte(i), byte(i >> 8), 1}
		vals[phase0.ValidatorIndex(i)] = pk
		duties = append(duties, &apiv1.AttesterDuty{PubKey: pk, ValidatorIndex: phase0.ValidatorIndex(i),
			Slot: phase0.Slot(320 + i%32), CommitteeIndex: phase0.CommitteeIndex(i % 4), CommitteesAtSlot: 8,
			CommitteeLength: 300, ValidatorCommitteeIndex: uint64(i % 300)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.checkAttesterDuties(10, vals, duties); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSSEReader: parsing head events as a node streams them.
func BenchmarkSSEReader(b *testing.B) {
	var stream bytes.Buffer
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&stream, "event: head\ndata: {\"slot\":\"%d\",\"block\":\"0x%064x\",\"state\":\"0x%064x\",\"epoch_transition\":false}\n\n", i, i, i)
	}
	data := stream.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := newSSEReader(bytes.NewReader(data))
		for {
			if _, err := r.next(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
