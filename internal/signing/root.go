package signing

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	dynssz "github.com/pk910/dynamic-ssz"

	"github.com/rampart-signer/rampart/internal/network"
)

// Domain types of the consensus specifications (phase0, altair) and of the
// builder specification (DOMAIN_APPLICATION_BUILDER), as the big-endian
// value of their four bytes.
const (
	domainBeaconProposer              uint32 = 0x00000000
	domainBeaconAttester              uint32 = 0x01000000
	domainRandao                      uint32 = 0x02000000
	domainDeposit                     uint32 = 0x03000000
	domainVoluntaryExit               uint32 = 0x04000000
	domainSelectionProof              uint32 = 0x05000000
	domainAggregateAndProof           uint32 = 0x06000000
	domainSyncCommittee               uint32 = 0x07000000
	domainSyncCommitteeSelectionProof uint32 = 0x08000000
	domainContributionAndProof        uint32 = 0x09000000
	domainApplicationBuilder          uint32 = 0x00000001
)

func domainType(d uint32) phase0.DomainType {
	var t phase0.DomainType
	binary.BigEndian.PutUint32(t[:], d)
	return t
}

// IsSlashableDomain reports whether d is DOMAIN_BEACON_PROPOSER or
// DOMAIN_BEACON_ATTESTER, the domains slashing protection guards. GENERIC
// requests are refused in these and every other typed domain by
// [CheckGenericDomainType].
func IsSlashableDomain(d phase0.DomainType) bool {
	return d == domainType(domainBeaconProposer) || d == domainType(domainBeaconAttester)
}

// DomainType returns the domain type the request is signed in; for GENERIC
// it is the first four bytes of the given domain.
func (r *Request) DomainType() phase0.DomainType {
	switch r.Type {
	case TypeAggregationSlot:
		return domainType(domainSelectionProof)
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		return domainType(domainAggregateAndProof)
	case TypeAttestation:
		return domainType(domainBeaconAttester)
	case TypeBlock, TypeBlockV2:
		return domainType(domainBeaconProposer)
	case TypeDeposit:
		return domainType(domainDeposit)
	case TypeRandaoReveal:
		return domainType(domainRandao)
	case TypeVoluntaryExit:
		return domainType(domainVoluntaryExit)
	case TypeSyncCommitteeMessage:
		return domainType(domainSyncCommittee)
	case TypeSyncCommitteeSelectionProof:
		return domainType(domainSyncCommitteeSelectionProof)
	case TypeSyncCommitteeContributionAndProof:
		return domainType(domainContributionAndProof)
	case TypeValidatorRegistration:
		return domainType(domainApplicationBuilder)
	case TypeGeneric:
		if r.SigningData != nil {
			return phase0.DomainType(r.SigningData.Domain[:4])
		}
	}
	return phase0.DomainType{}
}

// ComputeDomain is compute_domain of the consensus specifications: the
// domain type followed by the first 28 bytes of the fork data root of
// version and genesis validators root.
func ComputeDomain(domainType phase0.DomainType, version phase0.Version, genesisValidatorsRoot phase0.Root) phase0.Domain {
	var forkData [64]byte // ForkData{current_version, genesis_validators_root}: two chunks
	copy(forkData[:4], version[:])
	copy(forkData[32:], genesisValidatorsRoot[:])
	forkDataRoot := sha256.Sum256(forkData[:])
	var d phase0.Domain
	copy(d[:4], domainType[:])
	copy(d[4:], forkDataRoot[:28])
	return d
}

// ComputeSigningRoot is compute_signing_root: the hash tree root of
// SigningData{object_root, domain}, that is SHA-256(object_root || domain).
func ComputeSigningRoot(objectRoot phase0.Root, domain phase0.Domain) phase0.Root {
	var data [64]byte
	copy(data[:32], objectRoot[:])
	copy(data[32:], domain[:])
	return sha256.Sum256(data[:])
}

// Slot returns the slot of the message, for the types that carry one.
func (r *Request) Slot() (phase0.Slot, bool) {
	switch {
	case r.Type == TypeAggregationSlot && r.AggregationSlot != nil:
		return r.AggregationSlot.Slot, true
	case (r.Type == TypeAggregateAndProof || r.Type == TypeAggregateAndProofV2) && r.AggregateAndProof != nil:
		return r.AggregateAndProof.data()
	case r.Type == TypeAttestation && r.Attestation != nil:
		return r.Attestation.Slot, true
	case (r.Type == TypeBlock || r.Type == TypeBlockV2) && r.Block != nil:
		return r.Block.Slot(), true
	case r.Type == TypeSyncCommitteeMessage && r.SyncCommitteeMessage != nil:
		return r.SyncCommitteeMessage.Slot, true
	case r.Type == TypeSyncCommitteeSelectionProof && r.SyncAggregatorSelectionData != nil:
		return r.SyncAggregatorSelectionData.Slot, true
	case r.Type == TypeSyncCommitteeContributionAndProof && r.ContributionAndProof != nil && r.ContributionAndProof.Contribution != nil:
		return r.ContributionAndProof.Contribution.Slot, true
	}
	return 0, false
}

