package yamlfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
