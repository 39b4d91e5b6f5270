package hsm

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// URI is a parsed RFC 7512 PKCS#11 URI, for example
//
//	pkcs11:token=signer-1;object=rampart-seal?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/hsm.pin
//
// The path part selects a token (token, manufacturer, model, serial) and an
// object in it (object, id, type); the query part says which module to load
// (module-path) and where the user PIN is (pin-source). pin-value is refused:
// a PIN never lives in configuration text.
//
// String and LogValue give only the token and object attributes, so a URI
// can be logged or put in an error; Encode gives the full text.
type URI struct {
	// Token is the token label (CKA token info label), at most 32 bytes.
	Token string
	// Manufacturer, Model and Serial, when set, must also match the
	// token's information. Serial tells tokens with the same label apart.
	Manufacturer string
	Model        string
	Serial       string
	// Object is the object label (CKA_LABEL).
	Object string
	// ID is the object id (CKA_ID).
	ID []byte
	// Type is the object class: "secret-key", "private", "public", "cert"
	// or "data"; empty when not given.
	Type string
	// ModulePath is the absolute path of the PKCS#11 module.
	ModulePath string
	// PINSource is where the user PIN is read from: an absolute file path
	// ("/etc/rampart/hsm.pin" or "file:/etc/rampart/hsm.pin") or a systemd
	// credential ("credential:NAME", read from $CREDENTIALS_DIRECTORY/NAME).
	PINSource string
}

const uriScheme = "pkcs11:"

// Limits on attribute values. Token information fields are fixed-size
// blank-padded arrays in PKCS#11 (label 32, manufacturer 32, model 16,
// serial 16 bytes); object labels and ids have no fixed size, so bound them
// generously to keep hostile input small.
const (
	maxTokenLabel   = 32
	maxManufacturer = 32
	maxModel        = 16
	maxSerial       = 16
	maxObjectLabel  = 128
	maxObjectID     = 64
	maxPathValue    = 4096
	maxURILength    = 16384
)

var objectTypes = map[string]bool{"secret-key": true, "private": true, "public": true, "cert": true, "data": true}

// ParseURI parses a pkcs11: URI strictly: every attribute at most once,
// only the attributes listed on [URI], values percent-encoded where RFC 7512
// requires it. Errors wrap [ErrInvalidURI] and name the attribute at fault,
// never echoing values (the text may contain a PIN by mistake).
func ParseURI(s string) (*URI, error) {
	if len(s) > maxURILength {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidURI, len(s), maxURILength)
	}
	if len(s) < len(uriScheme) || !strings.EqualFold(s[:len(uriScheme)], uriScheme) {
		return nil, fmt.Errorf("%w: does not start with %q", ErrInvalidURI, uriScheme)
	}
	rest := s[len(uriScheme):]
	path, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery && query == "" {
		return nil, fmt.Errorf("%w: empty query after '?'", ErrInvalidURI)
	}
	u := &URI{}
	seen := map[string]bool{}
	if path != "" {
		for attr := range strings.SplitSeq(path, ";") {
			name, value, err := splitAttribute(attr, "path", seen)
			if err != nil {
				return nil, err
			}
			v, err := unescape(value, name, isPathChar)
			if err != nil {
				return nil, err
			}
			if err := u.setPath(name, v); err != nil {
				return nil, err
			}
		}
	}
	if hasQuery {
		for attr := range strings.SplitSeq(query, "&") {
			name, value, err := splitAttribute(attr, "query", seen)
			if err != nil {
				return nil, err
			}
			v, err := unescape(value, name, isQueryChar)
			if err != nil {
				return nil, err
			}
			if err := u.setQuery(name, v); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

func splitAttribute(attr, part string, seen map[string]bool) (name, value string, err error) {
	name, value, ok := strings.Cut(attr, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%w: %s attribute without name=value form", ErrInvalidURI, part)
	}
	if !isAttributeName(name) {
		return "", "", fmt.Errorf("%w: malformed %s attribute name", ErrInvalidURI, part)
	}
	if seen[name] {
		return "", "", fmt.Errorf("%w: attribute %q appears twice", ErrInvalidURI, name)
	}
	seen[name] = true
	if value == "" {
		return "", "", fmt.Errorf("%w: attribute %q is empty", ErrInvalidURI, name)
	}
	return name, value, nil
}

func (u *URI) setPath(name string, v []byte) error {
	switch name {
	case "token":
		return setText(&u.Token, v, name, maxTokenLabel)
	case "manufacturer":
		return setText(&u.Manufacturer, v, name, maxManufacturer)
	case "model":
		return setText(&u.Model, v, name, maxModel)
	case "serial":
		return setText(&u.Serial, v, name, maxSerial)
	case "object":
		return setText(&u.Object, v, name, maxObjectLabel)
	case "id":
		if len(v) > maxObjectID {
			return fmt.Errorf("%w: id has %d bytes, at most %d", ErrInvalidURI, len(v), maxObjectID)
		}
		u.ID = v
		return nil
	case "type":
		if !objectTypes[string(v)] {
			return fmt.Errorf("%w: type must be secret-key, private, public, cert or data", ErrInvalidURI)
		}
		u.Type = string(v)
		return nil
	case "pin-source", "pin-value", "module-path", "module-name":
		return fmt.Errorf("%w: %q belongs in the query part, after '?'", ErrInvalidURI, name)
	}
	return fmt.Errorf("%w: unsupported path attribute %q (supported: token, manufacturer, model, serial, object, id, type)", ErrInvalidURI, name)
}

func (u *URI) setQuery(name string, v []byte) error {
	switch name {
	case "module-path":
		if err := checkModulePath(string(v)); err != nil {
			return err
		}
		u.ModulePath = string(v)
		return nil
	case "pin-source":
		if _, err := parsePINSource(string(v)); err != nil {
			return err
		}
		u.PINSource = string(v)
		return nil
	case "pin-value":
		return fmt.Errorf("%w: pin-value is refused: a PIN must not be written in configuration; use pin-source", ErrInvalidURI)
	case "module-name":
		return fmt.Errorf("%w: module-name is not supported; give the absolute module-path", ErrInvalidURI)
	}
	return fmt.Errorf("%w: unsupported query attribute %q (supported: module-path, pin-source)", ErrInvalidURI, name)
}

func setText(dst *string, v []byte, name string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%w: %s has %d bytes, at most %d", ErrInvalidURI, name, len(v), limit)
	}
	if !utf8.Valid(v) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalidURI, name)
	}
	for _, r := range string(v) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalidURI, name)
		}
	}
	*dst = string(v)
	return nil
}

