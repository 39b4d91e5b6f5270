package yamlfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-signer/rampart/internal/yamlfile"
)

type doc struct {
	Name  string            `yaml:"name"`
	Types yamlfile.Selector `yaml:"types"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
		want          doc
	}{
		{name: "decodes a list", in: "name: a\ntypes: [X, Y]\n", want: doc{Name: "a", Types: yamlfile.Selector{List: []string{"X", "Y"}}}},
		{name: "decodes all", in: "name: a\ntypes: all\n", want: doc{Name: "a", Types: yamlfile.Selector{All: true}}},
		{name: "refuses an unknown field", in: "name: a\nnmae: b\n", err: "nmae"},
		{name: "refuses a scalar other than all", in: "types: some\n", err: `want "all" or a list`},
		{name: "refuses a map for a selector", in: "types: {a: 1}\n", err: `want "all" or a list`},
		{name: "refuses an empty input", in: "", err: "empty"},
		{name: "refuses a second document", in: "name: a\n---\nname: b\n", err: "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got doc
			err := yamlfile.Decode([]byte(tc.in), &got)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Name != tc.want.Name || got.Types.All != tc.want.Types.All || strings.Join(got.Types.List, ",") != strings.Join(tc.want.Types.List, ",") {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReadRefusesAnOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, 101), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := yamlfile.Read(path, 100); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("error %v; want the size refused", err)
	}
	_, err := yamlfile.Load(path, 100, "config", func(b []byte) (int, error) { return len(b), nil })
	if err == nil || !strings.Contains(err.Error(), "config "+path) {
		t.Fatalf("Load error %v; want it to name the file", err)
	}
}

// FuzzDecodeSelector: no input panics, and a selector that decodes
// encodes back to the same value.
func FuzzDecodeSelector(f *testing.F) {
	f.Add([]byte("types: all\n"))
	f.Add([]byte("types: [A, B]\n"))
	f.Add([]byte("types: {x: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		if yamlfile.Decode(data, &d) != nil {
			return
		}
		out, err := d.Types.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		if d.Types.All != (out == "all") {
			t.Fatalf("selector %+v encodes as %v", d.Types, out)
		}
	})
}

type checked struct {
	Name string `yaml:"name"`
	Port int    `yaml:"port"`
}

func (c *checked) Validate() error {
	if c.Port <= 0 {
		return errors.New("port: required")
	}
	return nil
}

func TestParseDefaultsDecodesAndValidates(t *testing.T) {
	defaults := checked{Name: "default", Port: 1}
	for _, tc := range []struct {
		name, in, err string
		want          checked
	}{
		{name: "keeps the defaults of fields left out", in: "port: 2\n", want: checked{Name: "default", Port: 2}},
		{name: "refuses an unknown field", in: "prot: 2\n", err: "prot"},
		{name: "refuses what Validate refuses", in: "port: 0\n", err: "port: required"},
		{name: "refuses an oversized file", in: "name: x\n" + strings.Repeat("#", 64), err: "larger than 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := yamlfile.Parse([]byte(tc.in), 64, defaults)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || *got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

type listen struct {
	Participant string `yaml:"participant"`
	Operations  string `yaml:"operations"`
}

type config struct {
	Listen  listen            `yaml:"listen"`
	Rules   []doc             `yaml:"rules"`
	Timeout durationField     `yaml:"timeout"`
	Count   uint64            `yaml:"count"`
	Extra   map[string]listen `yaml:"extra"`
}

type durationField = time.Duration

// TestDecodeNamesYAMLPaths is issue 17's "typos print Go type names
// (field operation not found in type appliance.ListenConfig) where the
// example promises YAML paths": an unknown field is named by its YAML
// path and line, with the nearest valid field; a wrong value by its path
// and what is wanted, never a Go type.
func TestDecodeNamesYAMLPaths(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"a typo in a section", "listen:\n  operation: 127.0.0.1:9200\n", []string{"line 2: listen.operation: unknown field; did you mean operations?", "valid here: operations, participant"}},
		{"a typo at the top", "lisen:\n  operations: x\n", []string{"line 1: lisen: unknown field; did you mean listen?"}},
		{"a typo in a list item", "rules:\n  - name: a\n  - nmae: b\n", []string{"line 3: rules[1].nmae: unknown field; did you mean name?"}},
		{"a typo under a map", "extra:\n  a:\n    participants: x\n", []string{"extra.a.participants: unknown field; did you mean participant?"}},
		{"every unknown field", "lisen: 1\ncont: 2\n", []string{"lisen", "cont: unknown field; did you mean count?"}},
		{"no suggestion when nothing is near", "listen:\n  zzzzzzzzzz: 1\n", []string{"listen.zzzzzzzzzz: unknown field (valid here"}},
		{"a duration without unit", "timeout: 10\n", []string{"line 1: timeout: \"10\" is not a duration with its unit, such as 10s"}},
		{"a word for a number", "count: ten\n", []string{"line 1: count: \"ten\" is not a whole number, 0 or more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			err := yamlfile.Decode([]byte(tc.in), &c)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, goName := range []string{"yamlfile_test.", "time.Duration", "uint64", "not found in type"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("error %q names a Go type (%s)", err, goName)
				}
			}
		})
	}
}
