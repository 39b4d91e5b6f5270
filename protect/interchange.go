package protect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// InterchangeVersion is the EIP-3076 interchange_format_version this package
// reads and writes.
const InterchangeVersion = "5"

// Interchange is an EIP-3076 slashing protection interchange document
// (format version 5).
type Interchange struct {
	// GenesisValidatorsRoot names the network the history belongs to.
	GenesisValidatorsRoot Root
	// Data holds one entry per validator. A key may appear more than once;
	// its entries are merged.
	Data []InterchangeValidator
}

// InterchangeValidator is the history of one validator.
type InterchangeValidator struct {
	PublicKey          PublicKey
	SignedBlocks       []SignedBlock
	SignedAttestations []SignedAttestation
}

// SignedBlock is a block the validator signed.
type SignedBlock struct {
	Slot uint64
	// SigningRoot is meaningful only when HasSigningRoot is set; the field
	// is optional in EIP-3076 and a record without it matches no request.
	SigningRoot    Root
	HasSigningRoot bool
}

// SignedAttestation is an attestation the validator signed.
type SignedAttestation struct {
	SourceEpoch    uint64
	TargetEpoch    uint64
	SigningRoot    Root
	HasSigningRoot bool
}

// ParseInterchange decodes an EIP-3076 document strictly: every required
// field present, no unknown or repeated field, numbers as canonical decimal
// strings that fit 64 bits, hex of the right length, version "5", nothing
// after the document. The error matches [ErrInvalidInterchange] and names
// the offending field by its path, e.g. data[3].signed_blocks[0].slot.
func ParseInterchange(data []byte) (*Interchange, error) {
	p := &parser{dec: json.NewDecoder(bytes.NewReader(data))}
	ic, err := p.document()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInterchange, err)
	}
	return ic, nil
}

// parser walks the JSON token stream, which (unlike json.Unmarshal) lets it
// refuse repeated fields and say where each problem is.
type parser struct {
	dec *json.Decoder
}

type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func fail(path, format string, a ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, a...)}
}

func (p *parser) token(path string) (json.Token, error) {
	t, err := p.dec.Token()
	if err == io.EOF {
		return nil, fail(path, "document ends early")
	}
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fail(path, "malformed JSON at byte %d: %v", se.Offset, err)
		}
		return nil, fail(path, "malformed JSON: %v", err)
	}
	return t, nil
}

func describe(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// object reads an object whose fields must come from names; required lists
// those that must be present. fn reads each field's value.
func (p *parser) object(path string, names []string, required int, fn func(i int, path string) error) error {
	t, err := p.token(path)
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return fail(path, "want an object, got %s", describe(t))
	}
	var seen uint
	for p.dec.More() {
		t, err := p.token(path)
		if err != nil {
			return err
		}
		name, _ := t.(string)
		i := index(names, name)
		fpath := join(path, name)
		switch {
		case i < 0:
			return fail(fpath, "unknown field")
		case seen&(1<<i) != 0:
			return fail(fpath, "repeated field")
		}
		seen |= 1 << i
		if err := fn(i, fpath); err != nil {
			return err
		}
	}
	if _, err := p.token(path); err != nil {
		return err
	}
	for i := 0; i < required; i++ {
		if seen&(1<<i) == 0 {
			return fail(join(path, names[i]), "missing")
		}
	}
	return nil
}