// data returns the slot of the aggregated attestation.
func (a *AggregateAndProof) data() (phase0.Slot, bool) {
	switch {
	case a.Phase0 != nil && a.Phase0.Aggregate != nil && a.Phase0.Aggregate.Data != nil:
		return a.Phase0.Aggregate.Data.Slot, true
	case a.Electra != nil && a.Electra.Aggregate != nil && a.Electra.Aggregate.Data != nil:
		return a.Electra.Aggregate.Data.Slot, true
	}
	return 0, false
}

// Epoch returns the message epoch, the epoch whose fork the domain is
// computed for: the target epoch of an attestation, the exit or RANDAO
// epoch, else the epoch of the message's slot. DEPOSIT,
// VALIDATOR_REGISTRATION and GENERIC have none.
func (r *Request) Epoch(n *network.Network) (phase0.Epoch, bool) {
	switch {
	case r.Type == TypeAttestation && r.Attestation != nil && r.Attestation.Target != nil:
		return r.Attestation.Target.Epoch, true
	case r.Type == TypeRandaoReveal && r.RandaoReveal != nil:
		return r.RandaoReveal.Epoch, true
	case r.Type == TypeVoluntaryExit && r.VoluntaryExit != nil:
		return r.VoluntaryExit.Epoch, true
	}
	if slot, ok := r.Slot(); ok && r.Type != TypeAttestation {
		return n.EpochAtSlot(slot), true
	}
	return 0, false
}

// SigningRoot computes the root a signer signs for this request on network
// n: the hash tree root of the message mixed with its domain. The domain
// comes from the request's fork_info (checked against the network by
// [Request.Check], not here), except that:
//
//   - DEPOSIT uses the request's genesis_fork_version and a zero genesis
//     validators root;
//   - VALIDATOR_REGISTRATION uses the network's genesis fork version and a
//     zero root (builder specification);
//   - VOLUNTARY_EXIT for an epoch at or after the network's Deneb fork uses
//     the network's Capella fork version (EIP-7044);
//   - GENERIC gives its domain and object root directly.
//
// Object shapes that depend on the preset (sync committee and committee
// bit fields) must match the network's.
func (r *Request) SigningRoot(n *network.Network) (phase0.Root, error) {
	root, _, err := r.signingRoot(n)
	return root, err
}

func (r *Request) signingRoot(n *network.Network) (phase0.Root, phase0.Domain, error) {
	r, err := r.checked()
	if err != nil {
		return phase0.Root{}, phase0.Domain{}, err
	}
	if err := r.checkPreset(n.Preset()); err != nil {
		return phase0.Root{}, phase0.Domain{}, err
	}
	return r.computeRoot(n)
}

// computeRoot computes the signing root of a validated request whose
// preset-dependent sizes fit n.
func (r *Request) computeRoot(n *network.Network) (phase0.Root, phase0.Domain, error) {
	domain := r.domain(n)
	object, err := r.objectRoot(n.Preset())
	if err != nil {
		return phase0.Root{}, phase0.Domain{}, err
	}
	return ComputeSigningRoot(object, domain), domain, nil
}

// domain computes the signing domain; r has been validated.
func (r *Request) domain(n *network.Network) phase0.Domain {
	switch r.Type {
	case TypeGeneric:
		return r.SigningData.Domain
	case TypeDeposit:
		return ComputeDomain(domainType(domainDeposit), r.Deposit.GenesisForkVersion, phase0.Root{})
	case TypeValidatorRegistration:
		return ComputeDomain(domainType(domainApplicationBuilder), n.GenesisForkVersion(), phase0.Root{})
	}
	epoch, _ := r.Epoch(n)
	fi := r.ForkInfo
	if r.Type == TypeVoluntaryExit {
		if capella, ok := eip7044Fork(n, epoch); ok {
			return ComputeDomain(domainType(domainVoluntaryExit), capella.Version, fi.GenesisValidatorsRoot)
		}
	}
	version := fi.Fork.CurrentVersion
	if epoch < fi.Fork.Epoch {
		version = fi.Fork.PreviousVersion
	}
	return ComputeDomain(r.DomainType(), version, fi.GenesisValidatorsRoot)
}

// eip7044Fork returns the Capella fork when a voluntary exit of the given
// epoch is signed over it: from Deneb on, exits are verified with the
// Capella fork version forever (EIP-7044).
func eip7044Fork(n *network.Network, epoch phase0.Epoch) (network.Fork, bool) {
	deneb, ok := n.Fork(spec.DataVersionDeneb)
	if !ok || epoch < deneb.Epoch {
		return network.Fork{}, false
	}
	return n.Fork(spec.DataVersionCapella)
}

// hashRoot is implemented by the go-eth2-client types.
type hashRoot interface {
	HashTreeRoot() ([32]byte, error)
}

