// Package yamlfile reads the YAML files operators write (rampart-signer's
// and rampart-vc's configurations, cluster.yaml) one way: size-limited,
// strict (unknown fields refused, exactly one document), so that a typo is
// an error naming the line rather than a silently ignored setting.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Read reads the file at path, refusing one larger than max bytes without
// reading it whole.
func Read(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}

// Load reads the file at path (Read) and parses it with parse; an error
// names what the file is and its path.
func Load[T any](path string, max int, what string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := Read(path, max)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", what, path, err)
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return v, nil
}

// Decode decodes data, which must hold exactly one YAML document, into v:
// fields v does not have are refused, as is an empty input.
func Decode(data []byte, v any) error {
	// The tree first: unknown fields are named by YAML path with the
	// nearest valid one, and each line's path is known for type errors.
	w := &walker{lines: map[int]string{}}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err == nil {
		w.walk(&root, reflect.TypeOf(v), "")
		if len(w.unknown) > 0 {
			errs := make([]error, len(w.unknown))
			for i, u := range w.unknown {
				errs[i] = u
			}
			return errors.Join(errs...)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty: no YAML document")
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return w.rewriteTypeError(te)
		}
		return err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

// Selector is the scalar "all" or a list of strings (accounts, request
// types).
type Selector struct {
	All  bool
	List []string
}

// UnmarshalYAML accepts the scalar "all" or a sequence of strings.
func (s *Selector) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "all" {
			return fmt.Errorf("line %d: want \"all\" or a list, got %q", n.Line, n.Value)
		}
		*s = Selector{All: true}
		return nil
	case yaml.SequenceNode:
		*s = Selector{}
		return n.Decode(&s.List)
	}
	return fmt.Errorf("line %d: want \"all\" or a list", n.Line)
}

// MarshalYAML writes "all" or the list.
func (s Selector) MarshalYAML() (any, error) {
	if s.All {
		return "all", nil
	}
	return s.List, nil
}

// Parse refuses data larger than max bytes, decodes it (Decode) over
// defaults and validates the result: a configuration file's Parse.
func Parse[T any, PT interface {
	*T
	Validate() error
}](data []byte, max int, defaults T) (*T, error) {
	if len(data) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	cfg := defaults
	if err := Decode(data, &cfg); err != nil {
		return nil, err
	}
	if err := PT(&cfg).Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}
