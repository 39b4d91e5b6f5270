package appliance

import (
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
)

// TestSignedVotesStayBounded: the attestation data remembered for
// conflicts never exceed the bound; the oldest goes first, a repeat adds
// nothing.
func TestSignedVotesStayBounded(t *testing.T) {
	const n = 4
	s := newSignedVotes(n)
	vote := func(i byte) *signing.Vote {
		return &signing.Vote{SigningRoot: phase0.Root{i}, Data: &phase0.AttestationData{Slot: phase0.Slot(i),
			Source: &phase0.Checkpoint{}, Target: &phase0.Checkpoint{}}}
	}
	for i := byte(1); i <= 10; i++ {
		s.add(vote(i))
		s.add(vote(i)) // a repeat (every validator of a slot)
		if got, want := s.len(), min(int(i), n); got != want {
			t.Fatalf("after %d votes: %d remembered, want %d", i, got, want)
		}
	}
	for i := byte(1); i <= 10; i++ {
		if got := s.get(phase0.Root{i}) != nil; got != (i > 10-n) {
			t.Errorf("vote %d remembered: %v", i, got)
		}
	}
	s.add(nil)
	s.add(&signing.Vote{SigningRoot: phase0.Root{0xff}})
	if s.len() != n || s.get(phase0.Root{0xff}) != nil {
		t.Error("a vote without data was remembered")
	}
}
