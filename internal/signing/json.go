package signing

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxRequestSize bounds a request body. The largest legitimate request, a
// phase0 or altair block with every list full, is well below it.
const MaxRequestSize = 4 << 20

// maxDepth bounds JSON nesting; the deepest request nests about ten levels.
const maxDepth = 32

// jkind is the kind of a JSON value.
type jkind uint8

const (
	jString jkind = iota + 1
	jNumber
	jBool
	jNull
	jObject
	jArray
)

func (k jkind) String() string {
	return [...]string{"?", "a string", "a number", "a boolean", "null", "an object", "an array"}[k]
}

// jvalue is a parsed JSON value. Objects keep their members in order and
// never hold a key twice.
type jvalue struct {
	kind    jkind
	str     string
	members []jmember
	elems   []*jvalue
	// start and end locate a member's value in the input, from the end of
	// its key to the end of the value (see memberBytes).
	start, end int64
}

type jmember struct {
	key string
	val *jvalue
}

// parseJSON parses one JSON value, refusing duplicate keys, excessive
// nesting and trailing data. Duplicate keys are refused because parsers
// disagree on which copy wins, and a coordinator and its participants must
// read a request the same way.
func parseJSON(data []byte) (*jvalue, error) {
	if len(data) > MaxRequestSize {
		return nil, &FieldError{Reason: fmt.Sprintf("request has %d bytes, more than %d", len(data), MaxRequestSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Reason: "invalid JSON: data after the request object"}
	}
	return v, nil
}

// parseObject parses a request body, which must be a JSON object.
func parseObject(data []byte) (*object, error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return v.object("")
}

func parseValue(dec *json.Decoder, path string, depth int) (*jvalue, error) {
	if depth > maxDepth {
		return nil, &FieldError{Field: path, Reason: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, &FieldError{Field: path, Reason: "invalid JSON: " + jsonReason(err)}
	}
	switch t := tok.(type) {
	case string:
		return &jvalue{kind: jString, str: t}, nil
	case json.Number:
		return &jvalue{kind: jNumber, str: t.String()}, nil
	case bool:
		return &jvalue{kind: jBool}, nil
	case nil:
		return &jvalue{kind: jNull}, nil
	case json.Delim:
		if t == '[' {
			v := &jvalue{kind: jArray}
			for dec.More() {
				e, err := parseValue(dec, fmt.Sprintf("%s[%d]", path, len(v.elems)), depth+1)
				if err != nil {
					return nil, err
				}
				v.elems = append(v.elems, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, &FieldError{Field: path, Reason: "invalid JSON: " + jsonReason(err)}
			}
			return v, nil
		}
		v := &jvalue{kind: jObject}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, &FieldError{Field: path, Reason: "invalid JSON: " + jsonReason(err)}
			}
			key, _ := kt.(string)
			child := joinPath(path, key)
			if seen[key] {
				return nil, &FieldError{Field: child, Reason: "appears twice"}
			}
			seen[key] = true
			start := dec.InputOffset()
			e, err := parseValue(dec, child, depth+1)
			if err != nil {
				return nil, err
			}
			e.start, e.end = start, dec.InputOffset()
			v.members = append(v.members, jmember{key: key, val: e})
		}
		if _, err := dec.Token(); err != nil {
			return nil, &FieldError{Field: path, Reason: "invalid JSON: " + jsonReason(err)}
		}
		return v, nil
	}
	return nil, &FieldError{Field: path, Reason: "invalid JSON"}
}

// memberBytes returns the bytes of the member value v of an object parsed
// from data, exactly as they appear there.
func memberBytes(data []byte, v *jvalue) []byte {
	return bytes.TrimLeft(data[v.start:v.end], " \t\r\n:")
}

// jsonReason shortens encoding/json's messages, which never echo secrets
// but can quote long inputs.
func jsonReason(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object is a JSON object being decoded, with the path used in errors.
type object struct {
	path    string
	members []jmember
}

func (v *jvalue) object(path string) (*object, error) {
	if v.kind != jObject {
		return nil, &FieldError{Field: path, Reason: "want an object, got " + v.kind.String()}
	}
	return &object{path: path, members: v.members}, nil
}

func (o *object) field(key string) string { return joinPath(o.path, key) }

func (o *object) errorf(key, format string, a ...any) error {
	return &FieldError{Field: o.field(key), Reason: fmt.Sprintf(format, a...)}
}

// lookup returns the member key, treating null as absent.
func (o *object) lookup(key string) (*jvalue, bool) {
	for _, m := range o.members {
		if m.key == key {
			return m.val, m.val.kind != jNull
		}
	}
	return nil, false
}

func (o *object) has(key string) bool {
	_, ok := o.lookup(key)
	return ok
}

func (o *object) require(key string) (*jvalue, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, o.errorf(key, "missing")
	}
	return v, nil
}

// only refuses members other than keys: the object is an SSZ container (or
// a wrapper of one) whose JSON form is fixed, so an extra member means the
// sender's object is not the one that would be signed.
func (o *object) only(keys ...string) error {
next:
	for _, m := range o.members {
		for _, k := range keys {
			if m.key == k {
				continue next
			}
		}
		return o.errorf(m.key, "unknown field")
	}
	return nil
}

func (o *object) obj(key string) (*object, error) {
	v, err := o.require(key)
	if err != nil {
		return nil, err
	}
	return v.object(o.field(key))
}

func (o *object) str(key string) (string, error) {
	v, err := o.require(key)
	if err != nil {
		return "", err
	}
	if v.kind != jString {
		return "", o.errorf(key, "want a string, got %s", v.kind)
	}
	return v.str, nil
}

// uint64 reads a decimal string, as the API encodes every uint64.
func (o *object) uint64(key string) (uint64, error) {
	v, err := o.require(key)
	if err != nil {
		return 0, err
	}
	u, reason := parseUint64(v)
	if reason != "" {
		return 0, o.errorf(key, "%s", reason)
	}
	return u, nil
}

func parseUint64(v *jvalue) (uint64, string) {
	if v.kind != jString {
		return 0, "want a decimal string, got " + v.kind.String()
	}
	s := v.str
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Sprintf("%q is not a decimal number", clip(s))
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("%q does not fit 64 bits", clip(s))
	}
	return u, ""
}