func checkModulePath(p string) error {
	switch {
	case len(p) > maxPathValue:
		return fmt.Errorf("%w: module-path is longer than %d bytes", ErrInvalidURI, maxPathValue)
	case !filepath.IsAbs(p):
		return fmt.Errorf("%w: module-path must be absolute", ErrInvalidURI)
	case filepath.Clean(p) != p:
		return fmt.Errorf("%w: module-path must be a clean path (no '.', '..', '//' or trailing '/')", ErrInvalidURI)
	case strings.ContainsFunc(p, isControl):
		return fmt.Errorf("%w: module-path contains a control character", ErrInvalidURI)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Encode returns the full URI text, including module-path and pin-source,
// for configuration files. ParseURI(u.Encode()) gives u back.
func (u *URI) Encode() string {
	var b strings.Builder
	b.WriteString(uriScheme)
	b.WriteString(u.pathPart())
	var q []string
	if u.ModulePath != "" {
		q = append(q, "module-path="+escape([]byte(u.ModulePath), isQueryChar))
	}
	if u.PINSource != "" {
		q = append(q, "pin-source="+escape([]byte(u.PINSource), isQueryChar))
	}
	if len(q) > 0 {
		b.WriteString("?")
		b.WriteString(strings.Join(q, "&"))
	}
	return b.String()
}

func (u *URI) pathPart() string {
	var p []string
	add := func(name string, v []byte) {
		if len(v) > 0 {
			p = append(p, name+"="+escape(v, isPathChar))
		}
	}
	add("token", []byte(u.Token))
	add("manufacturer", []byte(u.Manufacturer))
	add("model", []byte(u.Model))
	add("serial", []byte(u.Serial))
	add("object", []byte(u.Object))
	add("id", u.ID)
	add("type", []byte(u.Type))
	return strings.Join(p, ";")
}

// String returns the URI without its query part (module and PIN source),
// safe for logs and errors.
func (u *URI) String() string {
	if u == nil {
		return uriScheme
	}
	return uriScheme + u.pathPart()
}

// LogValue implements slog.LogValuer with the redacted form.
func (u *URI) LogValue() slog.Value { return slog.StringValue(u.String()) }

// Equal reports whether two URIs have the same attributes.
func (u *URI) Equal(o *URI) bool {
	return u.Token == o.Token && u.Manufacturer == o.Manufacturer && u.Model == o.Model &&
		u.Serial == o.Serial && u.Object == o.Object && bytes.Equal(u.ID, o.ID) && u.Type == o.Type &&
		u.ModulePath == o.ModulePath && u.PINSource == o.PINSource
}

// ObjectRef returns the object part of the URI: which key an operation
// uses in the token.
func (u *URI) ObjectRef() Object {
	return Object{Label: u.Object, ID: bytes.Clone(u.ID)}
}

// isAttributeName accepts RFC 7512 attribute names: lower-case letters,
// digits and '-'.
func isAttributeName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isResAvail is RFC 7512 pk11-res-avail: reserved characters a value may
// hold unescaped in either part.
func isResAvail(c byte) bool {
	return strings.IndexByte(":[]@!$'()*+,=", c) >= 0
}

// isPathChar is pk11-pchar without pct-encoded: path values may also hold
// '&' unescaped.
func isPathChar(c byte) bool { return isUnreserved(c) || isResAvail(c) || c == '&' }

// isQueryChar is pk11-qchar without pct-encoded: query values may also hold
// '/', '?' and '|' unescaped.
func isQueryChar(c byte) bool {
	return isUnreserved(c) || isResAvail(c) || c == '/' || c == '?' || c == '|'
}

func unescape(s, name string, allowed func(byte) bool) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return nil, fmt.Errorf("%w: %s has a malformed percent escape", ErrInvalidURI, name)
			}
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case allowed(c):
			out = append(out, c)
		default:
			return nil, fmt.Errorf("%w: %s has a character that must be percent-encoded", ErrInvalidURI, name)
		}
	}
	return out, nil
}

func escape(v []byte, allowed func(byte) bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range v {
		if allowed(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
