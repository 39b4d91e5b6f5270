package signing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/signing"
)

// obj is a JSON object under construction.
type obj = map[string]any

func root(b byte) string { return "0x" + strings.Repeat(hexByte(b), 32) }
func sig(b byte) string  { return "0x" + strings.Repeat(hexByte(b), 96) }
func key(b byte) string  { return "0x" + strings.Repeat(hexByte(b), 48) }
func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// clone deep-copies a JSON value.
func clone(v any) any {
	switch x := v.(type) {
	case obj:
		out := obj{}
		for k, e := range x {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// with returns a copy of base with the member at the dotted path set to
// value, or removed when value is the special remove.
func with(base obj, path string, value any) obj {
	out := clone(base).(obj)
	parts := strings.Split(path, ".")
	cur := out
	for _, p := range parts[:len(parts)-1] {
		cur = cur[p].(obj)
	}
	if value == remove {
		delete(cur, parts[len(parts)-1])
	} else {
		cur[parts[len(parts)-1]] = value
	}
	return out
}

type removal struct{}

var remove = removal{}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func forkInfo(prev, cur string, epoch string, gvr string) obj {
	return obj{"fork": obj{"previous_version": prev, "current_version": cur, "epoch": epoch}, "genesis_validators_root": gvr}
}

// mainnetGVR is mainnet's genesis validators root.
const mainnetGVR = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"

// fuluInfo is mainnet's Fulu fork info; electraInfo its Electra one.
var (
	fuluInfo    = forkInfo("0x05000000", "0x06000000", "411392", mainnetGVR)
	electraInfo = forkInfo("0x04000000", "0x05000000", "364032", mainnetGVR)
)

func checkpoint(epoch string, r byte) obj { return obj{"epoch": epoch, "root": root(r)} }

func attestationData(slot, source, target string) obj {
	return obj{"slot": slot, "index": "3", "beacon_block_root": root(0xbb), "source": checkpoint(source, 0x55), "target": checkpoint(target, 0x77)}
}

// A valid mainnet attestation request in Fulu (slot 13440000 is epoch
// 420000).
func attestationRequest() obj {
	return obj{"type": "ATTESTATION", "fork_info": clone(fuluInfo), "attestation": attestationData("13440000", "419999", "420000")}
}

func header(slot string) obj {
	return obj{"slot": slot, "proposer_index": "7", "parent_root": root(1), "state_root": root(2), "body_root": root(3)}
}

func blockV2Request(version, slot string, info obj) obj {
	return obj{"type": "BLOCK_V2", "fork_info": clone(info), "beacon_block": obj{"version": version, "block_header": header(slot)}}
}

func TestParseRequestRefusesMalformedInput(t *testing.T) {
	att := attestationRequest()
	for _, tc := range []struct {
		name  string
		body  any
		field string
		want  string
	}{
		{"refuses a missing type", with(att, "type", remove), "type", "missing"},
		{"refuses an unknown type", with(att, "type", "ATTESTATION_V2"), "type", `unknown request type "ATTESTATION_V2"`},
		{"refuses a lower-case type", with(att, "type", "attestation"), "type", `unknown request type "attestation"`},
		{"refuses a type that is not a string", with(att, "type", 7), "type", "want a string, got a number"},
		{"refuses another type's payload", with(att, "block", obj{}), "block", "is the payload of BLOCK requests, not allowed in ATTESTATION requests"},
		{"refuses a missing payload", with(att, "attestation", remove), "attestation", "missing"},
		{"refuses a null payload", with(att, "attestation", nil), "attestation", "missing"},
		{"refuses a payload that is not an object", with(att, "attestation", "x"), "attestation", "want an object, got a string"},
		{"refuses a missing fork_info", with(att, "fork_info", remove), "fork_info", "missing"},
		{"refuses a missing fork", with(att, "fork_info.fork", remove), "fork_info.fork", "missing"},
		{"refuses a short fork version", with(att, "fork_info.fork.current_version", "0x060000"), "fork_info.fork.current_version", "has 3 bytes, want 4"},
		{"refuses a fork version without prefix", with(att, "fork_info.fork.current_version", "06000000"), "fork_info.fork.current_version", `"06000000" lacks the 0x prefix`},
		{"refuses a fork epoch given as a number", with(att, "fork_info.fork.epoch", 411392), "fork_info.fork.epoch", "want a decimal string, got a number"},
		{"refuses an unknown fork member", with(att, "fork_info.fork.previousVersion", "0x05000000"), "fork_info.fork.previousVersion", "unknown field"},
		{"refuses a negative source epoch", with(att, "attestation.source.epoch", "-1"), "attestation.source.epoch", `"-1" is not a decimal number`},
		{"refuses a source epoch with leading zeros", with(att, "attestation.source.epoch", "0419999"), "attestation.source.epoch", `"0419999" is not a decimal number`},
		{"refuses a source epoch beyond 64 bits", with(att, "attestation.source.epoch", "18446744073709551616"), "attestation.source.epoch", "does not fit 64 bits"},
		{"refuses an empty slot", with(att, "attestation.slot", ""), "attestation.slot", `"" is not a decimal number`},
		{"refuses a missing target", with(att, "attestation.target", remove), "attestation.target", "missing"},
		{"refuses a short block root", with(att, "attestation.beacon_block_root", "0x"+strings.Repeat("bb", 31)), "attestation.beacon_block_root", "has 31 bytes, want 32"},
		{"refuses a root that is not hex", with(att, "attestation.beacon_block_root", "0x"+strings.Repeat("zz", 32)), "attestation.beacon_block_root", "is not hex"},
		{"refuses an unknown member of attestation data", with(att, "attestation.committee_index", "1"), "attestation.committee_index", "unknown field"},
		{"refuses a malformed signingRoot", with(att, "signingRoot", "0x12"), "signingRoot", "has 1 bytes, want 32"},
		{"refuses differing signingRoot and signing_root", with(with(att, "signingRoot", root(1)), "signing_root", root(2)), "signing_root", "differs from signingRoot"},
		{"refuses GENERIC with fork_info", obj{"type": "GENERIC", "fork_info": clone(fuluInfo), "signing_data": obj{"object_root": root(1), "domain": root(2)}}, "fork_info", "unknown field"},
		{"refuses GENERIC with an unknown member", obj{"type": "GENERIC", "note": "x", "signing_data": obj{"object_root": root(1), "domain": root(2)}}, "note", "unknown field"},
		{"refuses an unknown signing_data member", obj{"type": "GENERIC", "signing_data": obj{"object_root": root(1), "domain": root(2), "x": 1}}, "signing_data.x", "unknown field"},
		{"refuses a full block for BELLATRIX", with(with(blockV2Request("BELLATRIX", "5000000", fuluInfo), "beacon_block.block_header", remove), "beacon_block.block", obj{}), "beacon_block.block", "a full block is not accepted for BELLATRIX; send block_header"},
		{"refuses a BELLATRIX block without header", with(blockV2Request("BELLATRIX", "5000000", fuluInfo), "beacon_block.block_header", remove), "beacon_block.block_header", "missing"},
		{"refuses a block and a header together", with(blockV2Request("PHASE0", "5", fuluInfo), "beacon_block.block", obj{}), "beacon_block.block_header", "not allowed together with block"},
		{"refuses an unknown block version", blockV2Request("GLOAS", "5", fuluInfo), "beacon_block.version", `unknown version "GLOAS" (want PHASE0 to FULU)`},
		{"refuses a lower-case block version", blockV2Request("fulu", "5", fuluInfo), "beacon_block.version", `unknown version "fulu"`},
		{"refuses a header with an unknown member", with(blockV2Request("FULU", "5", fuluInfo), "beacon_block.block_header.body", obj{}), "beacon_block.block_header.body", "unknown field"},
		{"refuses an empty bitlist", aggregateV2("DENEB", "0x"), "aggregate_and_proof.data.aggregate.aggregation_bits", "not an SSZ bitlist"},
		{"refuses a bitlist without length bit", aggregateV2("DENEB", "0x0100"), "aggregate_and_proof.data.aggregate.aggregation_bits", "not an SSZ bitlist"},
		{"refuses a bitlist beyond its limit", aggregateV2("DENEB", "0x"+strings.Repeat("ff", 256)+"03"), "aggregate_and_proof.data.aggregate.aggregation_bits", "has 2049 bits, more than 2048"},
		{"refuses committee bits in a phase0 aggregate", with(aggregateV2("DENEB", "0x01"), "aggregate_and_proof.data.aggregate.committee_bits", "0x01"), "aggregate_and_proof.data.aggregate.committee_bits", "unknown field"},
		{"refuses an electra aggregate without committee bits", with(aggregateV2("ELECTRA", "0x01"), "aggregate_and_proof.data.aggregate.committee_bits", remove), "aggregate_and_proof.data.aggregate.committee_bits", "missing"},
		{"refuses committee bits of an unknown size", with(aggregateV2("ELECTRA", "0x01"), "aggregate_and_proof.data.aggregate.committee_bits", "0x0001"), "aggregate_and_proof.data.aggregate.committee_bits", "has 2 bytes, want one of [8 1]"},
		{"refuses an unknown aggregate version", aggregateV2("GLOAS", "0x01"), "aggregate_and_proof.version", "unknown version"},
		{"refuses a validator registration timestamp beyond time", with(registration(), "validator_registration.timestamp", "18446744073709551615"), "validator_registration.timestamp", "beyond the year"},
		{"refuses a fee recipient of the wrong length", with(registration(), "validator_registration.fee_recipient", root(1)), "validator_registration.fee_recipient", "has 32 bytes, want 20"},
		{"refuses a deposit pubkey of the wrong length", with(deposit("0x00000000"), "deposit.pubkey", root(1)), "deposit.pubkey", "has 32 bytes, want 48"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signing.ParseRequest(encode(t, tc.body))
			var fe *signing.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, signing.ErrInvalidRequest) {
				t.Fatalf("got %v, want a field error", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.want) {
				t.Fatalf("got %q: %q, want %q: %q", fe.Field, fe.Reason, tc.field, tc.want)
			}
		})
	}
}

func TestParseRequestRefusesMalformedJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"refuses text that is not JSON", `type: ATTESTATION`, "", "invalid JSON"},
		{"refuses an array", `[]`, "", "want an object, got an array"},
		{"refuses a truncated object", `{"type": "ATTESTATION"`, "", "unexpected end of input"},
		{"refuses data after the object", `{"type": "RANDAO_REVEAL"} {}`, "", "data after the request object"},
		{"refuses a duplicate key", `{"type": "ATTESTATION", "type": "BLOCK"}`, "type", "appears twice"},
		{"refuses a duplicate nested key", `{"type": "RANDAO_REVEAL", "randao_reveal": {"epoch": "1", "epoch": "2"}}`, "randao_reveal.epoch", "appears twice"},
		{"refuses deep nesting", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a", "nested deeper than"},
		{"refuses an oversized body", `{"type": "` + strings.Repeat("A", signing.MaxRequestSize) + `"}`, "", "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signing.ParseRequest([]byte(tc.body))
			var fe *signing.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.want) {
				t.Fatalf("got %v, want %q: %q", err, tc.field, tc.want)
			}
		})
	}
}

