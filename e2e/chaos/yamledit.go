package chaos

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlDoc is a configuration file edited as plain data, so the harness
// depends on the names of the few fields it changes and not on the
// programs' configuration types.
type yamlDoc map[string]any

func readYAML(path string) (yamlDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// A plain map, so that nested maps decode as map[string]any too (into
	// a named map type they would take that type).
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("chaos: %s: %w", path, err)
	}
	return yamlDoc(m), nil
}

func (d yamlDoc) write(path, header string) error {
	b, err := yaml.Marshal(map[string]any(d))
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(header), b...), 0o600)
}

// get returns the value at a dotted path ("listen.participant").
func (d yamlDoc) get(path string) any {
	var cur any = map[string]any(d)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// str returns the string at path, "" if it is not one.
func (d yamlDoc) str(path string) string {
	s, _ := d.get(path).(string)
	return s
}

// set puts v at a dotted path, making the maps on the way; a nil v
// deletes the key.
func (d yamlDoc) set(path string, v any) {
	keys := strings.Split(path, ".")
	m := map[string]any(d)
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	last := keys[len(keys)-1]
	if v == nil {
		delete(m, last)
		return
	}
	m[last] = v
}

// list returns the list at path as maps.
func (d yamlDoc) list(path string) []map[string]any {
	raw, _ := d.get(path).([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, e := range raw {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// uintOf reads a YAML number.
func uintOf(v any) uint64 {
	switch n := v.(type) {
	case int:
		return uint64(n)
	case uint64:
		return n
	case int64:
		return uint64(n)
	case float64:
		return uint64(n)
	}
	return 0
}
