// Package specexamples reads the request examples of the Remote Signing API
// specification, from the copy embedded here (see spec/PROVENANCE.md) or
// from another copy named by $REMOTE_SIGNING_API_DIR, for the tests of
// package signing and for `rampartctl demo`. It also records what is known to be wrong with some
// examples, so that both treat them the same way.
package specexamples

import (
	"bytes"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"unicode"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	yaml "go.yaml.in/yaml/v3"
)

//go:embed spec
var embedded embed.FS

// Embedded returns the embedded copy of the specification's example files,
// rooted like the specification directory.
func Embedded() fs.FS {
	sub, err := fs.Sub(embedded, "spec")
	if err != nil {
		panic("specexamples: embedded copy missing: " + err.Error())
	}
	return sub
}

// DirEnv names the environment variable that points the tests at another
// copy of the specification (a checkout of ethereum/remote-signing-api).
const DirEnv = "REMOTE_SIGNING_API_DIR"

// FS returns the specification the tests read: the directory named by
// $REMOTE_SIGNING_API_DIR when set, else the embedded copy, so that a clone
// of the repository tests itself.
func FS() fs.FS {
	if dir := os.Getenv(DirEnv); dir != "" {
		return os.DirFS(dir)
	}
	return Embedded()
}

// Files are the specification files that hold request examples, relative to
// the specification directory.
func Files() []string {
	return []string{
		"signing/paths/sign.yaml", "signing/paths/sign_batch.yaml",
		"distributed/paths/sign.yaml", "distributed/paths/sign_batch.yaml",
	}
}

// Example is one request example.
type Example struct {
	// Name is "<file>" for a file's single example, else
	// "<file>: <example name>".
	Name string
	// Batch is true for BatchSigningRequest examples.
	Batch bool
	// JSON is the example as JSON, keys sorted.
	JSON []byte
	// SigningRoot is the root the example publishes.
	SigningRoot phase0.Root
	// Preset is the preset the example's objects are sized for: "minimal"
	// for the two whose sync committee bit fields have minimal sizes
	// (SYNC_COMMITTEE_SIZE 32), else "mainnet".
	Preset string
	// CamelCase is true for examples that spell fields in camelCase
	// (fork_info.fork.previousVersion, the deprecated BLOCK's fields) and a
	// uint64 as a JSON number, against the schema. Strict decoding refuses
	// them; [SchemaSpelling] gives the schema's spelling, for which their
	// roots are right.
	CamelCase bool
	// WrongRoot is true for examples whose published signing root is not
	// the root of their content (proven in package signing's tests by an
	// independent SSZ computation).
	WrongRoot bool
}

// quirks returns what is known about the example called name: the preset
// it is sized for, whether it is spelled in camelCase, whether its root is
// wrong.
func quirks(name string) (preset string, camelCase, wrongRoot bool) {
	switch name {
	case "signing/paths/sign.yaml: BLOCK_V2 (ALTAIR)",
		"signing/paths/sign.yaml: SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF":
		return "minimal", false, false
	case "signing/paths/sign.yaml: AGGREGATION_SLOT",
		"signing/paths/sign.yaml: BLOCK (DEPRECATED)":
		return "mainnet", true, false
	case "signing/paths/sign.yaml: AGGREGATE_AND_PROOF_V2 (ELECTRA)",
		"signing/paths/sign.yaml: AGGREGATE_AND_PROOF_V2 (FULU)":
		return "mainnet", false, true
	}
	return "mainnet", false, false
}

// Load returns the request examples of the specification directory fsys,
// sorted by name.
func Load(fsys fs.FS) ([]Example, error) {
	var out []Example
	for _, file := range Files() {
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Example  map[string]any `yaml:"example"`
						Examples map[string]struct {
							Value map[string]any `yaml:"value"`
						} `yaml:"examples"`
					} `yaml:"content"`
				} `yaml:"requestBody"`
			} `yaml:"post"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		content := doc.Post.RequestBody.Content["application/json"]
		values := map[string]map[string]any{}
		if content.Example != nil {
			values[file] = content.Example
		}
		for name, ex := range content.Examples {
			values[file+": "+name] = ex.Value
		}
		for name, value := range values {
			e, err := newExample(name, path.Base(file) == "sign_batch.yaml", value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func newExample(name string, batch bool, value map[string]any) (Example, error) {
	e := Example{Name: name, Batch: batch}
	e.Preset, e.CamelCase, e.WrongRoot = quirks(name)
	var err error
	if e.JSON, err = json.Marshal(value); err != nil {
		return e, err
	}
	req := value
	if batch {
		req, _ = value["signing_request"].(map[string]any)
	}
	s, _ := req["signingRoot"].(string)
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != len(e.SigningRoot) {
		return e, fmt.Errorf("signingRoot %q is not a root", s)
	}
	copy(e.SigningRoot[:], b)
	return e, nil
}

// SchemaSpelling rewrites a JSON request the way the schema spells it:
// camelCase keys in snake_case (except signingRoot, which the schema spells
// so) and JSON numbers as decimal strings.
func SchemaSpelling(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				if k != "signingRoot" {
					k = snakeCase(k)
				}
				out[k] = fix(e)
			}
			return out
		case []any:
			for i := range x {
				x[i] = fix(x[i])
			}
			return x
		case json.Number:
			return x.String()
		}
		return v
	}
	return json.Marshal(fix(v))
}

func snakeCase(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
