package signing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
)

// seedRequests are well-formed requests of every type.
func seedRequests(t testing.TB) [][]byte {
	var out [][]byte
	for _, e := range loadExamples(t) {
		v := value(t, e)
		if e.Batch {
			v = v["signing_request"].(map[string]any)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, body := range []obj{
		attestationRequest(), with(attestationRequest(), "fork_info.fork.epoch", "420000"),
		blockV2Request("FULU", "13440000", fuluInfo), exitRequest("420000", fuluInfo),
		aggregateV2("FULU", "0x0501"), aggregateV2("DENEB", "0x0501"), unversionedAggregate("FULU", fuluInfo),
		registration(), deposit("0x00000000"),
		obj{"type": "BLOCK", "fork_info": clone(fuluInfo), "block": phase0Block("13440000")},
		with(blockV2Request("FULU", "13440000", fuluInfo), "proofs", []any{}),
	} {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzParseRequest: decoding never panics; whatever decodes re-encodes,
// decodes to an equal request, re-encodes to the same bytes, and gives the
// same signing root (or the same refusal) on every network.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range seedRequests(f) {
		f.Add(seed)
	}
	nets := []*network.Network{network.Mainnet(), network.Hoodi(), exampleNetwork(f, "minimal"), exampleNetwork(f, "mainnet")}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := signing.ParseRequest(data)
		if err != nil {
			if !errors.Is(err, signing.ErrInvalidRequest) {
				t.Fatalf("decoding error is not ErrInvalidRequest: %v", err)
			}
			return
		}
		if !bytes.Equal(req.Received(), data) {
			t.Fatalf("Received is not the body as received")
		}
		checkRoundTrip(t, req, nets)
	})
}

func checkRoundTrip(t *testing.T, req *signing.Request, nets []*network.Network) {
	t.Helper()
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("decoded request does not encode: %v", err)
	}
	back, err := signing.ParseRequest(out)
	if err != nil {
		t.Fatalf("encoding does not decode: %v\n%s", err, out)
	}
	if !sameRequest(req, back) {
		t.Fatalf("decode -> encode -> decode changed the request:\n%s", out)
	}
	again, err := json.Marshal(back)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("encoding is not stable (%v):\n%s\n%s", err, out, again)
	}
	for _, n := range nets {
		r1, err1 := req.SigningRoot(n)
		r2, err2 := back.SigningRoot(n)
		if r1 != r2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%s: signing root %#x (%v) became %#x (%v)", n.Name(), r1, err1, r2, err2)
		}
		if _, err := back.Verify(n); err != nil && !isRefusal(err) {
			t.Fatalf("%s: Verify failed with an unexpected error: %v", n.Name(), err)
		}
	}
}

func isRefusal(err error) bool {
	for _, want := range []error{signing.ErrInvalidRequest, signing.ErrSigningRootMismatch, signing.ErrForeignDomain,
		network.ErrGenesisValidatorsRoot, network.ErrUnknownFork, network.ErrWrongFork} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// FuzzParseBatch: the same properties for batch requests.
func FuzzParseBatch(f *testing.F) {
	for _, e := range loadExamples(f) {
		if e.Batch {
			f.Add(e.JSON)
		}
	}
	for _, seed := range seedRequests(f) {
		f.Add([]byte(`{"identifiers":["` + key(1) + `","` + key(2) + `"],"signing_request":` + string(seed) + `}`))
	}
	nets := []*network.Network{network.Mainnet()}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := signing.ParseBatch(data)
		if err != nil {
			if !errors.Is(err, signing.ErrInvalidRequest) {
				t.Fatalf("decoding error is not ErrInvalidRequest: %v", err)
			}
			return
		}
		// What a coordinator forwards of the batch, its signing_request
		// member as received, decodes alone to the same request.
		fwd := b.Request.Received()
		back, err := signing.ParseRequest(fwd)
		if err != nil || !sameRequest(b.Request, back) {
			t.Fatalf("the forwarded signing_request decodes otherwise: %v\n%s", err, fwd)
		}
		checkRoundTrip(t, b.Request, nets)
	})
}
