package keystore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// object decodes a JSON object whose keys must be exactly among required
// and optional (case-sensitive, each at most once, every required one
// present), returning the raw value of each key. encoding/json alone would
// match keys case-insensitively and let a duplicate key silently win.
func object(raw []byte, where string, required, optional []string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, where)
	}
	allowed := map[string]bool{}
	for _, k := range required {
		allowed[k] = true
	}
	for _, k := range optional {
		allowed[k] = true
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, where, err)
		}
		key, _ := tok.(string)
		if !allowed[key] {
			return nil, fmt.Errorf("%w: %s has unknown field %q", ErrMalformed, where, key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%w: %s has field %q twice", ErrMalformed, where, key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %v", ErrMalformed, where, key, err)
		}
		out[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("%w: %s is not a complete JSON object", ErrMalformed, where)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: %s has data after the object", ErrMalformed, where)
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("%w: %s lacks field %q", ErrMalformed, where, k)
		}
	}
	return out, nil
}

// stringField decodes a JSON string (not null, not a number).
func stringField(raw json.RawMessage, field string) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, field)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return s, nil
}

// intField decodes a canonical non-negative JSON integer: digits only, no
// sign, fraction, exponent or leading zero.
func intField(raw json.RawMessage, field string) (int, error) {
	s := string(raw)
	if s == "" || (len(s) > 1 && s[0] == '0') || len(s) > 10 {
		return 0, fmt.Errorf("%w: %s is not a canonical integer", ErrMalformed, field)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %s is not a canonical integer", ErrMalformed, field)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return n, nil
}
