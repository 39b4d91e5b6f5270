package bls_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoBLSVectors is the repository's copy of the BLS vectors.
var repoBLSVectors = filepath.Join("..", "..", "testdata", "bls")

// copyTree copies the directory src into a fresh temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// alterOutput changes a vector's expected output to another value of the
// same kind: a boolean is negated, an encoding has one digit changed, a
// null becomes an encoding, a point has one coordinate digit changed.
func alterOutput(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	flip := func(s string) string {
		last := s[len(s)-1]
		if last == '0' {
			return s[:len(s)-1] + "1"
		}
		return s[:len(s)-1] + "0"
	}
	switch out := v["output"].(type) {
	case bool:
		v["output"] = !out
	case string:
		v["output"] = flip(out)
	case nil:
		v["output"] = "0x" + strings.Repeat("ab", 96)
	case map[string]any:
		out["x"] = flip(out["x"].(string))
	default:
		t.Fatalf("%s: output of unknown kind %T", path, out)
	}
	if raw, err = json.Marshal(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every suite's runner notices a changed expectation. In one copy of the
// vectors every vector gets another expected output, and the run must
// report each of them exactly once; in another, one vector is altered and
// the run must report that one alone.
func TestBLSVectorRunnerFailsOnAlteredVector(t *testing.T) {
	var all []string
	err := filepath.WalkDir(filepath.Join(repoBLSVectors, "json"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(repoBLSVectors, path)
			all = append(all, rel)
		}
		return err
	})
	if err != nil || len(all) == 0 {
		t.Fatalf("no vectors (%v)", err)
	}
	dir := copyTree(t, repoBLSVectors)
	for _, rel := range all {
		alterOutput(t, filepath.Join(dir, rel))
	}
	_, failures, err := runBLSVectors([]string{dir})
	if err != nil {
		t.Fatalf("the run stopped: %v", err)
	}
	reported := map[string]int{}
	for _, f := range failures {
		name, _, _ := strings.Cut(f, ": ")
		reported[name]++
	}
	for _, rel := range all {
		if reported[rel] != 1 {
			t.Errorf("%s altered: reported %d times", rel, reported[rel])
		}
	}
	if len(failures) != len(all) {
		t.Errorf("%d failures for %d altered vectors", len(failures), len(all))
	}

	one := filepath.Join("json", "aggregate", "aggregate_infinity_signature.json")
	dir = copyTree(t, repoBLSVectors)
	alterOutput(t, filepath.Join(dir, one))
	if _, failures, err = runBLSVectors([]string{dir}); err != nil || len(failures) != 1 || !strings.HasPrefix(failures[0], one+": ") {
		t.Fatalf("%s altered: failures %q, %v; want that vector alone", one, failures, err)
	}
}

// A file no handler claims stops the run: a vector set cannot be skipped by
// misnaming its folder, and unknown files are not ignored.
func TestBLSVectorRunnerRefusesWhatItCannotDispatch(t *testing.T) {
	valid := filepath.Join(repoBLSVectors, "json", "verify", "verify_valid_case_195246ee3bd3b6ec.json")
	raw, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		path string
		data []byte
	}{
		"refuses a vector in an unknown suite":        {"verify_twice/case.json", raw},
		"refuses a vector outside any suite folder":   {"case.json", raw},
		"refuses a file of unknown kind in a suite":   {"verify/case.ssz_snappy", []byte{1, 2}},
		"refuses a vector that does not parse":        {"verify/case.json", []byte("{")},
		"refuses a vector with an unknown field":      {"verify/case.json", []byte(`{"input": {}, "output": true, "note": 1}`)},
		"refuses a vector without an output":          {"verify/case.json", []byte(`{"input": {}}`)},
		"refuses a YAML vector that does not parse":   {"verify/bls/case/data.yaml", []byte("input: [")},
		"refuses a YAML vector with an unknown field": {"sign/small/case/data.yml", []byte("input: {}\nextra: 1\noutput: null\n")},
		"refuses a Git LFS pointer":                   {"verify/bls/case/data.yaml", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:8ca6\nsize 324\n")},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := runBLSVectors([]string{dir}); err == nil {
				t.Fatal("the run went on")
			}
		})
	}
	t.Run("refuses a missing directory", func(t *testing.T) {
		if _, _, err := runBLSVectors([]string{filepath.Join(t.TempDir(), "none")}); err == nil {
			t.Fatal("the run went on")
		}
	})
}

