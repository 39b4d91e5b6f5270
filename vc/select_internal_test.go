package vc

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// proofWithHash finds a made-up proof whose hash's first eight bytes,
// little-endian, have the wanted remainder modulo m.
func proofWithHash(t *testing.T, m, remainder uint64) phase0.BLSSignature {
	t.Helper()
	for i := 0; i < 10000; i++ {
		var p phase0.BLSSignature
		binary.LittleEndian.PutUint64(p[:], uint64(i))
		h := sha256.Sum256(p[:])
		if binary.LittleEndian.Uint64(h[:8])%m == remainder {
			return p
		}
	}
	t.Fatal("no proof found")
	return phase0.BLSSignature{}
}

func TestAggregatorSelection(t *testing.T) {
	selectedProof := proofWithHash(t, 32, 0)
	notSelected := proofWithHash(t, 32, 5)
	for _, tc := range []struct {
		name      string
		committee uint64
		proof     phase0.BLSSignature
		want      bool
	}{
		{"every member of a committee of at most 16 aggregates", 16, notSelected, true},
		{"a committee of 512 selects a proof whose hash is 0 mod 32", 512, selectedProof, true},
		{"a committee of 512 passes over a proof whose hash is 5 mod 32", 512, notSelected, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isAggregator(tc.committee, tc.proof); got != tc.want {
				t.Fatalf("isAggregator = %v, want %v", got, tc.want)
			}
		})
	}
	// Mainnet: 512 seats, 4 subnets, 16 aggregators per subnet: modulo 8.
	p := network.MainnetPreset()
	if !isSyncAggregator(p, proofWithHash(t, 8, 0)) || isSyncAggregator(p, proofWithHash(t, 8, 3)) {
		t.Fatal("sync aggregator selection is not modulo 8 on the mainnet preset")
	}
	// Minimal: 32 seats: modulo max(1, 32/4/16) = 1, everyone.
	if !isSyncAggregator(network.MinimalPreset(), proofWithHash(t, 8, 3)) {
		t.Fatal("every sync committee member aggregates on the minimal preset")
	}
}

func TestSubcommitteesAreDistinctAndSorted(t *testing.T) {
	d := &apiv1.SyncCommitteeDuty{ValidatorSyncCommitteeIndices: []phase0.CommitteeIndex{511, 3, 130, 5, 300}}
	got := subcommittees(network.MainnetPreset(), d)
	want := []uint64{0, 1, 2, 3}
	if len(got) != len(want) {
		t.Fatalf("subcommittees %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("subcommittees %v, want %v", got, want)
		}
	}
}

func TestRequestIndexIsZeroFromElectra(t *testing.T) {
	if requestIndex(spec.DataVersionDeneb, 7) != 7 || requestIndex(spec.DataVersionElectra, 7) != 0 || requestIndex(spec.DataVersionFulu, 7) != 0 {
		t.Fatal("attestation data must be asked per committee before Electra and with index 0 from Electra on")
	}
}
