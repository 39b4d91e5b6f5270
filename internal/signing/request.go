package signing

import (
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Type is the "type" of a Remote Signing API request.
type Type string

// The request types of the Remote Signing API (signing/schemas.yaml).
const (
	TypeAggregationSlot                   Type = "AGGREGATION_SLOT"
	TypeAggregateAndProof                 Type = "AGGREGATE_AND_PROOF"
	TypeAggregateAndProofV2               Type = "AGGREGATE_AND_PROOF_V2"
	TypeAttestation                       Type = "ATTESTATION"
	TypeBlock                             Type = "BLOCK"
	TypeBlockV2                           Type = "BLOCK_V2"
	TypeDeposit                           Type = "DEPOSIT"
	TypeGeneric                           Type = "GENERIC"
	TypeRandaoReveal                      Type = "RANDAO_REVEAL"
	TypeVoluntaryExit                     Type = "VOLUNTARY_EXIT"
	TypeSyncCommitteeMessage              Type = "SYNC_COMMITTEE_MESSAGE"
	TypeSyncCommitteeSelectionProof       Type = "SYNC_COMMITTEE_SELECTION_PROOF"
	TypeSyncCommitteeContributionAndProof Type = "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF"
	TypeValidatorRegistration             Type = "VALIDATOR_REGISTRATION"
)

// Types returns every request type, in the order of the specification's
// discriminator mapping.
func Types() []Type {
	return []Type{
		TypeAggregationSlot, TypeAggregateAndProof, TypeAggregateAndProofV2, TypeAttestation,
		TypeBlock, TypeBlockV2, TypeDeposit, TypeGeneric, TypeRandaoReveal, TypeVoluntaryExit,
		TypeSyncCommitteeMessage, TypeSyncCommitteeSelectionProof,
		TypeSyncCommitteeContributionAndProof, TypeValidatorRegistration,
	}
}

// Batchable reports whether requests of type t may be sent to the batch
// endpoint: the types whose signed object carries no validator identity
// (distributed-signing.md, "Batch signing").
func (t Type) Batchable() bool {
	switch t {
	case TypeAggregationSlot, TypeAttestation, TypeGeneric, TypeRandaoReveal,
		TypeSyncCommitteeMessage, TypeSyncCommitteeSelectionProof:
		return true
	}
	return false
}

// usesForkInfo reports whether requests of type t carry fork_info: all but
// DEPOSIT, VALIDATOR_REGISTRATION (both signed over the genesis fork
// version) and GENERIC (whose domain is given whole).
func (t Type) usesForkInfo() bool {
	switch t {
	case TypeDeposit, TypeValidatorRegistration, TypeGeneric:
		return false
	}
	return true
}

// payloadKey is the request member that carries the object of type t.
func (t Type) payloadKey() string {
	switch t {
	case TypeAggregationSlot:
		return "aggregation_slot"
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		return "aggregate_and_proof"
	case TypeAttestation:
		return "attestation"
	case TypeBlock:
		return "block"
	case TypeBlockV2:
		return "beacon_block"
	case TypeDeposit:
		return "deposit"
	case TypeGeneric:
		return "signing_data"
	case TypeRandaoReveal:
		return "randao_reveal"
	case TypeVoluntaryExit:
		return "voluntary_exit"
	case TypeSyncCommitteeMessage:
		return "sync_committee_message"
	case TypeSyncCommitteeSelectionProof:
		return "sync_aggregator_selection_data"
	case TypeSyncCommitteeContributionAndProof:
		return "contribution_and_proof"
	case TypeValidatorRegistration:
		return "validator_registration"
	}
	return ""
}

// Request is one decoded signing request. Exactly one payload field, the
// one its Type names, is set. Values from [ParseRequest] and [ParseBatch]
// have passed strict decoding and must not be changed; a Request built by
// hand (or a copy of a decoded one) is encoded and strictly decoded again
// by every method that uses it, so that it is held to exactly the rules of
// a received one.
type Request struct {
	// Type is the request type.
	Type Type
	// ForkInfo is set for every type except DEPOSIT,
	// VALIDATOR_REGISTRATION and GENERIC.
	ForkInfo *ForkInfo
	// ProvidedRoot is the signing root the sender computed (signingRoot or
	// signing_root), nil when it sent none. It is only compared with the
	// computed root, never signed.
	ProvidedRoot *phase0.Root

	// AggregationSlot is the payload of AGGREGATION_SLOT.
	AggregationSlot *AggregationSlot
	// AggregateAndProof is the payload of AGGREGATE_AND_PROOF (Version
	// phase0) and AGGREGATE_AND_PROOF_V2.
	AggregateAndProof *AggregateAndProof
	// Attestation is the payload of ATTESTATION.
	Attestation *phase0.AttestationData
	// Block is the payload of BLOCK (Version phase0, full block) and
	// BLOCK_V2.
	Block *BeaconBlock
	// Deposit is the payload of DEPOSIT.
	Deposit *Deposit
	// SigningData is the payload of GENERIC.
	SigningData *phase0.SigningData
	// RandaoReveal is the payload of RANDAO_REVEAL.
	RandaoReveal *RandaoReveal
	// VoluntaryExit is the payload of VOLUNTARY_EXIT.
	VoluntaryExit *phase0.VoluntaryExit
	// SyncCommitteeMessage is the payload of SYNC_COMMITTEE_MESSAGE.
	SyncCommitteeMessage *SyncCommitteeMessage
	// SyncAggregatorSelectionData is the payload of
	// SYNC_COMMITTEE_SELECTION_PROOF.
	SyncAggregatorSelectionData *altair.SyncAggregatorSelectionData
	// ContributionAndProof is the payload of
	// SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF.
	ContributionAndProof *altair.ContributionAndProof
	// ValidatorRegistration is the payload of VALIDATOR_REGISTRATION.
	ValidatorRegistration *apiv1.ValidatorRegistration

	// from is set by ParseRequest and ParseBatch (see Received).
	from *received
}

// received is what a decoded Request was decoded from, and the value the
// decoder returned: a copy of that value, which may have been changed
// since, is not it.
type received struct {
	body []byte
	req  *Request
}

// Received returns the JSON r was decoded from by [ParseRequest] (the body
// it was given) or [ParseBatch] (the batch's signing_request member),
// exactly as received; nil for a Request built by hand or a copy of a
// decoded one. It is not a copy: neither the caller nor anyone else may
// change it.
//
// A coordinator forwards these bytes. Strict decoding refused duplicate
// keys and every member inside a signed object that the schema does not
// define, so the bytes mean one request, the one r holds; each participant
// decodes and checks them itself, and computes its own signing root.
func (r *Request) Received() []byte {
	if r.from == nil || r.from.req != r {
		return nil
	}
	return r.from.body
}

// ForkInfo is the fork_info of a request.
type ForkInfo struct {
	// Fork is the fork the sender believes in effect.
	Fork phase0.Fork
	// GenesisValidatorsRoot identifies the chain.
	GenesisValidatorsRoot phase0.Root
}

// AggregationSlot is the payload of AGGREGATION_SLOT: the slot whose
// selection proof is signed.
type AggregationSlot struct {
	Slot phase0.Slot `json:"slot"`
}

// RandaoReveal is the payload of RANDAO_REVEAL: the epoch whose RANDAO
// reveal is signed.
type RandaoReveal struct {
	Epoch phase0.Epoch `json:"epoch"`
}

// SyncCommitteeMessage is the payload of SYNC_COMMITTEE_MESSAGE: the signed
// object is BeaconBlockRoot; Slot selects the domain.
type SyncCommitteeMessage struct {
	BeaconBlockRoot phase0.Root `json:"beacon_block_root"`
	Slot            phase0.Slot `json:"slot"`
}

// Deposit is the payload of DEPOSIT: a DepositMessage and the genesis fork
// version of the network the deposit is for.
type Deposit struct {
	Pubkey                phase0.BLSPubKey
	WithdrawalCredentials phase0.Root
	Amount                phase0.Gwei
	GenesisForkVersion    phase0.Version
}

// AggregateAndProof is a versioned aggregate and proof. PHASE0 to DENEB use
// the phase0 container, ELECTRA and FULU the electra one.
//
// The deprecated AGGREGATE_AND_PROOF carries no version; its schema is the
// phase0 container, but Lighthouse and Teku send their Electra aggregates
// (with committee_bits) under it. Such a request decodes to the electra
// container with Version electra, and otherwise to phase0; the network
// check requires the container the network uses at the aggregate's slot.
type AggregateAndProof struct {
	Version spec.DataVersion
	// Phase0 is set for versions phase0 to deneb.
	Phase0 *phase0.AggregateAndProof
	// Electra is set for versions electra and fulu.
	Electra *electra.AggregateAndProof
}

// BeaconBlock is a versioned block to propose. The specification sends the
// full block for PHASE0 and ALTAIR and only the header from BELLATRIX on;
// the header of a PHASE0 or ALTAIR block is also accepted, since some
// clients (Nimbus) send it and it has the same root.
type BeaconBlock struct {
	Version spec.DataVersion
	// Phase0 is the full phase0 block (BLOCK, or BLOCK_V2 version PHASE0).
	Phase0 *phase0.BeaconBlock
	// Altair is the full altair block (BLOCK_V2 version ALTAIR).
	Altair *altair.BeaconBlock
	// Header is the block header (BLOCK_V2).
	Header *phase0.BeaconBlockHeader
}

// Slot returns the block's slot.
func (b *BeaconBlock) Slot() phase0.Slot {
	switch {
	case b.Header != nil:
		return b.Header.Slot
	case b.Phase0 != nil:
		return b.Phase0.Slot
	case b.Altair != nil:
		return b.Altair.Slot
	}
	return 0
}
