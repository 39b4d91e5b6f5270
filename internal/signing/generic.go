package signing

import (
	"encoding/binary"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// DomainRampartProof is the domain type of Rampart's administrative proof
// of possession: each signer's partial signature over one fixed message,
// with which an import checks that the cluster holds a key. It is private
// to Rampart: not of the consensus form 0xXX000000, not an application
// domain of the builder specification, and refused to GENERIC requests
// ([CheckGenericDomainType]), so a proof signature is never anything else.
var DomainRampartProof = phase0.DomainType{'R', 'P', 'O', 'P'}

// typedDomains maps every domain type that has a typed request, or a
// signature of its own in Rampart, to what to use instead of GENERIC.
var typedDomains = map[uint32]string{
	domainBeaconProposer:                           "BLOCK_V2",
	domainBeaconAttester:                           "ATTESTATION",
	domainRandao:                                   "RANDAO_REVEAL",
	domainDeposit:                                  "DEPOSIT",
	domainVoluntaryExit:                            "VOLUNTARY_EXIT",
	domainSelectionProof:                           "AGGREGATION_SLOT",
	domainAggregateAndProof:                        "AGGREGATE_AND_PROOF_V2",
	domainSyncCommittee:                            "SYNC_COMMITTEE_MESSAGE",
	domainSyncCommitteeSelectionProof:              "SYNC_COMMITTEE_SELECTION_PROOF",
	domainContributionAndProof:                     "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF",
	domainBLSToExecutionChange:                     "no request type: a BLS-to-execution change is signed with the withdrawal key, never a validator key",
	domainApplicationBuilder:                       "VALIDATOR_REGISTRATION",
	binary.BigEndian.Uint32(DomainRampartProof[:]): "the administrative proof of possession (rampartctl import)",
}

// domainBLSToExecutionChange is DOMAIN_BLS_TO_EXECUTION_CHANGE (capella).
const domainBLSToExecutionChange uint32 = 0x0A000000

// CheckGenericDomainType decides whether a GENERIC request may be signed in
// domain type d. It refuses ([ErrGenericTypedDomain]), whoever asks:
//
//   - every domain type that has a typed request (proposer, attester,
//     RANDAO, deposit, voluntary exit, selection proof, aggregate and proof,
//     sync committee, sync committee selection proof, contribution and
//     proof, application builder) or is a signature of its own (the
//     BLS-to-execution change, Rampart's proof of possession): a GENERIC
//     signature there is the typed signature without the checks the typed
//     request gets (slashing protection, the request type's grant);
//   - every other domain type of the consensus form 0xXX000000, failing
//     closed for the domains later forks add.
//
// Every signer and coordinator calls it on every GENERIC request, after
// the request type was granted to the client.
func CheckGenericDomainType(d phase0.DomainType) error {
	v := binary.BigEndian.Uint32(d[:])
	if use, ok := typedDomains[v]; ok {
		return fmt.Errorf("%w: domain type %#08x: use %s", ErrGenericTypedDomain, v, use)
	}
	if v&0x00ffffff == 0 {
		return fmt.Errorf("%w: domain type %#08x is of the consensus form 0xXX000000, kept for the typed requests of this and later forks", ErrGenericTypedDomain, v)
	}
	return nil
}

// Duty reports whether t is a validator duty: what a validator client
// signs in the course of validating, and so what signers may ask each
// other for when one coordinates a signature for a validator client
// (DEPOSIT, VOLUNTARY_EXIT and GENERIC are not).
func (t Type) Duty() bool {
	switch t {
	case TypeAttestation, TypeBlock, TypeBlockV2, TypeRandaoReveal, TypeAggregationSlot,
		TypeAggregateAndProof, TypeAggregateAndProofV2, TypeSyncCommitteeMessage,
		TypeSyncCommitteeSelectionProof, TypeSyncCommitteeContributionAndProof,
		TypeValidatorRegistration:
		return true
	}
	return false
}

// DutyTypes returns the validator-duty request types ([Type.Duty]), in the
// order of [Types].
func DutyTypes() []Type {
	var out []Type
	for _, t := range Types() {
		if t.Duty() {
			out = append(out, t)
		}
	}
	return out
}
