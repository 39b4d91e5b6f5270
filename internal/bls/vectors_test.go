package bls_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/internal/bls"
)

// blsVectorsEnv names the environment variable that points TestBLSVectors at
// other copies of the vectors: one directory, or several separated by the
// path list separator (a consensus-spec-tests checkout keeps its BLS vectors
// in tests/general/phase0/bls and tests/general/altair/bls).
const blsVectorsEnv = "BLS_TESTS_DIR"

// blsVectorDirs returns the directories TestBLSVectors walks: $BLS_TESTS_DIR,
// else the repository's copy in testdata/bls.
func blsVectorDirs() []string {
	if env := os.Getenv(blsVectorsEnv); env != "" {
		return filepath.SplitList(env)
	}
	return []string{filepath.Join("..", "..", "testdata", "bls")}
}

// TestBLSVectors runs every vector under the vector directories through the
// handler its path names, and checks the library's answer against the
// expected output exactly: no file, folder or case is excepted. It reads
// both layouts the official suites ship in:
//
//   - ethereum/bls12-381-tests releases: <handler>/<case>.json (or .yaml);
//   - ethereum/consensus-spec-tests: <handler>/<suite>/<case>/data.yaml.
//
// A data file that no handler claims fails the test, so a vector set can
// never be skipped silently. It prints the number of vectors run per suite.
func TestBLSVectors(t *testing.T) {
	dirs := blsVectorDirs()
	counts, failures, err := runBLSVectors(dirs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		t.Fatalf("no BLS vectors found in %s", strings.Join(dirs, ", "))
	}
	report := fmt.Sprintf("BLS vectors run from %s: %d (%s), %d failed",
		strings.Join(dirs, ", "), total, formatCounts(counts), len(failures))
	t.Log(report)
	fmt.Println(report)
}

// handlerNames returns the suites the runner knows, sorted.
func handlerNames() []string {
	names := make([]string, 0, len(blsHandlers))
	for name := range blsHandlers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// formatCounts lists every handler with its count, zero included, so a
// suite absent from a copy shows.
func formatCounts(counts map[string]int) string {
	names := handlerNames()
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %d", name, counts[name])
	}
	return strings.Join(parts, ", ")
}

// runBLSVectors walks dirs and runs every vector. It returns the number run
// per handler and one line per vector whose answer differs from its
// expected output; err reports what stops the run (an unreadable
// directory, a file no handler claims, a file that does not parse).
func runBLSVectors(dirs []string) (map[string]int, []string, error) {
	counts := map[string]int{}
	var failures []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || isDocumentation(d.Name()) {
				return nil
			}
			rel, _ := filepath.Rel(dir, path)
			handler, ok := handlerOf(rel)
			if !ok {
				return fmt.Errorf("%s: no handler for this file: a vector is a .json, .yaml or .yml file under a folder named after its suite (%s)", rel, strings.Join(handlerNames(), ", "))
			}
			v, err := readVector(path)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			counts[handler]++
			if err := blsHandlers[handler](v); err != nil {
				failures = append(failures, fmt.Sprintf("%s: %v", rel, err))
			}
			return nil
		})
		if err != nil {
			return counts, failures, err
		}
	}
	return counts, failures, nil
}

// isDocumentation reports whether a file is one of the documents that come
// with vector sets rather than a vector.
func isDocumentation(name string) bool {
	switch {
	case strings.HasPrefix(name, "."),
		strings.HasSuffix(name, ".md"),
		name == "LICENSE", name == "SHA256SUMS":
		return true
	}
	return false
}

// handlerOf returns the handler of a vector file: the innermost folder of its
// path named after a handler. Only .json, .yaml and .yml files are vectors.
func handlerOf(rel string) (string, bool) {
	switch filepath.Ext(rel) {
	case ".json", ".yaml", ".yml":
	default:
		return "", false
	}
	parts := strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if _, ok := blsHandlers[parts[i]]; ok {
			return parts[i], true
		}
	}
	return "", false
}