func index(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (p *parser) array(path string, fn func(path string) error) error {
	t, err := p.token(path)
	if err != nil {
		return err
	}
	if t != json.Delim('[') {
		return fail(path, "want an array, got %s", describe(t))
	}
	for i := 0; p.dec.More(); i++ {
		if err := fn(fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	_, err = p.token(path)
	return err
}

func (p *parser) str(path string) (string, error) {
	t, err := p.token(path)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", fail(path, "want a string, got %s", describe(t))
	}
	return s, nil
}

// uint reads a quoted canonical decimal: digits only, no sign, no leading
// zero, at most 2^64-1, so that one number has one spelling.
func (p *parser) uint(path string) (uint64, error) {
	s, err := p.str(path)
	if err != nil {
		return 0, err
	}
	ok := s != "" && (s == "0" || s[0] != '0')
	for i := 0; ok && i < len(s); i++ {
		ok = '0' <= s[i] && s[i] <= '9'
	}
	if !ok {
		return 0, fail(path, "%s is not a canonical decimal integer", short(s))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fail(path, "%s does not fit in 64 bits", short(s))
	}
	return v, nil
}

func (p *parser) hex(path string, dst []byte) error {
	s, err := p.str(path)
	if err != nil {
		return err
	}
	if err := decodeHex(dst, s); err != nil {
		return fail(path, "%v", err)
	}
	return nil
}

// short quotes at most 40 bytes of a bad value for an error message.
func short(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "..."
	}
	return strconv.Quote(s)
}

func (p *parser) document() (*Interchange, error) {
	ic := &Interchange{Data: []InterchangeValidator{}}
	var version string
	err := p.object("", []string{"metadata", "data"}, 2, func(i int, path string) error {
		if i == 0 {
			return p.object(path, []string{"interchange_format_version", "genesis_validators_root"}, 2, func(i int, path string) error {
				if i == 0 {
					var err error
					if version, err = p.str(path); err != nil {
						return err
					}
					if version != InterchangeVersion {
						return fail(path, "version %s is not supported; want %q", short(version), InterchangeVersion)
					}
					return nil
				}
				return p.hex(path, ic.GenesisValidatorsRoot[:])
			})
		}
		return p.array(path, func(path string) error {
			v, err := p.validator(path)
			if err == nil {
				ic.Data = append(ic.Data, v)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, fail("", "data after the end of the document")
	}
	return ic, nil
}

func (p *parser) validator(path string) (InterchangeValidator, error) {
	v := InterchangeValidator{SignedBlocks: []SignedBlock{}, SignedAttestations: []SignedAttestation{}}
	err := p.object(path, []string{"pubkey", "signed_blocks", "signed_attestations"}, 3, func(i int, path string) error {
		switch i {
		case 0:
			return p.hex(path, v.PublicKey[:])
		case 1:
			return p.array(path, func(path string) error {
				var b SignedBlock
				err := p.object(path, []string{"slot", "signing_root"}, 1, func(i int, path string) error {
					if i == 0 {
						var err error
						b.Slot, err = p.uint(path)
						return err
					}
					b.HasSigningRoot = true
					return p.hex(path, b.SigningRoot[:])
				})
				v.SignedBlocks = append(v.SignedBlocks, b)
				return err
			})
		}
		return p.array(path, func(path string) error {
			var a SignedAttestation
			err := p.object(path, []string{"source_epoch", "target_epoch", "signing_root"}, 2, func(i int, path string) error {
				var err error
				switch i {
				case 0:
					a.SourceEpoch, err = p.uint(path)
				case 1:
					a.TargetEpoch, err = p.uint(path)
				default:
					a.HasSigningRoot = true
					err = p.hex(path, a.SigningRoot[:])
				}
				return err
			})
			v.SignedAttestations = append(v.SignedAttestations, a)
			return err
		})
	})
	return v, err
}

// JSON shapes for writing; reading goes through the parser above.
type (
	jsonMetadata struct {
		Version string `json:"interchange_format_version"`
		Root    string `json:"genesis_validators_root"`
	}
	jsonBlock struct {
		Slot        string `json:"slot"`
		SigningRoot string `json:"signing_root,omitempty"`
	}
	jsonAttestation struct {
		Source      string `json:"source_epoch"`
		Target      string `json:"target_epoch"`
		SigningRoot string `json:"signing_root,omitempty"`
	}
	jsonValidator struct {
		PublicKey          string            `json:"pubkey"`
		SignedBlocks       []jsonBlock       `json:"signed_blocks"`
		SignedAttestations []jsonAttestation `json:"signed_attestations"`
	}
)

// WriteTo writes the document as JSON, one validator at a time so an export
// of many keys is never built in memory twice.
func (ic *Interchange) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	meta, err := json.Marshal(jsonMetadata{Version: InterchangeVersion, Root: ic.GenesisValidatorsRoot.String()})
	if err != nil {
		return cw.n, err
	}
	cw.write("{\n  \"metadata\": ")
	cw.write(string(meta))
	cw.write(",\n  \"data\": [")
	for i := range ic.Data {
		if i > 0 {
			cw.write(",")
		}
		cw.write("\n    ")
		b, err := json.Marshal(toJSON(&ic.Data[i]))
		if err != nil {
			return cw.n, err
		}
		cw.write(string(b))
	}
	if len(ic.Data) > 0 {
		cw.write("\n  ")
	}
	cw.write("]\n}\n")
	return cw.n, cw.err
}

// Marshal returns the document as JSON.
func (ic *Interchange) Marshal() ([]byte, error) {
	var b bytes.Buffer
	_, err := ic.WriteTo(&b)
	return b.Bytes(), err
}

func toJSON(v *InterchangeValidator) jsonValidator {
	out := jsonValidator{
		PublicKey:          v.PublicKey.String(),
		SignedBlocks:       make([]jsonBlock, len(v.SignedBlocks)),
		SignedAttestations: make([]jsonAttestation, len(v.SignedAttestations)),
	}
	for i, b := range v.SignedBlocks {
		out.SignedBlocks[i] = jsonBlock{Slot: strconv.FormatUint(b.Slot, 10)}
		if b.HasSigningRoot {
			out.SignedBlocks[i].SigningRoot = b.SigningRoot.String()
		}
	}
	for i, a := range v.SignedAttestations {
		out.SignedAttestations[i] = jsonAttestation{
			Source: strconv.FormatUint(a.SourceEpoch, 10),
			Target: strconv.FormatUint(a.TargetEpoch, 10),
		}
		if a.HasSigningRoot {
			out.SignedAttestations[i].SigningRoot = a.SigningRoot.String()
		}
	}
	return out
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) write(s string) {
	if c.err != nil {
		return
	}
	n, err := io.WriteString(c.w, s)
	c.n += int64(n)
	c.err = err
}
