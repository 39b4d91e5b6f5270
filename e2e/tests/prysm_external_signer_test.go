package tests

import (
	"context"
	"testing"
	"time"
)

// TestPrysmValidatorSignsThroughRampart: Prysm's own validator client, with
// no key of its own and --validators-external-signer-url pointing at a
// 3-of-5 Rampart cluster's loopback coordinator listener, keeps the chain
// finalising. Every signature it uses therefore came from the cluster: a
// standard validator client can use a Rampart cluster as its remote signer.
func TestPrysmValidatorSignsThroughRampart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s := NewStack(t, ctx, StackOptions{PrysmExternalSigner: true})
	s.WaitFinalized(ctx, 3)

	counts := s.AuditCounts(1)
	t.Logf("full signatures released by signer 1's coordinator: %v", counts)
	for _, typ := range []string{"ATTESTATION", "BLOCK_V2", "RANDAO_REVEAL"} {
		if counts[typ] == 0 {
			t.Errorf("no %s signed through the cluster", typ)
		}
	}
	if n, err := s.Slashings(ctx); err != nil || n != 0 {
		t.Errorf("slashings in the pool: %d (%v)", n, err)
	}
}