// The consensus-spec-tests layout (<handler>/<suite>/<case>/data.yaml, the
// Altair suites in their own tree) runs through the same handlers. The
// aggregate and eth_aggregate_pubkeys cases are upstream files verbatim
// (ethereum/consensus-spec-tests, tests/general/*/bls); the
// eth_fast_aggregate_verify cases are the upstream generator's cases, with
// inputs taken from the bls12-381-tests copy and outputs as the
// specification's eth_fast_aggregate_verify defines them.
func TestBLSVectorRunnerReadsTheConsensusSpecLayout(t *testing.T) {
	inf96hex := "0xc0" + strings.Repeat("00", 95)
	fav := func(name string) map[string]any {
		raw, err := os.ReadFile(filepath.Join(repoBLSVectors, "json", "fast_aggregate_verify", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	valid := fav("fast_aggregate_verify_valid_3d7576f3c0e3570a")
	infPK := fav("fast_aggregate_verify_infinity_pubkey")
	files := map[string]any{
		"phase0/bls/aggregate/bls/aggregate_infinity_signature/data.yaml": "input:\n- '" + inf96hex + "'\noutput: '" + inf96hex + "'\n",
		"altair/bls/eth_aggregate_pubkeys/bls/eth_aggregate_pubkeys_valid_pubkeys/data.yaml": "input:\n" +
			"- '0xa491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20fd6e10c1b77654d067c0618f6e5a7f79a'\n" +
			"- '0xb301803f8b5ac4a1133581fc676dfedc60d891dd5fa99028805e5ea5b08d3491af75d0707adab3b70c6a6a580217bf81'\n" +
			"- '0xb53d21a4cfd562c469cc81514d4ce5a6b577d8403d32a394dc265dd190b47fa9f829fdd7963afdf972e5e77854051f6f'\n" +
			"output: '0xa095608b35495ca05002b7b5966729dd1ed096568cf2ff24f3318468e0f3495361414a78ebc09574489bc79e48fca969'\n",
		"altair/bls/eth_aggregate_pubkeys/bls/eth_aggregate_pubkeys_x40_pubkey/data.yaml":              "input:\n- '0x400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000'\noutput: null\n",
		"altair/bls/eth_aggregate_pubkeys/bls/eth_aggregate_pubkeys_empty_list/data.yaml":              "input: []\noutput: null\n",
		"altair/bls/eth_aggregate_pubkeys/bls/eth_aggregate_pubkeys_infinity_pubkey/data.yaml":         "input:\n- '0xc0" + strings.Repeat("00", 47) + "'\noutput: null\n",
		"altair/bls/eth_aggregate_pubkeys/bls/eth_aggregate_pubkeys_zero_pubkey/data.yaml":             "input:\n- '0x" + strings.Repeat("00", 48) + "'\noutput: null\n",
		"altair/bls/eth_fast_aggregate_verify/bls/eth_fast_aggregate_verify_valid_0/data.yaml":         valid,
		"altair/bls/eth_fast_aggregate_verify/bls/eth_fast_aggregate_verify_infinity_pubkey/data.yaml": infPK,
		"altair/bls/eth_fast_aggregate_verify/bls/eth_fast_aggregate_verify_na_pubkeys_and_infinity_signature/data.yaml": map[string]any{
			"input": map[string]any{"pubkeys": []string{}, "message": "0x" + strings.Repeat("ab", 32), "signature": inf96hex}, "output": true},
		"altair/bls/eth_fast_aggregate_verify/bls/eth_fast_aggregate_verify_na_pubkeys_and_zero_signature/data.yaml": map[string]any{
			"input": map[string]any{"pubkeys": []string{}, "message": "0x" + strings.Repeat("ab", 32), "signature": "0x" + strings.Repeat("00", 96)}, "output": nil},
	}
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var data []byte
		switch c := content.(type) {
		case string:
			data = []byte(c)
		default:
			// JSON is YAML: write the generated cases as JSON text.
			var err error
			if data, err = json.Marshal(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(blsVectorsEnv, filepath.Join(root, "phase0", "bls")+string(os.PathListSeparator)+filepath.Join(root, "altair", "bls"))
	counts, failures, err := runBLSVectors(blsVectorDirs())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
	want := map[string]int{"aggregate": 1, "eth_aggregate_pubkeys": 5, "eth_fast_aggregate_verify": 4}
	for h, n := range want {
		if counts[h] != n {
			t.Errorf("%s: ran %d, want %d", h, counts[h], n)
		}
	}
}

// The repository's copy is the ethereum/bls12-381-tests release its
// SOURCE.md names: every file the release's SHA256SUMS lists is present with
// that digest, and no other vector is.
func TestVendoredBLSVectorsAreTheRelease(t *testing.T) {
	f, err := os.Open(filepath.Join(repoBLSVectors, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		name = filepath.Clean(name)
		listed[name] = true
		data, err := os.ReadFile(filepath.Join(repoBLSVectors, "json", name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, the release lists %s", name, got, sum)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(repoBLSVectors, "json"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(repoBLSVectors, "json"), path)
		if !listed[rel] {
			t.Errorf("%s: not in the release's SHA256SUMS", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 98 {
		t.Errorf("SHA256SUMS lists %d files, the release has 98", len(listed))
	}
}
