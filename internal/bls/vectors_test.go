package bls_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/bls"
)

// TestBLSVectors runs every file under $BLS_TESTS_DIR (default: the
// ethereum/bls12-381-tests copy in ../shared) through the handler named by its
// folder. A folder or file the test cannot handle fails the test, so a vector
// set can never be skipped silently.
func TestBLSVectors(t *testing.T) {
	dir := os.Getenv("BLS_TESTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata", "bls", "json")
	}
	handlers, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading BLS vector directory: %v", err)
	}
	ran := 0
	for _, h := range handlers {
		if !h.IsDir() {
			continue
		}
		run, ok := blsHandlers[h.Name()]
		if !ok {
			t.Errorf("no handler for vector folder %q", h.Name())
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, h.Name(), "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v vector
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil {
				t.Errorf("%s/%s: cannot parse: %v", h.Name(), filepath.Base(f), err)
				continue
			}
			if err := run(v); err != nil {
				t.Errorf("%s/%s: %v", h.Name(), filepath.Base(f), err)
			}
			ran++
		}
	}
	if ran == 0 {
		t.Fatalf("no BLS vectors found in %s", dir)
	}
	t.Logf("ran %d BLS vectors from %s", ran, dir)
	fmt.Printf("BLS vectors run: %d\n", ran)
}

type vector struct {
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
}

var blsHandlers = map[string]func(vector) error{
	"sign":                  runSign,
	"verify":                runVerify,
	"aggregate":             runAggregate,
	"aggregate_verify":      runAggregateVerify,
	"fast_aggregate_verify": runFastAggregateVerify,
	"batch_verify":          runBatchVerify,
	"deserialization_G1":    runDeserializationG1,
	"deserialization_G2":    runDeserializationG2,
	"hash_to_G2":            runHashToG2,
}

func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func unhex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(s, "0x"))
}

func root(s string) ([32]byte, error) {
	var r [32]byte
	b, err := unhex(s)
	if err != nil {
		return r, err
	}
	if len(b) != 32 {
		return r, fmt.Errorf("message has %d bytes, want 32", len(b))
	}
	copy(r[:], b)
	return r, nil
}

func wantBool(raw json.RawMessage) (bool, error) {
	var b bool
	err := json.Unmarshal(raw, &b)
	return b, err
}

