package signing

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/OffchainLabs/go-bitfield"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// SSZ list limits that are the same in the mainnet and minimal presets
// (consensus-specs presets/*/phase0.yaml) or fixed by the specification.
const (
	maxValidatorsPerCommittee = 2048
	maxProposerSlashings      = 16
	maxAttesterSlashings      = 2
	maxAttestations           = 128
	maxDeposits               = 16
	maxVoluntaryExits         = 16
	depositProofLength        = 33 // DEPOSIT_CONTRACT_TREE_DEPTH + 1
	// maxElectraAggregationBits is the mainnet limit, the larger of the two
	// presets; the network's preset is checked before signing.
	maxElectraAggregationBits = 2048 * 64
)

// ParseRequest decodes one signing request, the body of POST
// /api/v1/eth2/sign/{identifier}, strictly:
//
//   - every field the type needs must be present and well formed; a
//     *FieldError names the first one that is not;
//   - duplicate keys anywhere, and members the specification does not define
//     inside the signed objects, are refused;
//   - a member that carries another type's payload is refused;
//   - the deprecated AGGREGATE_AND_PROOF may hold an electra aggregate
//     (with committee_bits), which Lighthouse and Teku send under it from
//     Electra on; the network check then requires an Electra or Fulu slot;
//   - GENERIC requests, whose schema forbids extra members, are refused with
//     any; other types tolerate unknown top-level members (Nimbus sends
//     "proofs" with BLOCK_V2) and drop them, since no signing input depends
//     on them. fork_info on DEPOSIT and VALIDATOR_REGISTRATION is treated the
//     same way.
//
// Sizes that depend on the network's preset (sync committee and committee
// bit fields) are checked against the network by the methods that need it.
//
// The Request remembers data, which [Request.Received] returns: the caller
// must not change data afterwards.
func ParseRequest(data []byte) (*Request, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	r, err := decodeRequest(o)
	if err != nil {
		return nil, err
	}
	r.from = &received{body: data, req: r}
	return r, nil
}

func decodeRequest(o *object) (*Request, error) {
	s, err := o.str("type")
	if err != nil {
		return nil, err
	}
	t := Type(s)
	if t.payloadKey() == "" {
		return nil, o.errorf("type", "unknown request type %q", clip(s))
	}
	r := &Request{Type: t}
	for _, other := range Types() {
		if key := other.payloadKey(); key != t.payloadKey() && o.has(key) {
			return nil, o.errorf(key, "is the payload of %s requests, not allowed in %s requests", other, t)
		}
	}
	if t == TypeGeneric {
		if err := o.only("type", "signingRoot", "signing_root", "signing_data"); err != nil {
			return nil, err
		}
	}
	if r.ProvidedRoot, err = decodeProvidedRoot(o); err != nil {
		return nil, err
	}
	if t.usesForkInfo() {
		fi, err := o.obj("fork_info")
		if err != nil {
			return nil, err
		}
		if r.ForkInfo, err = decodeForkInfo(fi); err != nil {
			return nil, err
		}
	}
	p, err := o.require(t.payloadKey())
	if err != nil {
		return nil, err
	}
	po, err := p.object(o.field(t.payloadKey()))
	if err != nil {
		return nil, err
	}
	return r, decodePayload(r, po)
}

// decodeProvidedRoot reads signingRoot (the specification's spelling) or
// signing_root (the distributed profile's); both may appear if they agree.
func decodeProvidedRoot(o *object) (*phase0.Root, error) {
	var root *phase0.Root
	for _, key := range []string{"signingRoot", "signing_root"} {
		if !o.has(key) {
			continue
		}
		var r phase0.Root
		if err := o.hexBytes(key, r[:]); err != nil {
			return nil, err
		}
		if root != nil && *root != r {
			return nil, o.errorf(key, "%#x differs from signingRoot %#x", r, *root)
		}
		root = &r
	}
	return root, nil
}

