package signing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/internal/signing/specexamples"
)

// eth2Decode decodes a signing request with go-eth2-client: its
// UnmarshalJSON for every signed object and scalar it has a type for, and
// encoding/json for the few members the Remote Signing API adds around
// them (type, fork_info, signingRoot, the versioned wrappers, the small
// payloads go-eth2-client has no container for). Top-level members are
// matched exactly, like the specification's schema; a member the type
// requires must be present. It is the reference strict decoding is
// compared with.
func eth2Decode(data []byte) (*signing.Request, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	member := func(key string, dst any) error {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			return fmt.Errorf("%s missing", key)
		}
		return json.Unmarshal(raw, dst)
	}
	var typ string
	if err := member("type", &typ); err != nil {
		return nil, err
	}
	r := &signing.Request{Type: signing.Type(typ)}
	for _, key := range []string{"signing_root", "signingRoot"} {
		if raw, ok := m[key]; ok && string(raw) != "null" {
			var root phase0.Root
			if err := json.Unmarshal(raw, &root); err != nil {
				return nil, err
			}
			r.ProvidedRoot = &root
		}
	}
	switch r.Type {
	case signing.TypeDeposit, signing.TypeValidatorRegistration, signing.TypeGeneric:
	default:
		var fi struct {
			Fork *phase0.Fork `json:"fork"`
			GVR  *phase0.Root `json:"genesis_validators_root"`
		}
		if err := member("fork_info", &fi); err != nil {
			return nil, err
		}
		if fi.Fork == nil || fi.GVR == nil {
			return nil, errors.New("fork_info incomplete")
		}
		r.ForkInfo = &signing.ForkInfo{Fork: *fi.Fork, GenesisValidatorsRoot: *fi.GVR}
	}
	var err error
	switch r.Type {
	case signing.TypeAggregationSlot:
		var p struct {
			Slot *phase0.Slot `json:"slot"`
		}
		if err = member("aggregation_slot", &p); err == nil && p.Slot == nil {
			err = errors.New("slot missing")
		}
		if err == nil {
			r.AggregationSlot = &signing.AggregationSlot{Slot: *p.Slot}
		}
	case signing.TypeRandaoReveal:
		var p struct {
			Epoch *phase0.Epoch `json:"epoch"`
		}
		if err = member("randao_reveal", &p); err == nil && p.Epoch == nil {
			err = errors.New("epoch missing")
		}
		if err == nil {
			r.RandaoReveal = &signing.RandaoReveal{Epoch: *p.Epoch}
		}
	case signing.TypeSyncCommitteeMessage:
		var p struct {
			Root *phase0.Root `json:"beacon_block_root"`
			Slot *phase0.Slot `json:"slot"`
		}
		if err = member("sync_committee_message", &p); err == nil && (p.Root == nil || p.Slot == nil) {
			err = errors.New("sync_committee_message incomplete")
		}
		if err == nil {
			r.SyncCommitteeMessage = &signing.SyncCommitteeMessage{BeaconBlockRoot: *p.Root, Slot: *p.Slot}
		}
	case signing.TypeSyncCommitteeSelectionProof:
		var p struct {
			Slot     *phase0.Slot `json:"slot"`
			Subindex *phase0.Slot `json:"subcommittee_index"` // a decimal string, like a slot
		}
		if err = member("sync_aggregator_selection_data", &p); err == nil && (p.Slot == nil || p.Subindex == nil) {
			err = errors.New("sync_aggregator_selection_data incomplete")
		}
		if err == nil {
			r.SyncAggregatorSelectionData = &altair.SyncAggregatorSelectionData{Slot: *p.Slot, SubcommitteeIndex: uint64(*p.Subindex)}
		}
	case signing.TypeDeposit:
		var p struct {
			GenesisForkVersion *string `json:"genesis_fork_version"`
		}
		var msg phase0.DepositMessage
		if err = member("deposit", &msg); err == nil {
			err = member("deposit", &p)
		}
		if err == nil {
			// go-eth2-client has no JSON form of a lone fork version; its
			// Fork decodes one.
			var f phase0.Fork
			v := ""
			if p.GenesisForkVersion != nil {
				v = *p.GenesisForkVersion
			}
			err = json.Unmarshal(fmt.Appendf(nil, `{"previous_version":%q,"current_version":%q,"epoch":"0"}`, v, v), &f)
			if err == nil {
				d := &signing.Deposit{Pubkey: msg.PublicKey, Amount: msg.Amount, GenesisForkVersion: f.CurrentVersion}
				copy(d.WithdrawalCredentials[:], msg.WithdrawalCredentials)
				if len(msg.WithdrawalCredentials) != 32 {
					err = errors.New("withdrawal credentials length")
				}
				r.Deposit = d
			}
		}
	case signing.TypeGeneric:
		r.SigningData = &phase0.SigningData{}
		err = member("signing_data", r.SigningData)
	case signing.TypeAttestation:
		r.Attestation = &phase0.AttestationData{}
		err = member("attestation", r.Attestation)
	case signing.TypeVoluntaryExit:
		r.VoluntaryExit = &phase0.VoluntaryExit{}
		err = member("voluntary_exit", r.VoluntaryExit)
	case signing.TypeSyncCommitteeContributionAndProof:
		r.ContributionAndProof = &altair.ContributionAndProof{}
		err = member("contribution_and_proof", r.ContributionAndProof)
	case signing.TypeValidatorRegistration:
		r.ValidatorRegistration = &apiv1.ValidatorRegistration{}
		if err = member("validator_registration", r.ValidatorRegistration); err == nil {
			r.ValidatorRegistration.Timestamp = r.ValidatorRegistration.Timestamp.UTC()
		}
	case signing.TypeBlock:
		r.Block = &signing.BeaconBlock{Version: spec.DataVersionPhase0, Phase0: &phase0.BeaconBlock{}}
		err = member("block", r.Block.Phase0)
	case signing.TypeBlockV2:
		r.Block, err = eth2Block(m["beacon_block"])
	case signing.TypeAggregateAndProof:
		r.AggregateAndProof, err = eth2Aggregate(m["aggregate_and_proof"])
	case signing.TypeAggregateAndProofV2:
		var v struct {
			Version *spec.DataVersion `json:"version"`
			Data    json.RawMessage   `json:"data"`
		}
		if err = member("aggregate_and_proof", &v); err == nil && v.Version == nil {
			err = errors.New("version missing")
		}
		if err == nil {
			a := &signing.AggregateAndProof{Version: *v.Version}
			if a.Version >= spec.DataVersionElectra {
				a.Electra = &electra.AggregateAndProof{}
				err = json.Unmarshal(v.Data, a.Electra)
			} else {
				a.Phase0 = &phase0.AggregateAndProof{}
				err = json.Unmarshal(v.Data, a.Phase0)
			}
			r.AggregateAndProof = a
		}
	default:
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// eth2Aggregate decodes the deprecated AGGREGATE_AND_PROOF payload: an
// electra aggregate when its attestation carries committee_bits.
func eth2Aggregate(raw json.RawMessage) (*signing.AggregateAndProof, error) {
	var peek struct {
		Aggregate map[string]json.RawMessage `json:"aggregate"`
	}
	if err := json.Unmarshal(raw, &peek); err != nil {
		return nil, err
	}
	if bits, ok := peek.Aggregate["committee_bits"]; ok && string(bits) != "null" {
		a := &signing.AggregateAndProof{Version: spec.DataVersionElectra, Electra: &electra.AggregateAndProof{}}
		return a, json.Unmarshal(raw, a.Electra)
	}
	a := &signing.AggregateAndProof{Version: spec.DataVersionPhase0, Phase0: &phase0.AggregateAndProof{}}
	return a, json.Unmarshal(raw, a.Phase0)
}

// eth2Block decodes a BLOCK_V2 payload: a block header, or before
// Bellatrix the full block of the version.
func eth2Block(raw json.RawMessage) (*signing.BeaconBlock, error) {
	var v struct {
		Version *spec.DataVersion `json:"version"`
		Block   json.RawMessage   `json:"block"`
		Header  json.RawMessage   `json:"block_header"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if v.Version == nil {
		return nil, errors.New("version missing")
	}
	b := &signing.BeaconBlock{Version: *v.Version}
	switch {
	case len(v.Header) > 0 && string(v.Header) != "null":
		b.Header = &phase0.BeaconBlockHeader{}
		return b, json.Unmarshal(v.Header, b.Header)
	case b.Version == spec.DataVersionPhase0:
		b.Phase0 = &phase0.BeaconBlock{}
		return b, json.Unmarshal(v.Block, b.Phase0)
	case b.Version == spec.DataVersionAltair:
		b.Altair = &altair.BeaconBlock{}
		return b, json.Unmarshal(v.Block, b.Altair)
	}
	return nil, errors.New("block_header missing")
}

// equivalent compares decoded values field by field: a nil and an empty
// slice are the same list, times the same instant; unexported fields
// (what a request was decoded from) are not compared.
func equivalent(a, b reflect.Value) bool {
	if a.Type() == reflect.TypeFor[time.Time]() {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equivalent(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equivalent(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Array:
		for i := range a.Len() {
			if !equivalent(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() && !equivalent(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

func sameDecoding(a, b *signing.Request) bool {
	return equivalent(reflect.ValueOf(a), reflect.ValueOf(b))
}

// TestEveryExampleDecodesAsGoEth2ClientDecodesIt: strict decoding gives,
// for every request example of the specification, the values
// go-eth2-client's own decoding gives. The camelCase examples, which the
// schema's spelling contradicts, are refused by both as published and
// compared once spelled as the schema spells them.
func TestEveryExampleDecodesAsGoEth2ClientDecodesIt(t *testing.T) {
	examples := loadExamples(t)
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	for _, e := range examples {
		t.Run(e.Name, func(t *testing.T) {
			data := e.JSON
			if e.Batch {
				b, err := signing.ParseBatch(data)
				if err != nil {
					t.Fatal(err)
				}
				data = b.Request.Received()
			}
			if e.CamelCase {
				if _, err := eth2Decode(data); err == nil {
					t.Fatal("go-eth2-client decodes the camelCase example")
				}
				if _, err := signing.ParseRequest(data); err == nil {
					t.Fatal("strict decoding accepts the camelCase example")
				}
				var err error
				if data, err = specexamples.SchemaSpelling(data); err != nil {
					t.Fatal(err)
				}
			}
			ours, err := signing.ParseRequest(data)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := eth2Decode(data)
			if err != nil {
				t.Fatalf("go-eth2-client: %v", err)
			}
			if !sameDecoding(ours, theirs) {
				t.Fatalf("strict decoding differs from go-eth2-client's:\nours   %s\ntheirs %s", dump(ours), dump(theirs))
			}
		})
	}
}

func dump(r *signing.Request) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf("%+v (%v)", *r, err)
	}
	return string(b)
}

// strictnessRules are the rules by which strict decoding refuses what
// go-eth2-client's decoding accepts, each recognised by the reason of the
// refusal. Each is deliberate: a coordinator and its participants must
// read one request one way, and a request that means anything but one
// signed object is refused with the field that makes it so.
var strictnessRules = []struct {
	rule   string
	reason *regexp.Regexp
}{
	{"a key appears twice (decoders disagree on which copy wins)", regexp.MustCompile(`^appears twice$`)},
	{"a member the schema does not define inside a signed object (encoding/json ignores it, or matches it without regard to case)", regexp.MustCompile(`^unknown field$`)},
	{"another type's payload beside the request's own", regexp.MustCompile(`^is the payload of `)},
	{"a uint64 not in canonical decimal (leading zeros, signs)", regexp.MustCompile(`is not a decimal number$`)},
	{"hex without its 0x prefix", regexp.MustCompile(`lacks the 0x prefix$`)},
	{"a byte string of the wrong length (go-eth2-client pads or truncates some)", regexp.MustCompile(`^has \d+ bytes, (want|more than) `)},
	{"a bit list without its length bit", regexp.MustCompile(`^not an SSZ bitlist`)},
	{"a list or bit list beyond its SSZ limit", regexp.MustCompile(`^has \d+ (elements|bits), (more than|want) \d+`)},
	{"a version not spelled as the API spells it (go-eth2-client ignores case)", regexp.MustCompile(`^unknown version `)},
	{"a full block beside its header, or where only the header is signed", regexp.MustCompile(`^(not allowed together with block|a full block is not accepted)`)},
	{"signingRoot and signing_root that differ", regexp.MustCompile(` differs from signingRoot `)},
	{"a registration timestamp beyond what a time.Time holds", regexp.MustCompile(`is beyond the year`)},
	{"JSON nested deeper than any request", regexp.MustCompile(`^nested deeper than`)},
	{"a member given as null or absent where go-eth2-client takes a zero value", regexp.MustCompile(`^missing$`)},
	{"a JSON number or other non-string where the API has a string", regexp.MustCompile(`^want a (decimal|0x-prefixed hex) string, got `)},
}

// strictnessRule names the rule by which err refuses a request, or "".
func strictnessRule(err error) string {
	var fe *signing.FieldError
	if !errors.As(err, &fe) {
		return ""
	}
	for _, r := range strictnessRules {
		if r.reason.MatchString(fe.Reason) {
			return r.rule
		}
	}
	return ""
}

// unescaped re-encodes JSON without string escapes that are not needed:
// the same JSON value, in the bytes go-eth2-client's decoders, which read
// some strings byte by byte, expect.
func unescaped(data []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return nil, false
	}
	return bytes.TrimSpace(out.Bytes()), true
}

// FuzzDecodersAgree compares strict decoding with go-eth2-client's on
// mutations of every example and seed request. What strict decoding
// accepts, go-eth2-client decodes to the same values (after undoing string
// escapes, which JSON defines as the same string but some go-eth2-client
// decoders read byte by byte). What go-eth2-client accepts and strict
// decoding refuses is refused by one of the strictness rules above.
func FuzzDecodersAgree(f *testing.F) {
	for _, seed := range seedRequests(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, errOurs := signing.ParseRequest(data)
		theirs, errTheirs := eth2Decode(data)
		switch {
		case errOurs == nil && errTheirs != nil:
			plain, ok := unescaped(data)
			if !ok || bytes.Equal(plain, data) {
				t.Fatalf("strict decoding accepts what go-eth2-client refuses (%v):\n%s", errTheirs, data)
			}
			if theirs, errTheirs = eth2Decode(plain); errTheirs != nil {
				t.Fatalf("strict decoding accepts what go-eth2-client refuses, escapes undone (%v):\n%s", errTheirs, plain)
			}
			fallthrough
		case errOurs == nil:
			if !sameDecoding(ours, theirs) {
				t.Fatalf("decodings differ:\nours   %s\ntheirs %s\ninput  %s", dump(ours), dump(theirs), data)
			}
		case errTheirs == nil:
			if strictnessRule(errOurs) == "" {
				t.Fatalf("strict decoding refuses what go-eth2-client accepts, by no strictness rule: %v\n%s", errOurs, data)
			}
		}
	})
}

// The strictness rules are each exercised: a request go-eth2-client
// accepts and strict decoding refuses by that rule.
func TestStrictnessRulesRefuseWhatGoEth2ClientAccepts(t *testing.T) {
	att := encode(t, attestationRequest())
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"refuses a duplicate key", bytes.Replace(att, []byte(`"type":`), []byte(`"type":"RANDAO_REVEAL","type":`), 1)},
		{"refuses an unknown member of a signed object", encode(t, with(attestationRequest(), "attestation.extra", "1"))},
		{"refuses a member spelled in another case", bytes.Replace(att, []byte(`"slot":`), []byte(`"SLOT":`), 1)},
		{"refuses leading zeros", encode(t, with(attestationRequest(), "attestation.slot", "013440000"))},
		{"refuses hex without 0x", encode(t, with(attestationRequest(), "attestation.beacon_block_root", strings.TrimPrefix(root(0xbb), "0x")))},
		{"refuses a lower-case version", encode(t, with(aggregateV2("FULU", "0x0501"), "aggregate_and_proof.version", "fulu"))},
		{"refuses a short fee recipient", encode(t, with(registration(), "validator_registration.fee_recipient", "0xabcd"))},
		{"refuses a bit list without its length bit", encode(t, with(aggregateV2("DENEB", "0x0500"), "aggregate_and_proof.data.aggregate.aggregation_bits", "0x0500"))},
		{"refuses another type's payload", encode(t, with(attestationRequest(), "randao_reveal", obj{"epoch": "1"}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := eth2Decode(tc.body); err != nil {
				t.Fatalf("go-eth2-client refuses it too (%v): not a case of the rule", err)
			}
			_, err := signing.ParseRequest(tc.body)
			if err == nil {
				t.Fatal("strict decoding accepts it")
			}
			if strictnessRule(err) == "" {
				t.Fatalf("refused by no strictness rule: %v", err)
			}
		})
	}
}