// hexBytes reads 0x-prefixed hex of exactly n bytes into dst.
func (o *object) hexBytes(key string, dst []byte) error {
	v, err := o.require(key)
	if err != nil {
		return err
	}
	if reason := decodeHex(v, dst); reason != "" {
		return o.errorf(key, "%s", reason)
	}
	return nil
}

func decodeHex(v *jvalue, dst []byte) string {
	b, reason := hexValue(v)
	if reason != "" {
		return reason
	}
	if len(b) != len(dst) {
		return fmt.Sprintf("has %d bytes, want %d", len(b), len(dst))
	}
	copy(dst, b)
	return ""
}

// hexVar reads 0x-prefixed hex of any length up to max bytes.
func (o *object) hexVar(key string, max int) ([]byte, error) {
	v, err := o.require(key)
	if err != nil {
		return nil, err
	}
	b, reason := hexValue(v)
	if reason == "" && len(b) > max {
		reason = fmt.Sprintf("has %d bytes, more than %d", len(b), max)
	}
	if reason != "" {
		return nil, o.errorf(key, "%s", reason)
	}
	return b, nil
}

func hexValue(v *jvalue) ([]byte, string) {
	if v.kind != jString {
		return nil, "want a 0x-prefixed hex string, got " + v.kind.String()
	}
	if !strings.HasPrefix(v.str, "0x") {
		return nil, fmt.Sprintf("%q lacks the 0x prefix", clip(v.str))
	}
	b, err := hex.DecodeString(v.str[2:])
	if err != nil {
		return nil, fmt.Sprintf("%q is not hex", clip(v.str))
	}
	return b, ""
}

// array reads an array of at most max elements.
func (o *object) array(key string, max int) ([]*jvalue, error) {
	v, err := o.require(key)
	if err != nil {
		return nil, err
	}
	if v.kind != jArray {
		return nil, o.errorf(key, "want an array, got %s", v.kind)
	}
	if len(v.elems) > max {
		return nil, o.errorf(key, "has %d elements, more than %d", len(v.elems), max)
	}
	return v.elems, nil
}

// clip shortens a quoted input in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