func decodePayload(r *Request, o *object) error {
	var err error
	switch r.Type {
	case TypeAggregationSlot:
		var a AggregationSlot
		r.AggregationSlot = &a
		err = decodeAll(o, []string{"slot"}, func() error { return decodeSlot(o, "slot", &a.Slot) })
	case TypeAggregateAndProof:
		r.AggregateAndProof, err = decodeUnversionedAggregateAndProof(o)
	case TypeAggregateAndProofV2:
		r.AggregateAndProof, err = decodeVersionedAggregateAndProof(o)
	case TypeAttestation:
		r.Attestation, err = decodeAttestationData(o)
	case TypeBlock:
		r.Block = &BeaconBlock{Version: spec.DataVersionPhase0}
		r.Block.Phase0, err = decodePhase0Block(o)
	case TypeBlockV2:
		r.Block, err = decodeVersionedBlock(o)
	case TypeDeposit:
		r.Deposit, err = decodeDeposit(o)
	case TypeGeneric:
		r.SigningData, err = decodeSigningData(o)
	case TypeRandaoReveal:
		var rr RandaoReveal
		r.RandaoReveal = &rr
		err = decodeAll(o, []string{"epoch"}, func() error { return decodeEpoch(o, "epoch", &rr.Epoch) })
	case TypeVoluntaryExit:
		r.VoluntaryExit, err = decodeVoluntaryExit(o)
	case TypeSyncCommitteeMessage:
		var m SyncCommitteeMessage
		r.SyncCommitteeMessage = &m
		err = decodeAll(o, []string{"beacon_block_root", "slot"},
			func() error { return o.hexBytes("beacon_block_root", m.BeaconBlockRoot[:]) },
			func() error { return decodeSlot(o, "slot", &m.Slot) })
	case TypeSyncCommitteeSelectionProof:
		r.SyncAggregatorSelectionData, err = decodeSyncAggregatorSelectionData(o)
	case TypeSyncCommitteeContributionAndProof:
		r.ContributionAndProof, err = decodeContributionAndProof(o)
	case TypeValidatorRegistration:
		r.ValidatorRegistration, err = decodeValidatorRegistration(o)
	}
	return err
}

