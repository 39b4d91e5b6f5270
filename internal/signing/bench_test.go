package signing_test

import (
	"encoding/json"
	"testing"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

func benchBody(b *testing.B, body obj) []byte {
	data, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkParseAttestation measures strict decoding of the most frequent
// request.
func BenchmarkParseAttestation(b *testing.B) {
	data := benchBody(b, attestationRequest())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := signing.ParseRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAttestation measures the network check and signing root of
// a decoded attestation: the per-request work besides BLS and protection.
func BenchmarkVerifyAttestation(b *testing.B) {
	req, err := signing.ParseRequest(benchBody(b, attestationRequest()))
	if err != nil {
		b.Fatal(err)
	}
	n := network.Mainnet()
	for b.Loop() {
		if _, err := req.Verify(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerifyPhase0Block measures a full phase0 block with 128
// attestations, the largest kind of request.
func BenchmarkParseVerifyPhase0Block(b *testing.B) {
	block := phase0Block("100")
	atts := make([]any, 128)
	for i := range atts {
		atts[i] = obj{"aggregation_bits": "0xffffffffffffffffffffffffffffffff01", "data": attestationData("99", "2", "3"), "signature": sig(byte(i))}
	}
	block["body"].(obj)["attestations"] = atts
	data := benchBody(b, obj{"type": "BLOCK", "fork_info": forkInfo("0x00000000", "0x00000000", "0", mainnetGVR), "block": block})
	n := network.Mainnet()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		req, err := signing.ParseRequest(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := req.Verify(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSigningRootMinimalContribution measures the dynamic-ssz path the
// minimal preset takes.
func BenchmarkSigningRootMinimalContribution(b *testing.B) {
	var req *signing.Request
	for _, e := range loadExamples(b) {
		if e.Preset == "minimal" && !e.Batch && e.Name == "signing/paths/sign.yaml: SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF" {
			var err error
			if req, err = signing.ParseRequest(e.JSON); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := exampleNetwork(b, "minimal")
	for b.Loop() {
		if _, err := req.SigningRoot(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalAttestation measures the encoding of a request built by
// hand, as rampart-vc sends it (encoding and strict decoding of the result).
func BenchmarkMarshalAttestation(b *testing.B) {
	req, err := signing.ParseRequest(benchBody(b, attestationRequest()))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := json.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCoordinatorPath measures what a coordinator (appliance and
// rampart-gateway, in prepare) does with a request before it asks the
// participants: strict decoding, Verify, and the bytes it forwards.
func BenchmarkCoordinatorPath(b *testing.B) {
	block := phase0Block("100")
	atts := make([]any, 128)
	for i := range atts {
		atts[i] = obj{"aggregation_bits": "0xffffffffffffffffffffffffffffffff01", "data": attestationData("99", "2", "3"), "signature": sig(byte(i))}
	}
	block["body"].(obj)["attestations"] = atts
	n := network.Mainnet()
	for _, tc := range []struct {
		name string
		body obj
	}{
		{"attestation", attestationRequest()},
		{"phase0-block-128-attestations", obj{"type": "BLOCK", "fork_info": forkInfo("0x00000000", "0x00000000", "0", mainnetGVR), "block": block}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := benchBody(b, tc.body)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := signing.ParseRequest(data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := req.Verify(n); err != nil {
					b.Fatal(err)
				}
				if fwd, err := forward(req); err != nil || len(fwd) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
