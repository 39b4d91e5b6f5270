package signing

import (
	"encoding/json"
	"fmt"
	"strconv"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// MarshalJSON encodes a request built by hand (rampart-vc builds its own):
// the request's members, and go-eth2-client's JSON of the objects it
// carries. The result is then decoded by [ParseRequest], so that what it
// returns is exactly what every signer will decode, and a Request that
// strict decoding would refuse (a missing object, two payloads, a bit list
// without its length bit) is refused here with the same error.
//
// A coordinator does not re-encode what it received: it forwards
// [Request.Received].
func (r *Request) MarshalJSON() ([]byte, error) {
	body, err := r.encode()
	if err != nil {
		return nil, err
	}
	if _, err := ParseRequest(body); err != nil {
		return nil, err
	}
	return body, nil
}

// checked returns the request to check and hash: r itself when the decoder
// returned it, else the strict decoding of r's encoding, so that nothing
// built by hand is hashed that a signer would not decode the same way.
func (r *Request) checked() (*Request, error) {
	if r.Received() != nil {
		return r, nil
	}
	body, err := r.encode()
	if err != nil {
		return nil, err
	}
	return ParseRequest(body)
}

// requestJSON is a request's members: the ones that are set are encoded,
// and strict decoding then decides whether they make a request.
type requestJSON struct {
	Type                        Type                         `json:"type"`
	ForkInfo                    *forkInfoJSON                `json:"fork_info,omitempty"`
	SigningRoot                 *phase0.Root                 `json:"signingRoot,omitempty"`
	AggregationSlot             *AggregationSlot             `json:"aggregation_slot,omitempty"`
	AggregateAndProof           any                          `json:"aggregate_and_proof,omitempty"`
	Attestation                 *phase0.AttestationData      `json:"attestation,omitempty"`
	Block                       any                          `json:"block,omitempty"`
	BeaconBlock                 any                          `json:"beacon_block,omitempty"`
	Deposit                     *depositJSON                 `json:"deposit,omitempty"`
	SigningData                 *phase0.SigningData          `json:"signing_data,omitempty"`
	RandaoReveal                *RandaoReveal                `json:"randao_reveal,omitempty"`
	VoluntaryExit               *phase0.VoluntaryExit        `json:"voluntary_exit,omitempty"`
	SyncCommitteeMessage        *SyncCommitteeMessage        `json:"sync_committee_message,omitempty"`
	SyncAggregatorSelectionData *selectionDataJSON           `json:"sync_aggregator_selection_data,omitempty"`
	ContributionAndProof        *altair.ContributionAndProof `json:"contribution_and_proof,omitempty"`
	ValidatorRegistration       *apiv1.ValidatorRegistration `json:"validator_registration,omitempty"`
}

type forkInfoJSON struct {
	Fork                  *phase0.Fork `json:"fork"`
	GenesisValidatorsRoot phase0.Root  `json:"genesis_validators_root"`
}

// selectionDataJSON is SyncAggregatorSelectionData, which go-eth2-client
// gives no JSON form.
type selectionDataJSON struct {
	Slot              phase0.Slot `json:"slot"`
	SubcommitteeIndex string      `json:"subcommittee_index"`
}

type depositJSON struct {
	Pubkey                phase0.BLSPubKey `json:"pubkey"`
	WithdrawalCredentials phase0.Root      `json:"withdrawal_credentials"`
	Amount                phase0.Gwei      `json:"amount"`
	GenesisForkVersion    string           `json:"genesis_fork_version"`
}

// versionedJSON is the versioned wrapper of AGGREGATE_AND_PROOF_V2 (data)
// and BLOCK_V2 (block or block_header).
type versionedJSON struct {
	Version     string `json:"version"`
	Data        any    `json:"data,omitempty"`
	Block       any    `json:"block,omitempty"`
	BlockHeader any    `json:"block_header,omitempty"`
}

// encode writes the members of r that are set. The versioned wrappers are
// the one thing JSON cannot say wrong, so their consistency is checked here.
func (r *Request) encode() ([]byte, error) {
	out := requestJSON{
		Type: r.Type, SigningRoot: r.ProvidedRoot, AggregationSlot: r.AggregationSlot,
		Attestation: r.Attestation, SigningData: r.SigningData, RandaoReveal: r.RandaoReveal,
		VoluntaryExit: r.VoluntaryExit, SyncCommitteeMessage: r.SyncCommitteeMessage,
		ContributionAndProof:  r.ContributionAndProof,
		ValidatorRegistration: r.ValidatorRegistration,
	}
	if f := r.ForkInfo; f != nil {
		out.ForkInfo = &forkInfoJSON{Fork: &f.Fork, GenesisValidatorsRoot: f.GenesisValidatorsRoot}
	}
	if d := r.SyncAggregatorSelectionData; d != nil {
		out.SyncAggregatorSelectionData = &selectionDataJSON{Slot: d.Slot, SubcommitteeIndex: strconv.FormatUint(d.SubcommitteeIndex, 10)}
	}
	if d := r.Deposit; d != nil {
		out.Deposit = &depositJSON{Pubkey: d.Pubkey, WithdrawalCredentials: d.WithdrawalCredentials, Amount: d.Amount,
			GenesisForkVersion: fmt.Sprintf("%#x", d.GenesisForkVersion[:])}
	}
	if a := r.AggregateAndProof; a != nil {
		v, err := encodeAggregate(r.Type, a)
		if err != nil {
			return nil, err
		}
		out.AggregateAndProof = v
	}
	if b := r.Block; b != nil {
		v, err := encodeBlock(r.Type, b)
		if err != nil {
			return nil, err
		}
		if r.Type == TypeBlockV2 {
			out.BeaconBlock = v
		} else {
			out.Block = v
		}
	}
	return json.Marshal(&out)
}

func encodeAggregate(t Type, a *AggregateAndProof) (any, error) {
	const path = "aggregate_and_proof"
	var data any
	switch {
	case a.Phase0 != nil && a.Electra == nil && a.Version < spec.DataVersionElectra:
		data = a.Phase0
	case a.Electra != nil && a.Phase0 == nil && a.Version >= spec.DataVersionElectra:
		data = a.Electra
	default:
		return nil, &FieldError{Field: path, Reason: "want a phase0 aggregate (versions PHASE0 to DENEB) or an electra one (ELECTRA, FULU), and not both"}
	}
	if t != TypeAggregateAndProofV2 {
		// The deprecated AGGREGATE_AND_PROOF carries no version: its
		// container tells phase0 from electra.
		if a.Version != spec.DataVersionPhase0 && a.Version != spec.DataVersionElectra {
			return nil, &FieldError{Field: path, Reason: "AGGREGATE_AND_PROOF carries a phase0 aggregate (Version phase0) or an electra one (Version electra)"}
		}
		return data, nil
	}
	return versionedJSON{Version: versionName(a.Version), Data: data}, nil
}

func encodeBlock(t Type, b *BeaconBlock) (any, error) {
	set := 0
	for _, ok := range []bool{b.Phase0 != nil, b.Altair != nil, b.Header != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return nil, &FieldError{Field: t.payloadKey(), Reason: "want exactly one of a block or a block header"}
	}
	if t != TypeBlockV2 {
		if b.Phase0 == nil || b.Version != spec.DataVersionPhase0 {
			return nil, &FieldError{Field: t.payloadKey(), Reason: "BLOCK carries a full phase0 block; use BLOCK_V2"}
		}
		return b.Phase0, nil
	}
	v := versionedJSON{Version: versionName(b.Version)}
	switch {
	case b.Header != nil:
		v.BlockHeader = b.Header
	case b.Phase0 != nil && b.Version == spec.DataVersionPhase0:
		v.Block = b.Phase0
	case b.Altair != nil && b.Version == spec.DataVersionAltair:
		v.Block = b.Altair
	default:
		return nil, &FieldError{Field: t.payloadKey() + ".block", Reason: "does not match version " + versionName(b.Version)}
	}
	return v, nil
}