func pubkeys(hexes []string) ([]*bls.PublicKey, error) {
	out := make([]*bls.PublicKey, len(hexes))
	for i, h := range hexes {
		b, err := unhex(h)
		if err != nil {
			return nil, err
		}
		if out[i], err = bls.PublicKeyFromBytes(b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func signature(h string) (*bls.Signature, error) {
	b, err := unhex(h)
	if err != nil {
		return nil, err
	}
	return bls.SignatureFromBytes(b)
}

func checkBool(want, got bool) error {
	if want != got {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}

func runSign(v vector) error {
	var in struct {
		Privkey string `json:"privkey"`
		Message string `json:"message"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	var want *string
	if err := json.Unmarshal(v.Output, &want); err != nil {
		return err
	}
	kb, err := unhex(in.Privkey)
	if err != nil {
		return err
	}
	msg, err := root(in.Message)
	if err != nil {
		return err
	}
	sk, err := bls.SecretKeyFromBytes(kb)
	if want == nil {
		if err == nil {
			return errors.New("signing succeeded, want failure")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if got := sk.Sign(msg).String(); got != *want {
		return fmt.Errorf("signature %s, want %s", got, *want)
	}
	return nil
}

func runVerify(v vector) error {
	var in struct {
		Pubkey    string `json:"pubkey"`
		Message   string `json:"message"`
		Signature string `json:"signature"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantBool(v.Output)
	if err != nil {
		return err
	}
	msg, err := root(in.Message)
	if err != nil {
		return err
	}
	pks, err := pubkeys([]string{in.Pubkey})
	if err != nil {
		return checkBool(want, false)
	}
	sig, err := signature(in.Signature)
	if err != nil {
		return checkBool(want, false)
	}
	return checkBool(want, pks[0].Verify(msg, sig))
}

func runAggregate(v vector) error {
	var in []string
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	var want *string
	if err := json.Unmarshal(v.Output, &want); err != nil {
		return err
	}
	sigs := make([]*bls.Signature, 0, len(in))
	for _, h := range in {
		s, err := signature(h)
		if err != nil {
			if want == nil {
				return nil
			}
			return err
		}
		sigs = append(sigs, s)
	}
	agg, err := bls.Aggregate(sigs)
	if want == nil {
		if err == nil {
			return errors.New("aggregation succeeded, want failure")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if got := agg.String(); got != *want {
		return fmt.Errorf("aggregate %s, want %s", got, *want)
	}
	return nil
}

func runAggregateVerify(v vector) error {
	var in struct {
		Pubkeys   []string `json:"pubkeys"`
		Messages  []string `json:"messages"`
		Signature string   `json:"signature"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantBool(v.Output)
	if err != nil {
		return err
	}
	msgs := make([][32]byte, len(in.Messages))
	for i, m := range in.Messages {
		if msgs[i], err = root(m); err != nil {
			return err
		}
	}
	pks, err := pubkeys(in.Pubkeys)
	if err != nil {
		return checkBool(want, false)
	}
	sig, err := signature(in.Signature)
	if err != nil {
		return checkBool(want, false)
	}
	return checkBool(want, bls.AggregateVerify(pks, msgs, sig))
}

func runFastAggregateVerify(v vector) error {
	var in struct {
		Pubkeys   []string `json:"pubkeys"`
		Message   string   `json:"message"`
		Signature string   `json:"signature"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantBool(v.Output)
	if err != nil {
		return err
	}
	msg, err := root(in.Message)
	if err != nil {
		return err
	}
	pks, err := pubkeys(in.Pubkeys)
	if err != nil {
		return checkBool(want, false)
	}
	sig, err := signature(in.Signature)
	if err != nil {
		return checkBool(want, false)
	}
	return checkBool(want, bls.FastAggregateVerify(pks, msg, sig))
}

func runBatchVerify(v vector) error {
	var in struct {
		Pubkeys    []string `json:"pubkeys"`
		Messages   []string `json:"messages"`
		Signatures []string `json:"signatures"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantBool(v.Output)
	if err != nil {
		return err
	}
	msgs := make([][32]byte, len(in.Messages))
	for i, m := range in.Messages {
		if msgs[i], err = root(m); err != nil {
			return err
		}
	}
	pks, err := pubkeys(in.Pubkeys)
	if err != nil {
		return checkBool(want, false)
	}
	sigs := make([]*bls.Signature, len(in.Signatures))
	for i, h := range in.Signatures {
		if sigs[i], err = signature(h); err != nil {
			return checkBool(want, false)
		}
	}
	return checkBool(want, bls.BatchVerify(pks, msgs, sigs))
}

// deserialisation vectors ask whether bytes are a valid point; infinity is a
// valid point that our decoders nevertheless refuse as a key or signature,
// with the distinct error ErrInfinity.
func checkDecode(want bool, err error) error {
	valid := err == nil || errors.Is(err, bls.ErrInfinity)
	if valid != want {
		return fmt.Errorf("decoding gave %v, want valid=%v", err, want)
	}
	return nil
}

func runDeserializationG1(v vector) error {
	var in struct {
		Pubkey string `json:"pubkey"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantBool(v.Output)
	if err != nil {
		return err
	}
	b, err := unhex(in.Pubkey)
	if err != nil {
		return err
	}
	_, err = bls.PublicKeyFromBytes(b)
	return checkDecode(want, err)
}

func runDeserializationG2(v vector) error {
	var in struct {
		Signature string `json:"signature"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantBool(v.Output)
	if err != nil {
		return err
	}
	b, err := unhex(in.Signature)
	if err != nil {
		return err
	}
	_, err = bls.SignatureFromBytes(b)
	return checkDecode(want, err)
}

// hashToG2DST is the RFC 9380 test tag the hash_to_G2 vectors use.
const hashToG2DST = "QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_"

func runHashToG2(v vector) error {
	var in struct {
		Msg string `json:"msg"`
	}
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	var want struct {
		X string `json:"x"`
		Y string `json:"y"`
	}
	if err := strict(v.Output, &want); err != nil {
		return err
	}
	got, err := bls.HashToG2WithDST([]byte(in.Msg), hashToG2DST)
	if err != nil {
		return err
	}
	if x := got[0] + "," + got[1]; x != want.X {
		return fmt.Errorf("x = %s, want %s", x, want.X)
	}
	if y := got[2] + "," + got[3]; y != want.Y {
		return fmt.Errorf("y = %s, want %s", y, want.Y)
	}
	return nil
}
