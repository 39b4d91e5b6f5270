package signing

import (
	"fmt"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
)

// Signable is a request that passed every check against a network, with
// what a signer needs to decide and to sign.
type Signable struct {
	// Type is the request type.
	Type Type
	// SigningRoot is the root to sign, computed from the request.
	SigningRoot phase0.Root
	// Domain is the signing domain.
	Domain phase0.Domain
	// Epoch is the message epoch (see [Request.Epoch]); HasEpoch is false
	// for DEPOSIT, VALIDATOR_REGISTRATION and GENERIC.
	Epoch    phase0.Epoch
	HasEpoch bool
	// Proposal is set for BLOCK and BLOCK_V2.
	Proposal *Proposal
	// Vote is set for ATTESTATION.
	Vote *Vote
}

// DomainType returns the domain type, the first four bytes of the domain.
func (s *Signable) DomainType() phase0.DomainType { return phase0.DomainType(s.Domain[:4]) }

// Proposal is what slashing protection needs of a block proposal.
type Proposal struct {
	Slot        phase0.Slot
	SigningRoot phase0.Root
}

// Vote is what slashing protection needs of an attestation, and the data
// attested (the request's, not a copy).
type Vote struct {
	SourceEpoch phase0.Epoch
	TargetEpoch phase0.Epoch
	SigningRoot phase0.Root
	Data        *phase0.AttestationData
}

// Verify runs every check a signer makes before signing, in order: the
// request is well formed for network n ([Request.Check]), its signing root
// is computed ([Request.SigningRoot]), and a signingRoot the sender gave
// must equal it ([ErrSigningRootMismatch]). It does not decide policy:
// refusing GENERIC in slashable domains ([IsSlashableDomain]) and slashing
// protection are the signer's.
func (r *Request) Verify(n *network.Network) (*Signable, error) {
	r, err := r.checked()
	if err != nil {
		return nil, err
	}
	if err := r.check(n); err != nil {
		return nil, err
	}
	root, domain, err := r.computeRoot(n)
	if err != nil {
		return nil, err
	}
	if r.ProvidedRoot != nil && *r.ProvidedRoot != root {
		return nil, fmt.Errorf("%w: signingRoot is %#x, computed %#x", ErrSigningRootMismatch, *r.ProvidedRoot, root)
	}
	s := &Signable{Type: r.Type, SigningRoot: root, Domain: domain}
	s.Epoch, s.HasEpoch = r.Epoch(n)
	switch r.Type {
	case TypeBlock, TypeBlockV2:
		s.Proposal = &Proposal{Slot: r.Block.Slot(), SigningRoot: root}
	case TypeAttestation:
		s.Vote = &Vote{SourceEpoch: r.Attestation.Source.Epoch, TargetEpoch: r.Attestation.Target.Epoch, SigningRoot: root, Data: r.Attestation}
	}
	return s, nil
}

// Check reports whether the request belongs to network n:
//
//   - fork_info passes [network.Network.CheckForkInfo] for the message
//     epoch; a voluntary exit at or after Deneb may instead carry the
//     Capella fork, which Lodestar sends since the exit is signed over it
//     (EIP-7044);
//   - the version of a versioned block or aggregate is the fork the network
//     is in at the message's slot; the unversioned BLOCK is only accepted in
//     phase0, and an unversioned AGGREGATE_AND_PROOF must hold the container
//     (phase0 or electra) the network uses at that slot;
//   - a DEPOSIT's genesis_fork_version, and a GENERIC domain's fork data,
//     are the network's ([ErrForeignDomain]);
//   - preset-dependent sizes match the network's preset;
//   - attestation data (of an ATTESTATION or an aggregate) has its source
//     epoch no later than its target epoch.
//
// Check does not look at the clock; [Request.CheckFuture] does.
func (r *Request) Check(n *network.Network) error {
	r, err := r.checked()
	if err != nil {
		return err
	}
	return r.check(n)
}