type vector struct {
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
}

// readVector reads a JSON or YAML vector; YAML is converted to JSON so that
// one strict decoder reads both.
func readVector(path string) (vector, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return vector{}, err
	}
	if bytes.HasPrefix(raw, []byte("version https://git-lfs.github.com/spec/")) {
		return vector{}, errors.New("is a Git LFS pointer, not the vector: fetch the LFS objects of that copy (git lfs pull)")
	}
	if filepath.Ext(path) != ".json" {
		var doc any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return vector{}, fmt.Errorf("cannot parse: %w", err)
		}
		if raw, err = json.Marshal(doc); err != nil {
			return vector{}, fmt.Errorf("cannot convert to JSON: %w", err)
		}
	}
	var v vector
	if err := strict(raw, &v); err != nil {
		return vector{}, fmt.Errorf("cannot parse: %w", err)
	}
	if v.Input == nil || v.Output == nil {
		return vector{}, errors.New("cannot parse: input or output missing")
	}
	return v, nil
}

// blsHandlers maps each suite of the consensus specifications' BLS tests
// (tests/formats/bls) and of ethereum/bls12-381-tests to its runner. Each
// runner decodes the inputs with the library's decoders (a decoding
// failure is the specification's INVALID) and calls the library's function
// for the operation.
var blsHandlers = map[string]func(vector) error{
	"sign":                      runSign,
	"verify":                    runVerify,
	"aggregate":                 runAggregate,
	"aggregate_verify":          runAggregateVerify,
	"fast_aggregate_verify":     runFastAggregateVerify(bls.FastAggregateVerify),
	"eth_fast_aggregate_verify": runFastAggregateVerify(bls.EthFastAggregateVerify),
	"eth_aggregate_pubkeys":     runEthAggregatePubkeys,
	"batch_verify":              runBatchVerify,
	"deserialization_G1":        runDeserializationG1,
	"deserialization_G2":        runDeserializationG2,
	"hash_to_G2":                runHashToG2,
}

func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
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

