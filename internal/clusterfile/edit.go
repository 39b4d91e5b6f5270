package clusterfile

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/internal/atomicfile"
	"github.com/rampart-signer/rampart/internal/yamlfile"
)

// AddAccounts adds keys missing from the accounts list of the cluster file
// at path, editing the file's YAML tree so that the operator's comments,
// order and every other field stay as written. The result is checked
// (Parse) before it replaces the file, atomically (a synced temporary file
// renamed over it, mode kept). It returns how many keys were added.
func AddAccounts(path string, keys []string) (int, error) {
	data, err := yamlfile.Read(path, MaxSize)
	if err != nil {
		return 0, fmt.Errorf("cluster file %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("cluster file %s: %w: %v", path, ErrInvalid, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return 0, fmt.Errorf("cluster file %s: %w: not a YAML mapping", path, ErrInvalid)
	}
	root := doc.Content[0]
	var seq *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "accounts" {
			seq = root.Content[i+1]
			if seq.Kind == yaml.ScalarNode && (seq.Tag == "!!null" || seq.Value == "") {
				seq.Kind, seq.Tag, seq.Value, seq.Style = yaml.SequenceNode, "!!seq", "", 0
			}
			if seq.Kind != yaml.SequenceNode {
				return 0, fmt.Errorf("cluster file %s: %w: accounts is not a list", path, ErrInvalid)
			}
			break
		}
	}
	if seq == nil {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "accounts", HeadComment: "Validators' composite public keys (added by rampartctl dkg, import and devnet)."},
			seq)
	}
	have := make(map[string]bool, len(seq.Content)+len(keys))
	for _, n := range seq.Content {
		have[strings.ToLower(n.Value)] = true
	}
	added := 0
	for _, k := range keys {
		if have[strings.ToLower(k)] {
			continue
		}
		have[strings.ToLower(k)] = true
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k})
		added++
	}
	if added == 0 {
		return 0, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return 0, err
	}
	if err := enc.Close(); err != nil {
		return 0, err
	}
	if _, err := Parse(buf.Bytes()); err != nil {
		return 0, fmt.Errorf("cluster file %s: with the new accounts: %w", path, err)
	}
	return added, writeAtomic(path, buf.Bytes())
}

// writeAtomic replaces path with data through a synced temporary file in
// its directory, keeping its mode.
func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return atomicfile.Write(path, data, mode)
}