// check is Check of a request the decoder returned.
func (r *Request) check(n *network.Network) error {
	if err := r.checkPreset(n.Preset()); err != nil {
		return err
	}
	switch r.Type {
	case TypeDeposit:
		if v := r.Deposit.GenesisForkVersion; v != n.GenesisForkVersion() {
			return fmt.Errorf("%w: deposit.genesis_fork_version is %#x, network %s has %#x",
				ErrForeignDomain, v, n.Name(), n.GenesisForkVersion())
		}
		return nil
	case TypeValidatorRegistration:
		return nil
	case TypeGeneric:
		return checkGenericDomain(n, r.SigningData.Domain)
	}
	epoch, _ := r.Epoch(n)
	fi := r.ForkInfo
	err := n.CheckForkInfo(fi.Fork, fi.GenesisValidatorsRoot, epoch)
	if err != nil && r.Type == TypeVoluntaryExit {
		if capella, ok := eip7044Fork(n, epoch); ok && fi.Fork.CurrentVersion == capella.Version &&
			n.CheckForkInfo(fi.Fork, fi.GenesisValidatorsRoot, capella.Epoch) == nil {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if err := r.checkVersion(n, epoch); err != nil {
		return err
	}
	return r.checkSourceTarget()
}

// checkVersion refuses objects whose shape belongs to another fork than the
// one in effect at the message epoch.
func (r *Request) checkVersion(n *network.Network, epoch phase0.Epoch) error {
	current := n.ForkAtEpoch(epoch).Name
	switch r.Type {
	case TypeBlock:
		if current != spec.DataVersionPhase0 {
			return fmt.Errorf("%w: block: a BLOCK request carries a phase0 block, but network %s is in %s at epoch %d; use BLOCK_V2",
				ErrInvalidRequest, n.Name(), versionName(current), epoch)
		}
	case TypeBlockV2:
		if v := r.Block.Version; v != current {
			return fmt.Errorf("%w: beacon_block.version is %s, but network %s is in %s at epoch %d",
				ErrInvalidRequest, versionName(v), n.Name(), versionName(current), epoch)
		}
	case TypeAggregateAndProofV2:
		if v := r.AggregateAndProof.Version; v != current {
			return fmt.Errorf("%w: aggregate_and_proof.version is %s, but network %s is in %s at epoch %d",
				ErrInvalidRequest, versionName(v), n.Name(), versionName(current), epoch)
		}
	case TypeAggregateAndProof:
		// No version on the wire: the container must be the one the network
		// aggregates with at that epoch.
		shape, want := "a phase0", "a phase0"
		if r.AggregateAndProof.Electra != nil {
			shape = "an electra"
		}
		if current >= spec.DataVersionElectra {
			want = "an electra"
		}
		if current > spec.DataVersionFulu {
			return fmt.Errorf("%w: aggregate_and_proof: network %s is in %s at epoch %d, whose aggregates this signer cannot sign",
				ErrInvalidRequest, n.Name(), versionName(current), epoch)
		}
		if shape != want {
			return fmt.Errorf("%w: aggregate_and_proof: an AGGREGATE_AND_PROOF request carries %s aggregate, but network %s is in %s at epoch %d, which needs %s one",
				ErrInvalidRequest, shape, n.Name(), versionName(current), epoch, want)
		}
	}
	return nil
}

// checkGenericDomain refuses a GENERIC domain whose fork data is not one of
// the network's: a scheduled fork version with the network's genesis
// validators root, or the genesis fork version with a zero root (the
// DEPOSIT and builder construction).
func checkGenericDomain(n *network.Network, domain phase0.Domain) error {
	t := phase0.DomainType(domain[:4])
	if ComputeDomain(t, n.GenesisForkVersion(), phase0.Root{}) == domain {
		return nil
	}
	for _, f := range n.Forks() {
		if ComputeDomain(t, f.Version, n.GenesisValidatorsRoot()) == domain {
			return nil
		}
	}
	return fmt.Errorf("%w: signing_data.domain %#x is not computed from a fork version and the genesis validators root of network %s",
		ErrForeignDomain, domain, n.Name())
}
