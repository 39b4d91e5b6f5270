package signing_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/internal/signing/specexamples"
)

// Every request example of the specification computes to the signing root
// it publishes, with two exceptions proven wrong by an independent SSZ
// computation. Examples are computed from their own fork_info on a test
// network like theirs (see exampleNetwork), with the preset their bit
// fields are sized for; the network check is a separate step.
func TestSpecExamplesComputeTheirSigningRoots(t *testing.T) {
	nets := map[string]*network.Network{"mainnet": exampleNetwork(t, "mainnet"), "minimal": exampleNetwork(t, "minimal")}
	matched, wrong := 0, 0
	for _, e := range loadExamples(t) {
		t.Run(e.Name, func(t *testing.T) {
			req := parseExample(t, e)
			got, err := req.SigningRoot(nets[e.Preset])
			if err != nil {
				t.Fatal(err)
			}
			if !e.WrongRoot {
				if got != e.SigningRoot {
					t.Fatalf("computed %#x, the example says %#x", got, e.SigningRoot)
				}
				matched++
				return
			}
			// The published root is wrong: package signing and a hasher
			// written from the SSZ specification agree on another one.
			proof := electraAggregateRoot(t, value(t, e))
			if got == e.SigningRoot || proof != got {
				t.Fatalf("computed %#x, the independent computation gives %#x, the example says %#x", got, proof, e.SigningRoot)
			}
			wrong++
			t.Logf("the example's signingRoot %#x is wrong: signing and an independent SSZ computation both give %#x", e.SigningRoot, got)
		})
	}
	t.Logf("%d examples reproduce their signing root; %d publish a root proven wrong", matched, wrong)
}

// parseExample decodes an example. The camelCase examples must be refused
// by strict decoding, naming a camelCase field, then decode once spelled as
// the schema spells them.
func parseExample(t *testing.T, e specexamples.Example) *signing.Request {
	t.Helper()
	data := e.JSON
	if e.CamelCase {
		_, err := signing.ParseRequest(data)
		var fe *signing.FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "fork_info.fork.") || fe.Reason != "unknown field" {
			t.Fatalf("camelCase example: got %v, want an unknown camelCase fork field", err)
		}
		if data, err = specexamples.SchemaSpelling(data); err != nil {
			t.Fatal(err)
		}
	}
	if e.Batch {
		b, err := signing.ParseBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		return b.Request
	}
	req, err := signing.ParseRequest(data)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// electraAggregateRoot computes the signing root of an
// AGGREGATE_AND_PROOF_V2 example with an ELECTRA or FULU aggregate from the
// example's raw JSON, with the mainnet preset its 8-byte committee_bits
// imply: AggregateAndProof{aggregator_index, aggregate: Attestation{
// aggregation_bits: Bitlist[2048*64], data, signature, committee_bits:
// Bitvector[64]}, selection_proof}.
func electraAggregateRoot(t *testing.T, value map[string]any) phase0.Root {
	fi := value["fork_info"].(map[string]any)
	committeeBits := func(agg map[string]any) []chunk { return []chunk{merkleize(pack(raw(t, agg["committee_bits"])), 1)} }
	object := aggregateAndProofRoot(t, value["aggregate_and_proof"].(map[string]any)["data"].(map[string]any), 2048*64, committeeBits)

	fork := fi["fork"].(map[string]any)
	var version [4]byte
	copy(version[:], raw(t, fork["current_version"]))
	domain := domainOf([4]byte{0x06}, version, rootOf(t, fi["genesis_validators_root"]))
	return signingRootOf(object, domain)
}

// aggregateAndProofRoot hashes an AggregateAndProof from its raw JSON:
// {aggregator_index, aggregate: {aggregation_bits (limit maxBits), data,
// signature, extra fields...}, selection_proof}.
func aggregateAndProofRoot(t *testing.T, data map[string]any, maxBits int, extra func(map[string]any) []chunk) chunk {
	agg := data["aggregate"].(map[string]any)
	att := agg["data"].(map[string]any)
	checkpoint := func(c map[string]any) chunk {
		return container(uint64Chunk(num(t, c["epoch"])), rootOf(t, c["root"]))
	}
	attData := container(uint64Chunk(num(t, att["slot"])), uint64Chunk(num(t, att["index"])),
		rootOf(t, att["beacon_block_root"]), checkpoint(att["source"].(map[string]any)),
		checkpoint(att["target"].(map[string]any)))
	fields := []chunk{bitlistRoot(raw(t, agg["aggregation_bits"]), maxBits), attData, bytesRoot(raw(t, agg["signature"]))}
	if extra != nil {
		fields = append(fields, extra(agg)...)
	}
	return container(uint64Chunk(num(t, data["aggregator_index"])), container(fields...), bytesRoot(raw(t, data["selection_proof"])))
}

func raw(t *testing.T, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rootOf(t *testing.T, v any) chunk {
	var c chunk
	copy(c[:], raw(t, v))
	return c
}

func num(t *testing.T, v any) uint64 {
	t.Helper()
	s, _ := v.(string)
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The independent hasher agrees with package signing where the examples
// are right: the phase0 aggregate examples.
func TestIndependentHasherAgreesOnPhase0Aggregate(t *testing.T) {
	for _, e := range loadExamples(t) {
		if !strings.HasSuffix(e.Name, "AGGREGATE_AND_PROOF_V2 (DENEB)") {
			continue
		}
		object := aggregateAndProofRoot(t, value(t, e)["aggregate_and_proof"].(map[string]any)["data"].(map[string]any), 2048, nil)
		domain := domainOf([4]byte{0x06}, [4]byte{0, 0, 0, 1}, exampleGVR)
		if got, want := signingRootOf(object, domain), e.SigningRoot; got != want {
			t.Fatalf("independent hasher gives %#x, the (right) example says %#x", got, want)
		}
		return
	}
	t.Fatal("no DENEB aggregate example")
}

// The 2-of-3 threshold vector signs the GENERIC root of its signing data.
func TestThresholdVectorSigningRootIsGenericRoot(t *testing.T) {
	data, err := os.ReadFile(thresholdVectorPath())
	if err != nil {
		t.Fatal(err)
	}
	var vector struct {
		SigningData map[string]string `json:"signing_data"`
		SigningRoot string            `json:"signing_root"`
	}
	if err := json.Unmarshal(data, &vector); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"type": "GENERIC", "signing_data": vector.SigningData})
	req, err := signing.ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := req.SigningRoot(network.Mainnet())
	if err != nil {
		t.Fatal(err)
	}
	if want := mustRoot(vector.SigningRoot); got != want {
		t.Fatalf("GENERIC root %#x, vector says %#x", got, want)
	}
}
