package yamlfile

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-signer/rampart/internal/suggest"
)

// This file turns the YAML decoder's errors, which name Go types ("field
// operation not found in type appliance.ListenConfig", "cannot unmarshal
// !!str `ten` into time.Duration"), into errors naming the field by its
// YAML path (listen.operation), suggesting the nearest valid field, and
// saying what value is wanted.

// FieldError is an unknown field, by YAML path and line, with the valid
// fields at that place.
type FieldError struct {
	Line  int
	Path  string
	Valid []string
}

func (e *FieldError) Error() string {
	name := e.Path[strings.LastIndexAny(e.Path, ".]")+1:]
	msg := fmt.Sprintf("line %d: %s: unknown field", e.Line, e.Path)
	if s := nearest(name, e.Valid); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	if len(e.Valid) > 0 {
		msg += fmt.Sprintf(" (valid here: %s)", strings.Join(e.Valid, ", "))
	}
	return msg
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walker records what a node tree holds against the Go type it decodes
// into: the unknown fields, and the YAML path of each line's value.
type walker struct {
	unknown []*FieldError
	lines   map[int]string
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	if path != "" {
		if _, ok := w.lines[n.Line]; !ok {
			w.lines[n.Line] = path
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		structFields(t, fields)
		valid := make([]string, 0, len(fields))
		for k := range fields {
			valid = append(valid, k)
		}
		sort.Strings(valid)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				w.unknown = append(w.unknown, &FieldError{Line: k.Line, Path: p, Valid: valid})
				continue
			}
			w.lines[k.Line] = p
			w.walk(v, ft, p)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			w.lines[n.Content[i].Line] = p
			w.walk(n.Content[i+1], t.Elem(), p)
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, c := range n.Content {
			w.walk(c, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	}
}

// structFields maps the YAML names of t's fields, inline ones included, to
// their types.
func structFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, out)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nearest is the valid name closest to name, if close enough to be the
// one meant.
func nearest(name string, valid []string) string {
	best, bestD := "", len(name)/2+2
	for _, v := range valid {
		d := suggest.Distance(name, v)
		if strings.HasPrefix(v, name) || strings.HasPrefix(name, v) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

var (
	typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	cannotInto    = regexp.MustCompile("cannot unmarshal !!(\\w+) `([^`]*)` into (\\S+)")
)

// wanted says in words what a Go type wants.
func wanted(goType string) string {
	switch {
	case goType == reflect.TypeFor[time.Duration]().String():
		return "a duration with its unit, such as 10s, 1m30s or 24h"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "uint"):
		return "a whole number, 0 or more"
	case strings.HasPrefix(goType, "int"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	}
	return "a mapping of its fields"
}

// rewriteTypeError names the YAML path of each of a type error's lines
// and what value it wants, in place of Go type names.
func (w *walker) rewriteTypeError(te *yaml.TypeError) error {
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		sub := typeErrorLine.FindStringSubmatch(m)
		if sub == nil {
			msgs = append(msgs, m)
			continue
		}
		line, _ := strconv.Atoi(sub[1])
		rest := sub[2]
		if c := cannotInto.FindStringSubmatch(rest); c != nil {
			rest = fmt.Sprintf("%q is not %s", c[2], wanted(c[3]))
		}
		if p := w.lines[line]; p != "" {
			msgs = append(msgs, fmt.Sprintf("line %d: %s: %s", line, p, rest))
		} else {
			msgs = append(msgs, fmt.Sprintf("line %d: %s", line, rest))
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