// decodeAll refuses unknown members of o, then runs the field decoders in
// order, stopping at the first error.
func decodeAll(o *object, keys []string, steps ...func() error) error {
	if err := o.only(keys...); err != nil {
		return err
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func decodeSlot(o *object, key string, dst *phase0.Slot) error {
	u, err := o.uint64(key)
	*dst = phase0.Slot(u)
	return err
}

func decodeEpoch(o *object, key string, dst *phase0.Epoch) error {
	u, err := o.uint64(key)
	*dst = phase0.Epoch(u)
	return err
}

func decodeIndex(o *object, key string, dst *phase0.ValidatorIndex) error {
	u, err := o.uint64(key)
	*dst = phase0.ValidatorIndex(u)
	return err
}

func decodeForkInfo(o *object) (*ForkInfo, error) {
	var fi ForkInfo
	var fork *object
	err := decodeAll(o, []string{"fork", "genesis_validators_root"},
		func() (err error) { fork, err = o.obj("fork"); return err },
		func() error {
			return decodeAll(fork, []string{"previous_version", "current_version", "epoch"},
				func() error { return fork.hexBytes("previous_version", fi.Fork.PreviousVersion[:]) },
				func() error { return fork.hexBytes("current_version", fi.Fork.CurrentVersion[:]) },
				func() error { return decodeEpoch(fork, "epoch", &fi.Fork.Epoch) })
		},
		func() error { return o.hexBytes("genesis_validators_root", fi.GenesisValidatorsRoot[:]) })
	return &fi, err
}

func decodeCheckpoint(o *object) (*phase0.Checkpoint, error) {
	var c phase0.Checkpoint
	return &c, decodeAll(o, []string{"epoch", "root"},
		func() error { return decodeEpoch(o, "epoch", &c.Epoch) },
		func() error { return o.hexBytes("root", c.Root[:]) })
}

func decodeAttestationData(o *object) (*phase0.AttestationData, error) {
	var d phase0.AttestationData
	return &d, decodeAll(o, []string{"slot", "index", "beacon_block_root", "source", "target"},
		func() error { return decodeSlot(o, "slot", &d.Slot) },
		func() error {
			u, err := o.uint64("index")
			d.Index = phase0.CommitteeIndex(u)
			return err
		},
		func() error { return o.hexBytes("beacon_block_root", d.BeaconBlockRoot[:]) },
		func() (err error) { d.Source, err = child(o, "source", decodeCheckpoint); return err },
		func() (err error) { d.Target, err = child(o, "target", decodeCheckpoint); return err })
}

// child decodes the object member key of o with dec.
func child[T any](o *object, key string, dec func(*object) (*T, error)) (*T, error) {
	c, err := o.obj(key)
	if err != nil {
		return nil, err
	}
	return dec(c)
}

// children decodes the array member key of o, of at most max objects.
func children[T any](o *object, key string, max int, dec func(*object) (*T, error)) ([]*T, error) {
	elems, err := o.array(key, max)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(elems))
	for i, e := range elems {
		c, err := e.object(fmt.Sprintf("%s[%d]", o.field(key), i))
		if err != nil {
			return nil, err
		}
		v, err := dec(c)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// bitlist reads an SSZ bitlist of at most maxBits bits: its last byte holds
// the length marker, so it cannot be empty or end in a zero byte.
func bitlist(o *object, key string, maxBits int) (bitfield.Bitlist, error) {
	b, err := o.hexVar(key, maxBits/8+1)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[len(b)-1] == 0 {
		return nil, o.errorf(key, "not an SSZ bitlist: the last byte must hold the length bit")
	}
	if n := bitfield.Bitlist(b).Len(); n > uint64(maxBits) {
		return nil, o.errorf(key, "has %d bits, more than %d", n, maxBits)
	}
	return bitfield.Bitlist(b), nil
}

// bitvector reads an SSZ bitvector whose byte length is one of lengths;
// the preset decides which one is right, later.
func bitvector(o *object, key string, lengths ...int) ([]byte, error) {
	b, err := o.hexVar(key, lengths[0])
	if err != nil {
		return nil, err
	}
	for _, n := range lengths {
		if len(b) == n {
			return b, nil
		}
	}
	return nil, o.errorf(key, "has %d bytes, want one of %v", len(b), lengths)
}

func decodePhase0Attestation(o *object) (*phase0.Attestation, error) {
	var a phase0.Attestation
	return &a, decodeAll(o, []string{"aggregation_bits", "data", "signature"},
		func() (err error) {
			a.AggregationBits, err = bitlist(o, "aggregation_bits", maxValidatorsPerCommittee)
			return err
		},
		func() (err error) { a.Data, err = child(o, "data", decodeAttestationData); return err },
		func() error { return o.hexBytes("signature", a.Signature[:]) })
}

func decodeElectraAttestation(o *object) (*electra.Attestation, error) {
	var a electra.Attestation
	return &a, decodeAll(o, []string{"aggregation_bits", "data", "signature", "committee_bits"},
		func() (err error) {
			a.AggregationBits, err = bitlist(o, "aggregation_bits", maxElectraAggregationBits)
			return err
		},
		func() (err error) { a.Data, err = child(o, "data", decodeAttestationData); return err },
		func() error { return o.hexBytes("signature", a.Signature[:]) },
		func() error {
			b, err := bitvector(o, "committee_bits", 8, 1)
			a.CommitteeBits = bitfield.Bitvector64(b)
			return err
		})
}

func decodeAggregateAndProof(o *object) (*phase0.AggregateAndProof, error) {
	var a phase0.AggregateAndProof
	return &a, decodeAll(o, []string{"aggregator_index", "aggregate", "selection_proof"},
		func() error { return decodeIndex(o, "aggregator_index", &a.AggregatorIndex) },
		func() (err error) { a.Aggregate, err = child(o, "aggregate", decodePhase0Attestation); return err },
		func() error { return o.hexBytes("selection_proof", a.SelectionProof[:]) })
}

func decodeElectraAggregateAndProof(o *object) (*electra.AggregateAndProof, error) {
	var a electra.AggregateAndProof
	return &a, decodeAll(o, []string{"aggregator_index", "aggregate", "selection_proof"},
		func() error { return decodeIndex(o, "aggregator_index", &a.AggregatorIndex) },
		func() (err error) { a.Aggregate, err = child(o, "aggregate", decodeElectraAttestation); return err },
		func() error { return o.hexBytes("selection_proof", a.SelectionProof[:]) })
}

// versions are the fork versions the API defines for the versioned types.
func versions() []spec.DataVersion {
	return []spec.DataVersion{
		spec.DataVersionPhase0, spec.DataVersionAltair, spec.DataVersionBellatrix, spec.DataVersionCapella,
		spec.DataVersionDeneb, spec.DataVersionElectra, spec.DataVersionFulu,
	}
}

// versionName is the API's spelling of a fork version: "PHASE0", ...
func versionName(v spec.DataVersion) string { return strings.ToUpper(v.String()) }

func decodeVersion(o *object) (spec.DataVersion, error) {
	s, err := o.str("version")
	if err != nil {
		return 0, err
	}
	for _, v := range versions() {
		if s == versionName(v) {
			return v, nil
		}
	}
	return 0, o.errorf("version", "unknown version %q (want PHASE0 to FULU)", clip(s))
}

// decodeUnversionedAggregateAndProof decodes the payload of the deprecated
// AGGREGATE_AND_PROOF: an electra aggregate when its attestation has
// committee_bits (as Lighthouse and Teku send from Electra on), else a
// phase0 one.
func decodeUnversionedAggregateAndProof(o *object) (*AggregateAndProof, error) {
	if agg, err := o.obj("aggregate"); err == nil && agg.has("committee_bits") {
		a := &AggregateAndProof{Version: spec.DataVersionElectra}
		a.Electra, err = decodeElectraAggregateAndProof(o)
		return a, err
	}
	a := &AggregateAndProof{Version: spec.DataVersionPhase0}
	var err error
	a.Phase0, err = decodeAggregateAndProof(o)
	return a, err
}

func decodeVersionedAggregateAndProof(o *object) (*AggregateAndProof, error) {
	if err := o.only("version", "data"); err != nil {
		return nil, err
	}
	version, err := decodeVersion(o)
	if err != nil {
		return nil, err
	}
	a := &AggregateAndProof{Version: version}
	if version >= spec.DataVersionElectra {
		a.Electra, err = child(o, "data", decodeElectraAggregateAndProof)
	} else {
		a.Phase0, err = child(o, "data", decodeAggregateAndProof)
	}
	return a, err
}

func decodeVersionedBlock(o *object) (*BeaconBlock, error) {
	if err := o.only("version", "block", "block_header"); err != nil {
		return nil, err
	}
	version, err := decodeVersion(o)
	if err != nil {
		return nil, err
	}
	b := &BeaconBlock{Version: version}
	hasBlock, hasHeader := o.has("block"), o.has("block_header")
	switch {
	case hasBlock && hasHeader:
		return nil, o.errorf("block_header", "not allowed together with block")
	case hasHeader:
		b.Header, err = child(o, "block_header", decodeBlockHeader)
	case version >= spec.DataVersionBellatrix && hasBlock:
		return nil, o.errorf("block", "a full block is not accepted for %s; send block_header", versionName(version))
	case version >= spec.DataVersionBellatrix:
		_, err = o.require("block_header")
	case version == spec.DataVersionAltair:
		b.Altair, err = child(o, "block", decodeAltairBlock)
	default:
		b.Phase0, err = child(o, "block", decodePhase0Block)
	}
	return b, err
}

func decodeBlockHeader(o *object) (*phase0.BeaconBlockHeader, error) {
	var h phase0.BeaconBlockHeader
	return &h, decodeAll(o, []string{"slot", "proposer_index", "parent_root", "state_root", "body_root"},
		func() error { return decodeSlot(o, "slot", &h.Slot) },
		func() error { return decodeIndex(o, "proposer_index", &h.ProposerIndex) },
		func() error { return o.hexBytes("parent_root", h.ParentRoot[:]) },
		func() error { return o.hexBytes("state_root", h.StateRoot[:]) },
		func() error { return o.hexBytes("body_root", h.BodyRoot[:]) })
}

func decodeSignedBlockHeader(o *object) (*phase0.SignedBeaconBlockHeader, error) {
	var h phase0.SignedBeaconBlockHeader
	return &h, decodeAll(o, []string{"message", "signature"},
		func() (err error) { h.Message, err = child(o, "message", decodeBlockHeader); return err },
		func() error { return o.hexBytes("signature", h.Signature[:]) })
}

func decodeProposerSlashing(o *object) (*phase0.ProposerSlashing, error) {
	var s phase0.ProposerSlashing
	return &s, decodeAll(o, []string{"signed_header_1", "signed_header_2"},
		func() (err error) {
			s.SignedHeader1, err = child(o, "signed_header_1", decodeSignedBlockHeader)
			return err
		},
		func() (err error) {
			s.SignedHeader2, err = child(o, "signed_header_2", decodeSignedBlockHeader)
			return err
		})
}

func decodeIndexedAttestation(o *object) (*phase0.IndexedAttestation, error) {
	var a phase0.IndexedAttestation
	return &a, decodeAll(o, []string{"attesting_indices", "data", "signature"},
		func() error {
			elems, err := o.array("attesting_indices", maxValidatorsPerCommittee)
			if err != nil {
				return err
			}
			a.AttestingIndices = make([]uint64, len(elems))
			for i, e := range elems {
				u, reason := parseUint64(e)
				if reason != "" {
					return &FieldError{Field: fmt.Sprintf("%s[%d]", o.field("attesting_indices"), i), Reason: reason}
				}
				a.AttestingIndices[i] = u
			}
			return nil
		},
		func() (err error) { a.Data, err = child(o, "data", decodeAttestationData); return err },
		func() error { return o.hexBytes("signature", a.Signature[:]) })
}

func decodeAttesterSlashing(o *object) (*phase0.AttesterSlashing, error) {
	var s phase0.AttesterSlashing
	return &s, decodeAll(o, []string{"attestation_1", "attestation_2"},
		func() (err error) {
			s.Attestation1, err = child(o, "attestation_1", decodeIndexedAttestation)
			return err
		},
		func() (err error) {
			s.Attestation2, err = child(o, "attestation_2", decodeIndexedAttestation)
			return err
		})
}

func decodeEth1Data(o *object) (*phase0.ETH1Data, error) {
	var d phase0.ETH1Data
	d.BlockHash = make([]byte, 32)
	return &d, decodeAll(o, []string{"deposit_root", "deposit_count", "block_hash"},
		func() error { return o.hexBytes("deposit_root", d.DepositRoot[:]) },
		func() (err error) { d.DepositCount, err = o.uint64("deposit_count"); return err },
		func() error { return o.hexBytes("block_hash", d.BlockHash) })
}

func decodeDepositData(o *object) (*phase0.DepositData, error) {
	var d phase0.DepositData
	d.WithdrawalCredentials = make([]byte, 32)
	return &d, decodeAll(o, []string{"pubkey", "withdrawal_credentials", "amount", "signature"},
		func() error { return o.hexBytes("pubkey", d.PublicKey[:]) },
		func() error { return o.hexBytes("withdrawal_credentials", d.WithdrawalCredentials) },
		func() error {
			u, err := o.uint64("amount")
			d.Amount = phase0.Gwei(u)
			return err
		},
		func() error { return o.hexBytes("signature", d.Signature[:]) })
}

func decodeBlockDeposit(o *object) (*phase0.Deposit, error) {
	var d phase0.Deposit
	return &d, decodeAll(o, []string{"proof", "data"},
		func() error {
			elems, err := o.array("proof", depositProofLength)
			if err != nil {
				return err
			}
			if len(elems) != depositProofLength {
				return o.errorf("proof", "has %d elements, want %d", len(elems), depositProofLength)
			}
			d.Proof = make([][]byte, len(elems))
			for i, e := range elems {
				d.Proof[i] = make([]byte, 32)
				if reason := decodeHex(e, d.Proof[i]); reason != "" {
					return &FieldError{Field: fmt.Sprintf("%s[%d]", o.field("proof"), i), Reason: reason}
				}
			}
			return nil
		},
		func() (err error) { d.Data, err = child(o, "data", decodeDepositData); return err })
}

func decodeVoluntaryExit(o *object) (*phase0.VoluntaryExit, error) {
	var e phase0.VoluntaryExit
	return &e, decodeAll(o, []string{"epoch", "validator_index"},
		func() error { return decodeEpoch(o, "epoch", &e.Epoch) },
		func() error { return decodeIndex(o, "validator_index", &e.ValidatorIndex) })
}

func decodeSignedVoluntaryExit(o *object) (*phase0.SignedVoluntaryExit, error) {
	var e phase0.SignedVoluntaryExit
	return &e, decodeAll(o, []string{"message", "signature"},
		func() (err error) { e.Message, err = child(o, "message", decodeVoluntaryExit); return err },
		func() error { return o.hexBytes("signature", e.Signature[:]) })
}

// phase0Body holds the fields phase0 and altair block bodies share.
type phase0Body struct {
	randao            phase0.BLSSignature
	eth1              *phase0.ETH1Data
	graffiti          [32]byte
	proposerSlashings []*phase0.ProposerSlashing
	attesterSlashings []*phase0.AttesterSlashing
	attestations      []*phase0.Attestation
	deposits          []*phase0.Deposit
	exits             []*phase0.SignedVoluntaryExit
}

// phase0BodyKeys are the members of a phase0 block body.
func phase0BodyKeys() []string {
	return []string{"randao_reveal", "eth1_data", "graffiti", "proposer_slashings",
		"attester_slashings", "attestations", "deposits", "voluntary_exits"}
}

func (b *phase0Body) steps(o *object) []func() error {
	return []func() error{
		func() error { return o.hexBytes("randao_reveal", b.randao[:]) },
		func() (err error) { b.eth1, err = child(o, "eth1_data", decodeEth1Data); return err },
		func() error { return o.hexBytes("graffiti", b.graffiti[:]) },
		func() (err error) {
			b.proposerSlashings, err = children(o, "proposer_slashings", maxProposerSlashings, decodeProposerSlashing)
			return err
		},
		func() (err error) {
			b.attesterSlashings, err = children(o, "attester_slashings", maxAttesterSlashings, decodeAttesterSlashing)
			return err
		},
		func() (err error) {
			b.attestations, err = children(o, "attestations", maxAttestations, decodePhase0Attestation)
			return err
		},
		func() (err error) {
			b.deposits, err = children(o, "deposits", maxDeposits, decodeBlockDeposit)
			return err
		},
		func() (err error) {
			b.exits, err = children(o, "voluntary_exits", maxVoluntaryExits, decodeSignedVoluntaryExit)
			return err
		},
	}
}

func decodePhase0Body(o *object) (*phase0.BeaconBlockBody, error) {
	var b phase0Body
	if err := decodeAll(o, phase0BodyKeys(), b.steps(o)...); err != nil {
		return nil, err
	}
	return &phase0.BeaconBlockBody{
		RANDAOReveal: b.randao, ETH1Data: b.eth1, Graffiti: b.graffiti,
		ProposerSlashings: b.proposerSlashings, AttesterSlashings: b.attesterSlashings,
		Attestations: b.attestations, Deposits: b.deposits, VoluntaryExits: b.exits,
	}, nil
}

func decodeAltairBody(o *object) (*altair.BeaconBlockBody, error) {
	var b phase0Body
	var sync *altair.SyncAggregate
	steps := append(b.steps(o), func() (err error) { sync, err = child(o, "sync_aggregate", decodeSyncAggregate); return err })
	if err := decodeAll(o, append(phase0BodyKeys(), "sync_aggregate"), steps...); err != nil {
		return nil, err
	}
	return &altair.BeaconBlockBody{
		RANDAOReveal: b.randao, ETH1Data: b.eth1, Graffiti: b.graffiti,
		ProposerSlashings: b.proposerSlashings, AttesterSlashings: b.attesterSlashings,
		Attestations: b.attestations, Deposits: b.deposits, VoluntaryExits: b.exits,
		SyncAggregate: sync,
	}, nil
}

func decodeSyncAggregate(o *object) (*altair.SyncAggregate, error) {
	var s altair.SyncAggregate
	return &s, decodeAll(o, []string{"sync_committee_bits", "sync_committee_signature"},
		func() error {
			// SYNC_COMMITTEE_SIZE bits: 512 (mainnet) or 32 (minimal).
			b, err := bitvector(o, "sync_committee_bits", 64, 4)
			s.SyncCommitteeBits = bitfield.Bitvector512(b)
			return err
		},
		func() error { return o.hexBytes("sync_committee_signature", s.SyncCommitteeSignature[:]) })
}

// blockKeys are the members of a block.
func blockKeys() []string {
	return []string{"slot", "proposer_index", "parent_root", "state_root", "body"}
}

func decodePhase0Block(o *object) (*phase0.BeaconBlock, error) {
	var b phase0.BeaconBlock
	return &b, decodeAll(o, blockKeys(),
		func() error { return decodeSlot(o, "slot", &b.Slot) },
		func() error { return decodeIndex(o, "proposer_index", &b.ProposerIndex) },
		func() error { return o.hexBytes("parent_root", b.ParentRoot[:]) },
		func() error { return o.hexBytes("state_root", b.StateRoot[:]) },
		func() (err error) { b.Body, err = child(o, "body", decodePhase0Body); return err })
}

func decodeAltairBlock(o *object) (*altair.BeaconBlock, error) {
	var b altair.BeaconBlock
	return &b, decodeAll(o, blockKeys(),
		func() error { return decodeSlot(o, "slot", &b.Slot) },
		func() error { return decodeIndex(o, "proposer_index", &b.ProposerIndex) },
		func() error { return o.hexBytes("parent_root", b.ParentRoot[:]) },
		func() error { return o.hexBytes("state_root", b.StateRoot[:]) },
		func() (err error) { b.Body, err = child(o, "body", decodeAltairBody); return err })
}

func decodeDeposit(o *object) (*Deposit, error) {
	var d Deposit
	return &d, decodeAll(o, []string{"pubkey", "withdrawal_credentials", "amount", "genesis_fork_version"},
		func() error { return o.hexBytes("pubkey", d.Pubkey[:]) },
		func() error { return o.hexBytes("withdrawal_credentials", d.WithdrawalCredentials[:]) },
		func() error {
			u, err := o.uint64("amount")
			d.Amount = phase0.Gwei(u)
			return err
		},
		func() error { return o.hexBytes("genesis_fork_version", d.GenesisForkVersion[:]) })
}

func decodeSigningData(o *object) (*phase0.SigningData, error) {
	var d phase0.SigningData
	return &d, decodeAll(o, []string{"object_root", "domain"},
		func() error { return o.hexBytes("object_root", d.ObjectRoot[:]) },
		func() error { return o.hexBytes("domain", d.Domain[:]) })
}

func decodeSyncAggregatorSelectionData(o *object) (*altair.SyncAggregatorSelectionData, error) {
	var d altair.SyncAggregatorSelectionData
	return &d, decodeAll(o, []string{"slot", "subcommittee_index"},
		func() error { return decodeSlot(o, "slot", &d.Slot) },
		func() (err error) { d.SubcommitteeIndex, err = o.uint64("subcommittee_index"); return err })
}

func decodeContribution(o *object) (*altair.SyncCommitteeContribution, error) {
	var c altair.SyncCommitteeContribution
	return &c, decodeAll(o, []string{"slot", "beacon_block_root", "subcommittee_index", "aggregation_bits", "signature"},
		func() error { return decodeSlot(o, "slot", &c.Slot) },
		func() error { return o.hexBytes("beacon_block_root", c.BeaconBlockRoot[:]) },
		func() (err error) { c.SubcommitteeIndex, err = o.uint64("subcommittee_index"); return err },
		func() error {
			// SYNC_COMMITTEE_SIZE / SYNC_COMMITTEE_SUBNET_COUNT bits: 128
			// (mainnet) or 8 (minimal).
			b, err := bitvector(o, "aggregation_bits", 16, 1)
			c.AggregationBits = bitfield.Bitvector128(b)
			return err
		},
		func() error { return o.hexBytes("signature", c.Signature[:]) })
}

func decodeContributionAndProof(o *object) (*altair.ContributionAndProof, error) {
	var c altair.ContributionAndProof
	return &c, decodeAll(o, []string{"aggregator_index", "selection_proof", "contribution"},
		func() error { return decodeIndex(o, "aggregator_index", &c.AggregatorIndex) },
		func() error { return o.hexBytes("selection_proof", c.SelectionProof[:]) },
		func() (err error) { c.Contribution, err = child(o, "contribution", decodeContribution); return err })
}

// maxTimestamp is the largest registration timestamp the go-eth2-client
// type (a time.Time) holds without loss.
const maxTimestamp = math.MaxInt64 - 62135596800

func decodeValidatorRegistration(o *object) (*apiv1.ValidatorRegistration, error) {
	var v apiv1.ValidatorRegistration
	return &v, decodeAll(o, []string{"fee_recipient", "gas_limit", "timestamp", "pubkey"},
		func() error { return o.hexBytes("fee_recipient", v.FeeRecipient[:]) },
		func() (err error) { v.GasLimit, err = o.uint64("gas_limit"); return err },
		func() error {
			ts, err := o.uint64("timestamp")
			if err != nil {
				return err
			}
			if ts > maxTimestamp {
				return o.errorf("timestamp", "%d is beyond the year 292277026596", ts)
			}
			v.Timestamp = time.Unix(int64(ts), 0).UTC()
			return nil
		},
		func() error { return o.hexBytes("pubkey", v.Pubkey[:]) })
}
