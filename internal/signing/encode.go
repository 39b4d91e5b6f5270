package signing

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// MarshalJSON writes the canonical form of the request: members in the
// specification's order, signingRoot (when the sender gave one) under that
// spelling, unknown top-level members dropped, hex in lower case. A
// coordinator forwards this form so that every participant decodes exactly
// what it decoded; ParseRequest of the output gives an equal Request.
func (r *Request) MarshalJSON() ([]byte, error) {
	v, err := r.encode()
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// validate checks that a Request, perhaps built by hand, has the shape
// ParseRequest guarantees: the payload its type names and no other, and
// every nested object present and well formed.
func (r *Request) validate() error {
	_, err := r.encode()
	return err
}

func (r *Request) encode() (ordered, error) {
	key := r.Type.payloadKey()
	if key == "" {
		return nil, &FieldError{Field: "type", Reason: fmt.Sprintf("unknown request type %q", clip(string(r.Type)))}
	}
	if err := r.checkPayloads(); err != nil {
		return nil, err
	}
	e := &encoder{}
	out := ordered{{"type", string(r.Type)}}
	if r.Type.usesForkInfo() {
		if e.need(r.ForkInfo != nil, "fork_info") {
			f := r.ForkInfo
			out = append(out, field{"fork_info", ordered{
				{"fork", ordered{
					{"previous_version", hx(f.Fork.PreviousVersion[:])},
					{"current_version", hx(f.Fork.CurrentVersion[:])},
					{"epoch", u64(f.Fork.Epoch)},
				}},
				{"genesis_validators_root", hx(f.GenesisValidatorsRoot[:])},
			}})
		}
	} else if r.ForkInfo != nil {
		return nil, &FieldError{Field: "fork_info", Reason: fmt.Sprintf("not part of %s requests", r.Type)}
	}
	if r.ProvidedRoot != nil {
		out = append(out, field{"signingRoot", hx(r.ProvidedRoot[:])})
	}
	out = append(out, field{key, e.payload(r)})
	return out, e.err
}

// checkPayloads refuses a Request whose set payload fields do not match
// its type.
func (r *Request) checkPayloads() error {
	set := map[string]bool{
		"aggregation_slot":               r.AggregationSlot != nil,
		"aggregate_and_proof":            r.AggregateAndProof != nil,
		"attestation":                    r.Attestation != nil,
		"beacon_block":                   r.Block != nil && r.Type == TypeBlockV2,
		"block":                          r.Block != nil && r.Type != TypeBlockV2,
		"deposit":                        r.Deposit != nil,
		"signing_data":                   r.SigningData != nil,
		"randao_reveal":                  r.RandaoReveal != nil,
		"voluntary_exit":                 r.VoluntaryExit != nil,
		"sync_committee_message":         r.SyncCommitteeMessage != nil,
		"sync_aggregator_selection_data": r.SyncAggregatorSelectionData != nil,
		"contribution_and_proof":         r.ContributionAndProof != nil,
		"validator_registration":         r.ValidatorRegistration != nil,
	}
	want := r.Type.payloadKey()
	if !set[want] {
		return &FieldError{Field: want, Reason: "missing"}
	}
	for _, t := range Types() {
		if key := t.payloadKey(); key != want && set[key] {
			return &FieldError{Field: key, Reason: fmt.Sprintf("is the payload of %s requests, not allowed in %s requests", t, r.Type)}
		}
	}
	return nil
}

// field is one member of an ordered JSON object.
type field struct {
	key   string
	value any
}

// ordered is a JSON object that keeps its members in order.
type ordered []field

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func hx(b []byte) string { return "0x" + hex.EncodeToString(b) }

func u64[T ~uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

// encoder writes the canonical JSON of signed objects. It records the first
// missing or malformed part of a hand-built object, by path, and writes
// null in its place.
type encoder struct {
	err error
}

func (e *encoder) fail(path, reason string) {
	if e.err == nil {
		e.err = &FieldError{Field: path, Reason: reason}
	}
}

func (e *encoder) need(ok bool, path string) bool {
	if !ok {
		e.fail(path, "missing")
	}
	return ok
}

func (e *encoder) payload(r *Request) any {
	key := r.Type.payloadKey()
	switch r.Type {
	case TypeAggregationSlot:
		return ordered{{"slot", u64(r.AggregationSlot.Slot)}}
	case TypeAggregateAndProof:
		switch a := r.AggregateAndProof; {
		case a.Version == spec.DataVersionPhase0 && a.Electra == nil:
			return e.aggregateAndProof(key, a.Phase0)
		case a.Version == spec.DataVersionElectra && a.Phase0 == nil:
			return e.electraAggregateAndProof(key, a.Electra)
		}
		e.fail(key, "AGGREGATE_AND_PROOF carries a phase0 aggregate (Version phase0) or an electra one (Version electra)")
		return nil
	case TypeAggregateAndProofV2:
		return e.versionedAggregateAndProof(key, r.AggregateAndProof)
	case TypeAttestation:
		return e.attestationData(key, r.Attestation)
	case TypeBlock:
		b := r.Block
		if b.Phase0 == nil || b.Altair != nil || b.Header != nil || b.Version != spec.DataVersionPhase0 {
			e.fail(key, "BLOCK carries a full phase0 block; use BLOCK_V2")
			return nil
		}
		return e.phase0Block(key, b.Phase0)
	case TypeBlockV2:
		return e.versionedBlock(key, r.Block)
	case TypeDeposit:
		d := r.Deposit
		return ordered{
			{"pubkey", hx(d.Pubkey[:])},
			{"withdrawal_credentials", hx(d.WithdrawalCredentials[:])},
			{"amount", u64(d.Amount)},
			{"genesis_fork_version", hx(d.GenesisForkVersion[:])},
		}
	case TypeGeneric:
		return ordered{{"object_root", hx(r.SigningData.ObjectRoot[:])}, {"domain", hx(r.SigningData.Domain[:])}}
	case TypeRandaoReveal:
		return ordered{{"epoch", u64(r.RandaoReveal.Epoch)}}
	case TypeVoluntaryExit:
		return e.voluntaryExit(key, r.VoluntaryExit)
	case TypeSyncCommitteeMessage:
		m := r.SyncCommitteeMessage
		return ordered{{"beacon_block_root", hx(m.BeaconBlockRoot[:])}, {"slot", u64(m.Slot)}}
	case TypeSyncCommitteeSelectionProof:
		d := r.SyncAggregatorSelectionData
		return ordered{{"slot", u64(d.Slot)}, {"subcommittee_index", u64(d.SubcommitteeIndex)}}
	case TypeSyncCommitteeContributionAndProof:
		return e.contributionAndProof(key, r.ContributionAndProof)
	case TypeValidatorRegistration:
		v := r.ValidatorRegistration
		ts := v.Timestamp.Unix()
		if ts < 0 || ts > maxTimestamp {
			e.fail(key+".timestamp", "out of range")
		}
		return ordered{
			{"fee_recipient", hx(v.FeeRecipient[:])},
			{"gas_limit", u64(v.GasLimit)},
			{"timestamp", strconv.FormatInt(ts, 10)},
			{"pubkey", hx(v.Pubkey[:])},
		}
	}
	return nil
}

func (e *encoder) versionedAggregateAndProof(path string, a *AggregateAndProof) any {
	if !e.knownVersion(path+".version", a.Version) {
		return nil
	}
	var data any
	if a.Version >= spec.DataVersionElectra {
		if a.Phase0 != nil {
			e.fail(path+".data", "a phase0 aggregate under version "+versionName(a.Version))
		}
		data = e.electraAggregateAndProof(path+".data", a.Electra)
	} else {
		if a.Electra != nil {
			e.fail(path+".data", "an electra aggregate under version "+versionName(a.Version))
		}
		data = e.aggregateAndProof(path+".data", a.Phase0)
	}
	return ordered{{"version", versionName(a.Version)}, {"data", data}}
}

func (e *encoder) versionedBlock(path string, b *BeaconBlock) any {
	if !e.knownVersion(path+".version", b.Version) {
		return nil
	}
	out := ordered{{"version", versionName(b.Version)}}
	full := 0
	for _, set := range []bool{b.Phase0 != nil, b.Altair != nil, b.Header != nil} {
		if set {
			full++
		}
	}
	switch {
	case full != 1:
		e.fail(path, "want exactly one of a block or a block header")
	case b.Header != nil:
		out = append(out, field{"block_header", e.blockHeader(path+".block_header", b.Header)})
	case b.Version == spec.DataVersionAltair && b.Altair != nil:
		out = append(out, field{"block", e.altairBlock(path+".block", b.Altair)})
	case b.Version == spec.DataVersionPhase0 && b.Phase0 != nil:
		out = append(out, field{"block", e.phase0Block(path+".block", b.Phase0)})
	default:
		e.fail(path+".block", "does not match version "+versionName(b.Version))
	}
	return out
}

func (e *encoder) knownVersion(path string, v spec.DataVersion) bool {
	for _, known := range versions() {
		if known == v {
			return true
		}
	}
	e.fail(path, fmt.Sprintf("unknown version %q", v.String()))
	return false
}

func (e *encoder) checkpoint(path string, c *phase0.Checkpoint) any {
	if !e.need(c != nil, path) {
		return nil
	}
	return ordered{{"epoch", u64(c.Epoch)}, {"root", hx(c.Root[:])}}
}

func (e *encoder) attestationData(path string, d *phase0.AttestationData) any {
	if !e.need(d != nil, path) {
		return nil
	}
	return ordered{
		{"slot", u64(d.Slot)},
		{"index", u64(d.Index)},
		{"beacon_block_root", hx(d.BeaconBlockRoot[:])},
		{"source", e.checkpoint(path+".source", d.Source)},
		{"target", e.checkpoint(path+".target", d.Target)},
	}
}

func (e *encoder) bitlist(path string, b bitfield.Bitlist, maxBits uint64) string {
	if len(b) == 0 || b[len(b)-1] == 0 {
		e.fail(path, "not an SSZ bitlist: the last byte must hold the length bit")
	} else if b.Len() > maxBits {
		e.fail(path, fmt.Sprintf("has %d bits, more than %d", b.Len(), maxBits))
	}
	return hx(b)
}

func (e *encoder) phase0Attestation(path string, a *phase0.Attestation) any {
	if !e.need(a != nil, path) {
		return nil
	}
	return ordered{
		{"aggregation_bits", e.bitlist(path+".aggregation_bits", a.AggregationBits, maxValidatorsPerCommittee)},
		{"data", e.attestationData(path+".data", a.Data)},
		{"signature", hx(a.Signature[:])},
	}
}

func (e *encoder) electraAttestation(path string, a *electra.Attestation) any {
	if !e.need(a != nil, path) {
		return nil
	}
	if n := len(a.CommitteeBits); n != 8 && n != 1 {
		e.fail(path+".committee_bits", fmt.Sprintf("has %d bytes, want one of [8 1]", n))
	}
	return ordered{
		{"aggregation_bits", e.bitlist(path+".aggregation_bits", a.AggregationBits, maxElectraAggregationBits)},
		{"data", e.attestationData(path+".data", a.Data)},
		{"signature", hx(a.Signature[:])},
		{"committee_bits", hx(a.CommitteeBits)},
	}
}

func (e *encoder) aggregateAndProof(path string, a *phase0.AggregateAndProof) any {
	if !e.need(a != nil, path) {
		return nil
	}
	return ordered{
		{"aggregator_index", u64(a.AggregatorIndex)},
		{"aggregate", e.phase0Attestation(path+".aggregate", a.Aggregate)},
		{"selection_proof", hx(a.SelectionProof[:])},
	}
}

func (e *encoder) electraAggregateAndProof(path string, a *electra.AggregateAndProof) any {
	if !e.need(a != nil, path) {
		return nil
	}
	return ordered{
		{"aggregator_index", u64(a.AggregatorIndex)},
		{"aggregate", e.electraAttestation(path+".aggregate", a.Aggregate)},
		{"selection_proof", hx(a.SelectionProof[:])},
	}
}

func (e *encoder) blockHeader(path string, h *phase0.BeaconBlockHeader) any {
	if !e.need(h != nil, path) {
		return nil
	}
	return ordered{
		{"slot", u64(h.Slot)},
		{"proposer_index", u64(h.ProposerIndex)},
		{"parent_root", hx(h.ParentRoot[:])},
		{"state_root", hx(h.StateRoot[:])},
		{"body_root", hx(h.BodyRoot[:])},
	}
}

func (e *encoder) voluntaryExit(path string, x *phase0.VoluntaryExit) any {
	if !e.need(x != nil, path) {
		return nil
	}
	return ordered{{"epoch", u64(x.Epoch)}, {"validator_index", u64(x.ValidatorIndex)}}
}

// list encodes the elements of a list of at most max elements; never null.
func list[T any](e *encoder, path string, elems []*T, max int, enc func(string, *T) any) []any {
	if len(elems) > max {
		e.fail(path, fmt.Sprintf("has %d elements, more than %d", len(elems), max))
	}
	out := make([]any, len(elems))
	for i, el := range elems {
		out[i] = enc(fmt.Sprintf("%s[%d]", path, i), el)
	}
	return out
}

func (e *encoder) signedHeader(path string, h *phase0.SignedBeaconBlockHeader) any {
	if !e.need(h != nil, path) {
		return nil
	}
	return ordered{{"message", e.blockHeader(path+".message", h.Message)}, {"signature", hx(h.Signature[:])}}
}

func (e *encoder) proposerSlashing(path string, s *phase0.ProposerSlashing) any {
	if !e.need(s != nil, path) {
		return nil
	}
	return ordered{
		{"signed_header_1", e.signedHeader(path+".signed_header_1", s.SignedHeader1)},
		{"signed_header_2", e.signedHeader(path+".signed_header_2", s.SignedHeader2)},
	}
}

func (e *encoder) indexedAttestation(path string, a *phase0.IndexedAttestation) any {
	if !e.need(a != nil, path) {
		return nil
	}
	if len(a.AttestingIndices) > maxValidatorsPerCommittee {
		e.fail(path+".attesting_indices", fmt.Sprintf("has %d elements, more than %d", len(a.AttestingIndices), maxValidatorsPerCommittee))
	}
	indices := make([]string, len(a.AttestingIndices))
	for i, idx := range a.AttestingIndices {
		indices[i] = u64(idx)
	}
	return ordered{
		{"attesting_indices", indices},
		{"data", e.attestationData(path+".data", a.Data)},
		{"signature", hx(a.Signature[:])},
	}
}

func (e *encoder) attesterSlashing(path string, s *phase0.AttesterSlashing) any {
	if !e.need(s != nil, path) {
		return nil
	}
	return ordered{
		{"attestation_1", e.indexedAttestation(path+".attestation_1", s.Attestation1)},
		{"attestation_2", e.indexedAttestation(path+".attestation_2", s.Attestation2)},
	}
}

// fixed encodes a byte slice that must have n bytes.
func (e *encoder) fixed(path string, b []byte, n int) string {
	if len(b) != n {
		e.fail(path, fmt.Sprintf("has %d bytes, want %d", len(b), n))
	}
	return hx(b)
}

func (e *encoder) blockDeposit(path string, d *phase0.Deposit) any {
	if !e.need(d != nil, path) {
		return nil
	}
	if len(d.Proof) != depositProofLength {
		e.fail(path+".proof", fmt.Sprintf("has %d elements, want %d", len(d.Proof), depositProofLength))
	}
	proof := make([]string, len(d.Proof))
	for i, p := range d.Proof {
		proof[i] = e.fixed(fmt.Sprintf("%s.proof[%d]", path, i), p, 32)
	}
	var data any
	if dd := d.Data; e.need(dd != nil, path+".data") {
		data = ordered{
			{"pubkey", hx(dd.PublicKey[:])},
			{"withdrawal_credentials", e.fixed(path+".data.withdrawal_credentials", dd.WithdrawalCredentials, 32)},
			{"amount", u64(dd.Amount)},
			{"signature", hx(dd.Signature[:])},
		}
	}
	return ordered{{"proof", proof}, {"data", data}}
}

func (e *encoder) signedExit(path string, x *phase0.SignedVoluntaryExit) any {
	if !e.need(x != nil, path) {
		return nil
	}
	return ordered{{"message", e.voluntaryExit(path+".message", x.Message)}, {"signature", hx(x.Signature[:])}}
}

// body encodes the members phase0 and altair bodies share.
func (e *encoder) body(path string, randao phase0.BLSSignature, eth1 *phase0.ETH1Data, graffiti [32]byte,
	ps []*phase0.ProposerSlashing, as []*phase0.AttesterSlashing, atts []*phase0.Attestation,
	deps []*phase0.Deposit, exits []*phase0.SignedVoluntaryExit) ordered {
	var eth1JSON any
	if e.need(eth1 != nil, path+".eth1_data") {
		eth1JSON = ordered{
			{"deposit_root", hx(eth1.DepositRoot[:])},
			{"deposit_count", u64(eth1.DepositCount)},
			{"block_hash", e.fixed(path+".eth1_data.block_hash", eth1.BlockHash, 32)},
		}
	}
	return ordered{
		{"randao_reveal", hx(randao[:])},
		{"eth1_data", eth1JSON},
		{"graffiti", hx(graffiti[:])},
		{"proposer_slashings", list(e, path+".proposer_slashings", ps, maxProposerSlashings, e.proposerSlashing)},
		{"attester_slashings", list(e, path+".attester_slashings", as, maxAttesterSlashings, e.attesterSlashing)},
		{"attestations", list(e, path+".attestations", atts, maxAttestations, e.phase0Attestation)},
		{"deposits", list(e, path+".deposits", deps, maxDeposits, e.blockDeposit)},
		{"voluntary_exits", list(e, path+".voluntary_exits", exits, maxVoluntaryExits, e.signedExit)},
	}
}

func (e *encoder) phase0Block(path string, b *phase0.BeaconBlock) any {
	if !e.need(b != nil, path) {
		return nil
	}
	var body any
	if bb := b.Body; e.need(bb != nil, path+".body") {
		body = e.body(path+".body", bb.RANDAOReveal, bb.ETH1Data, bb.Graffiti, bb.ProposerSlashings,
			bb.AttesterSlashings, bb.Attestations, bb.Deposits, bb.VoluntaryExits)
	}
	return blockJSON(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, body)
}

func (e *encoder) altairBlock(path string, b *altair.BeaconBlock) any {
	if !e.need(b != nil, path) {
		return nil
	}
	var body any
	if bb := b.Body; e.need(bb != nil, path+".body") {
		o := e.body(path+".body", bb.RANDAOReveal, bb.ETH1Data, bb.Graffiti, bb.ProposerSlashings,
			bb.AttesterSlashings, bb.Attestations, bb.Deposits, bb.VoluntaryExits)
		var sync any
		if sa := bb.SyncAggregate; e.need(sa != nil, path+".body.sync_aggregate") {
			if n := len(sa.SyncCommitteeBits); n != 64 && n != 4 {
				e.fail(path+".body.sync_aggregate.sync_committee_bits", fmt.Sprintf("has %d bytes, want one of [64 4]", n))
			}
			sync = ordered{
				{"sync_committee_bits", hx(sa.SyncCommitteeBits)},
				{"sync_committee_signature", hx(sa.SyncCommitteeSignature[:])},
			}
		}
		body = append(o, field{"sync_aggregate", sync})
	}
	return blockJSON(b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot, body)
}

func blockJSON(slot phase0.Slot, proposer phase0.ValidatorIndex, parent, state phase0.Root, body any) ordered {
	return ordered{
		{"slot", u64(slot)},
		{"proposer_index", u64(proposer)},
		{"parent_root", hx(parent[:])},
		{"state_root", hx(state[:])},
		{"body", body},
	}
}

func (e *encoder) contributionAndProof(path string, c *altair.ContributionAndProof) any {
	var contribution any
	if cc := c.Contribution; e.need(cc != nil, path+".contribution") {
		if n := len(cc.AggregationBits); n != 16 && n != 1 {
			e.fail(path+".contribution.aggregation_bits", fmt.Sprintf("has %d bytes, want one of [16 1]", n))
		}
		contribution = ordered{
			{"slot", u64(cc.Slot)},
			{"beacon_block_root", hx(cc.BeaconBlockRoot[:])},
			{"subcommittee_index", u64(cc.SubcommitteeIndex)},
			{"aggregation_bits", hx(cc.AggregationBits)},
			{"signature", hx(cc.Signature[:])},
		}
	}
	return ordered{
		{"aggregator_index", u64(c.AggregatorIndex)},
		{"selection_proof", hx(c.SelectionProof[:])},
		{"contribution", contribution},
	}
}