func roots(hexes []string) ([][32]byte, error) {
	out := make([][32]byte, len(hexes))
	for i, m := range hexes {
		var err error
		if out[i], err = root(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// wantBool reads a verification's expected output. Generators of the
// consensus specifications write null where the operation raised, which for
// a verification means the same as false: the input is not valid.
func wantBool(raw json.RawMessage) (bool, error) {
	var b *bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("output: %w", err)
	}
	return b != nil && *b, nil
}

// wantHex reads an expected encoding; nil means the operation must fail.
func wantHex(raw json.RawMessage) (*string, error) {
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return s, nil
}

// decodedInputs are a vector's inputs as a library decoder returned them;
// invalid is the decoder's first error, which the runners treat as the
// specification's INVALID.
type decodedInputs[T any] struct {
	vals    []T
	invalid error
}

// decodeAll decodes hex inputs with a library decoder. The vector's own hex
// must be well formed: if it is not, the vector is wrong, not the library.
func decodeAll[T any](hexes []string, decode func([]byte) (T, error)) (decodedInputs[T], error) {
	out := decodedInputs[T]{vals: make([]T, len(hexes))}
	for i, h := range hexes {
		b, err := unhex(h)
		if err != nil {
			return out, fmt.Errorf("input %q is not hex: %w", h, err)
		}
		if out.vals[i], err = decode(b); err != nil && out.invalid == nil {
			out.invalid = err
		}
	}
	return out, nil
}

// checkVerification decodes a verification's keys and signatures with the
// library's decoders and compares the verdict with want; a decoder's refusal
// is the specification's INVALID.
func checkVerification(want bool, pubkeys, signatures []string, verdict func([]*bls.PublicKey, []*bls.Signature) bool) error {
	keys, err := decodeAll(pubkeys, bls.PublicKeyFromBytes)
	if err != nil {
		return err
	}
	sigs, err := decodeAll(signatures, bls.SignatureFromBytes)
	if err != nil {
		return err
	}
	if keys.invalid != nil || sigs.invalid != nil {
		return checkBool(want, false)
	}
	return checkBool(want, verdict(keys.vals, sigs.vals))
}

func checkBool(want, got bool) error {
	if want != got {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}

func checkHex(want *string, got string, err error) error {
	switch {
	case want == nil && err == nil:
		return fmt.Errorf("got %s, want failure", got)
	case want == nil:
		return nil
	case err != nil:
		return fmt.Errorf("failed (%v), want %s", err, *want)
	case !strings.EqualFold(strings.TrimPrefix(*want, "0x"), strings.TrimPrefix(got, "0x")):
		return fmt.Errorf("got %s, want %s", got, *want)
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
	want, err := wantHex(v.Output)
	if err != nil {
		return err
	}
	msg, err := root(in.Message)
	if err != nil {
		return err
	}
	kb, err := unhex(in.Privkey)
	if err != nil {
		return err
	}
	sk, err := bls.SecretKeyFromBytes(kb)
	if err != nil {
		return checkHex(want, "", err)
	}
	return checkHex(want, sk.Sign(msg).String(), nil)
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
	return checkVerification(want, []string{in.Pubkey}, []string{in.Signature}, func(keys []*bls.PublicKey, sigs []*bls.Signature) bool {
		return keys[0].Verify(msg, sigs[0])
	})
}

func runAggregate(v vector) error {
	var in []string
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantHex(v.Output)
	if err != nil {
		return err
	}
	sigs, err := decodeAll(in, bls.SignatureFromBytes)
	if err != nil {
		return err
	}
	if sigs.invalid != nil {
		return checkHex(want, "", sigs.invalid)
	}
	agg, err := bls.Aggregate(sigs.vals)
	if err != nil {
		return checkHex(want, "", err)
	}
	return checkHex(want, agg.String(), nil)
}

func runEthAggregatePubkeys(v vector) error {
	var in []string
	if err := strict(v.Input, &in); err != nil {
		return err
	}
	want, err := wantHex(v.Output)
	if err != nil {
		return err
	}
	keys, err := decodeAll(in, bls.PublicKeyFromBytes)
	if err != nil {
		return err
	}
	if keys.invalid != nil {
		return checkHex(want, "", keys.invalid)
	}
	agg, err := bls.EthAggregatePubkeys(keys.vals)
	return checkHex(want, "0x"+hex.EncodeToString(agg[:]), err)
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
	msgs, err := roots(in.Messages)
	if err != nil {
		return err
	}
	return checkVerification(want, in.Pubkeys, []string{in.Signature}, func(keys []*bls.PublicKey, sigs []*bls.Signature) bool {
		return bls.AggregateVerify(keys, msgs, sigs[0])
	})
}

// runFastAggregateVerify runs fast_aggregate_verify and
// eth_fast_aggregate_verify, which share a format.
func runFastAggregateVerify(f func([]*bls.PublicKey, [32]byte, *bls.Signature) bool) func(vector) error {
	return func(v vector) error {
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
		return checkVerification(want, in.Pubkeys, []string{in.Signature}, func(keys []*bls.PublicKey, sigs []*bls.Signature) bool {
			return f(keys, msg, sigs[0])
		})
	}
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
	msgs, err := roots(in.Messages)
	if err != nil {
		return err
	}
	return checkVerification(want, in.Pubkeys, in.Signatures, func(keys []*bls.PublicKey, sigs []*bls.Signature) bool {
		return bls.BatchVerify(keys, msgs, sigs)
	})
}

// checkDecode compares a deserialisation's outcome with the vector's.
func checkDecode(want bool, err error) error {
	if (err == nil) != want {
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
	return checkDecode(want, bls.CheckG1Encoding(b))
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