// objectRoot is the hash tree root of the signed object; r has been
// validated and its preset-dependent sizes checked.
func (r *Request) objectRoot(p network.Preset) (phase0.Root, error) {
	var obj hashRoot
	presetDependent := false
	switch r.Type {
	case TypeAggregationSlot:
		return uint64Root(uint64(r.AggregationSlot.Slot)), nil
	case TypeRandaoReveal:
		return uint64Root(uint64(r.RandaoReveal.Epoch)), nil
	case TypeSyncCommitteeMessage:
		return r.SyncCommitteeMessage.BeaconBlockRoot, nil
	case TypeGeneric:
		return r.SigningData.ObjectRoot, nil
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		if a := r.AggregateAndProof; a.Electra != nil {
			obj, presetDependent = a.Electra, true
		} else {
			obj = a.Phase0
		}
	case TypeAttestation:
		obj = r.Attestation
	case TypeBlock, TypeBlockV2:
		switch b := r.Block; {
		case b.Header != nil:
			obj = b.Header
		case b.Altair != nil:
			obj, presetDependent = b.Altair, true
		default:
			obj = b.Phase0
		}
	case TypeDeposit:
		d := r.Deposit
		obj = &phase0.DepositMessage{PublicKey: d.Pubkey, WithdrawalCredentials: d.WithdrawalCredentials[:], Amount: d.Amount}
	case TypeVoluntaryExit:
		obj = r.VoluntaryExit
	case TypeSyncCommitteeSelectionProof:
		obj = r.SyncAggregatorSelectionData
	case TypeSyncCommitteeContributionAndProof:
		obj, presetDependent = r.ContributionAndProof, true
	case TypeValidatorRegistration:
		obj = r.ValidatorRegistration
	}
	var root [32]byte
	var err error
	if presetDependent && p != network.MainnetPreset() {
		// The generated hashing code has the mainnet sizes built in; other
		// presets go through dynamic-ssz with the preset's values. A fresh
		// instance per call keeps no state between requests; only test
		// networks pay its cost.
		root, err = dynssz.NewDynSsz(presetSpecs(p)).HashTreeRoot(obj)
	} else {
		root, err = obj.HashTreeRoot()
	}
	if err != nil {
		return phase0.Root{}, fmt.Errorf("%w: hashing %s: %v", ErrInvalidRequest, r.Type, err)
	}
	return root, nil
}

// presetSpecs are the preset values dynamic-ssz needs for the containers
// whose shape depends on the preset.
func presetSpecs(p network.Preset) map[string]any {
	return map[string]any{
		"SYNC_COMMITTEE_SIZE":          p.SyncCommitteeSize,
		"MAX_COMMITTEES_PER_SLOT":      p.MaxCommitteesPerSlot,
		"MAX_VALIDATORS_PER_COMMITTEE": p.MaxValidatorsPerCommittee,
	}
}

// uint64Root is the hash tree root of a uint64: its little-endian bytes
// padded to a chunk.
func uint64Root(v uint64) phase0.Root {
	var r phase0.Root
	binary.LittleEndian.PutUint64(r[:8], v)
	return r
}

// checkPreset checks the sizes that depend on the preset; r has been
// validated.
func (r *Request) checkPreset(p network.Preset) error {
	syncBytes := int(p.SyncCommitteeSize / 8)
	contributionBytes := int(p.SyncCommitteeSize / network.SyncCommitteeSubnetCount / 8)
	switch {
	case r.Block != nil && r.Block.Altair != nil:
		bits := r.Block.Altair.Body.SyncAggregate.SyncCommitteeBits
		return presetLength(r.Type.payloadKey()+".block.body.sync_aggregate.sync_committee_bits", len(bits), syncBytes, p)
	case r.ContributionAndProof != nil:
		bits := r.ContributionAndProof.Contribution.AggregationBits
		return presetLength("contribution_and_proof.contribution.aggregation_bits", len(bits), contributionBytes, p)
	case r.AggregateAndProof != nil && r.AggregateAndProof.Electra != nil:
		a := r.AggregateAndProof.Electra.Aggregate
		path := "aggregate_and_proof.data.aggregate."
		committees := int(p.MaxCommitteesPerSlot)
		if err := presetLength(path+"committee_bits", len(a.CommitteeBits), (committees+7)/8, p); err != nil {
			return err
		}
		if committees%8 != 0 && a.CommitteeBits[len(a.CommitteeBits)-1]>>(committees%8) != 0 {
			return &FieldError{Field: path + "committee_bits", Reason: fmt.Sprintf("sets bits beyond the %d committees of the %s preset", committees, p.Name)}
		}
		if max := p.MaxValidatorsPerCommittee * p.MaxCommitteesPerSlot; a.AggregationBits.Len() > max {
			return &FieldError{Field: path + "aggregation_bits", Reason: fmt.Sprintf("has %d bits, the %s preset allows %d", a.AggregationBits.Len(), p.Name, max)}
		}
	}
	return nil
}

func presetLength(path string, got, want int, p network.Preset) error {
	if got != want {
		return &FieldError{Field: path, Reason: fmt.Sprintf("has %d bytes, the %s preset needs %d", got, p.Name, want)}
	}
	return nil
}