// Real validator clients send members the schema does not list: Nimbus
// sends "proofs" with BLOCK_V2 and clients may send fork_info with types
// that do not use it. They are accepted, since nothing signed depends on
// them: a coordinator forwards them as received, each participant accepts
// them again and decodes the same request, and the encoding of the
// decoded request drops them.
func TestParseRequestToleratesUnknownTopLevelMembers(t *testing.T) {
	for _, tc := range []struct {
		name string
		body obj
	}{
		{"accepts nimbus proofs with BLOCK_V2", with(blockV2Request("FULU", "13440000", fuluInfo), "proofs", []any{obj{"index": "1", "proof": []any{root(9)}}})},
		{"accepts fork_info with VALIDATOR_REGISTRATION", with(registration(), "fork_info", clone(fuluInfo))},
		{"accepts fork_info with DEPOSIT", with(deposit("0x00000000"), "fork_info", "anything")},
		{"accepts signing_root instead of signingRoot", with(attestationRequest(), "signing_root", root(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := encode(t, tc.body)
			req, err := signing.ParseRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(req.Received(), body) {
				t.Fatalf("forwards %s, want the body as received", req.Received())
			}
			if again, err := signing.ParseRequest(req.Received()); err != nil || !sameRequest(again, req) {
				t.Fatalf("a participant decodes the forwarded body otherwise: %v", err)
			}
			out, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			for _, dropped := range []string{`"proofs"`, `"signing_root"`} {
				if strings.Contains(string(out), dropped) {
					t.Errorf("encoding keeps %s: %s", dropped, out)
				}
			}
			if strings.Contains(tc.name, "signing_root") && !strings.Contains(string(out), `"signingRoot":"`+root(1)+`"`) {
				t.Errorf("encoding lost the signing root: %s", out)
			}
		})
	}
}

func aggregateV2(version, bits string) obj {
	aggregate := obj{"aggregation_bits": bits, "data": attestationData("13440000", "419999", "420000"), "signature": sig(0x99)}
	if version == "ELECTRA" || version == "FULU" {
		aggregate["committee_bits"] = "0x0100000000000000"
	}
	return obj{"type": "AGGREGATE_AND_PROOF_V2", "fork_info": clone(fuluInfo),
		"aggregate_and_proof": obj{"version": version, "data": obj{"aggregator_index": "9", "aggregate": aggregate, "selection_proof": sig(0x88)}}}
}

func registration() obj {
	return obj{"type": "VALIDATOR_REGISTRATION", "validator_registration": obj{
		"fee_recipient": "0x" + strings.Repeat("ab", 20), "gas_limit": "36000000", "timestamp": "1750000000", "pubkey": key(0x8f)}}
}

func deposit(genesisVersion string) obj {
	return obj{"type": "DEPOSIT", "deposit": obj{
		"pubkey": key(0x8f), "withdrawal_credentials": root(0x01), "amount": "32000000000", "genesis_fork_version": genesisVersion}}
}

func TestParseBatch(t *testing.T) {
	att := attestationRequest()
	upper := "0x" + strings.Repeat("AB", 48)
	lower := "0x" + strings.Repeat("ab", 48)
	for _, tc := range []struct {
		name  string
		body  obj
		field string
		want  string
	}{
		{name: "accepts a batch of attestations", body: obj{"identifiers": []any{key(1), key(2)}, "signing_request": att}},
		{"refuses an empty identifier list", obj{"identifiers": []any{}, "signing_request": att}, "identifiers", "empty"},
		{"refuses a missing identifier list", obj{"signing_request": att}, "identifiers", "missing"},
		{"refuses a key repeated in another hex casing", obj{"identifiers": []any{lower, key(2), upper}, "signing_request": att}, "identifiers[2]", "the same key as identifiers[0]"},
		{"refuses a malformed key", obj{"identifiers": []any{key(1), "0x1234"}, "signing_request": att}, "identifiers[1]", "has 2 bytes, want 48"},
		{"refuses a type that cannot be batched", obj{"identifiers": []any{key(1)}, "signing_request": blockV2Request("FULU", "13440000", fuluInfo)}, "signing_request.type", "BLOCK_V2 requests cannot be batched"},
		{"refuses an unknown batch member", obj{"identifiers": []any{key(1)}, "signing_request": att, "note": 1}, "note", "unknown field"},
		{"names nested fields with their batch path", obj{"identifiers": []any{key(1)}, "signing_request": with(att, "attestation.slot", "x")}, "signing_request.attestation.slot", `"x" is not a decimal number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := signing.ParseBatch(encode(t, tc.body))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(b.Identifiers) != 2 || b.Request.Type != signing.TypeAttestation {
					t.Fatalf("%+v", b)
				}
				// A coordinator forwards the signing_request member as
				// received; alone, it decodes to the same request.
				fwd := b.Request.Received()
				if !bytes.Equal(fwd, encode(t, att)) {
					t.Fatalf("forwarded %s, want the signing_request member as sent", fwd)
				}
				back, err := signing.ParseRequest(fwd)
				if err != nil || !sameRequest(back, b.Request) {
					t.Fatalf("the forwarded request decodes otherwise: %v %+v", err, back)
				}
				return
			}
			var fe *signing.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.want) {
				t.Fatalf("got %v, want %q: %q", err, tc.field, tc.want)
			}
		})
	}
}

// A hand-built Request is checked like a decoded one: it cannot carry two
// payloads or miss a nested object.
func TestHandBuiltRequestsAreChecked(t *testing.T) {
	req, err := signing.ParseRequest(encode(t, attestationRequest()))
	if err != nil {
		t.Fatal(err)
	}
	twoPayloads := *req
	twoPayloads.RandaoReveal = &signing.RandaoReveal{Epoch: 1}
	noTarget := *req
	data := *req.Attestation
	data.Target = nil
	noTarget.Attestation = &data
	noForkInfo := *req
	noForkInfo.ForkInfo = nil
	for name, r := range map[string]*signing.Request{"two payloads": &twoPayloads, "no target": &noTarget, "no fork_info": &noForkInfo} {
		if _, err := json.Marshal(r); err == nil {
			t.Errorf("%s: marshalled", name)
		}
		if _, err := r.SigningRoot(mainnetNet()); !errors.Is(err, signing.ErrInvalidRequest) {
			t.Errorf("%s: SigningRoot: %v", name, err)
		}
	}
}
