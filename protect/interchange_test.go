package protect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/protect"
)

const (
	zeroRoot = `"0x0000000000000000000000000000000000000000000000000000000000000000"`
	pubkey   = `"0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"`
)

// doc builds a document around one validator entry.
func doc(validator string) string {
	return `{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + zeroRoot + `},"data":[` + validator + `]}`
}

func entry(blocks, atts string) string {
	return `{"pubkey":` + pubkey + `,"signed_blocks":[` + blocks + `],"signed_attestations":[` + atts + `]}`
}

func TestParseInterchangeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty data", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + zeroRoot + `},"data":[]}`},
		{"fields in any order", `{"data":[],"metadata":{"genesis_validators_root":` + zeroRoot + `,"interchange_format_version":"5"}}`},
		{"records with and without roots", doc(entry(`{"slot":"1"},{"slot":"2","signing_root":`+zeroRoot+`}`, `{"source_epoch":"0","target_epoch":"18446744073709551615"}`))},
		{"upper-case hex", doc(`{"pubkey":"0xA99A76ED7796F7BE22D5B7E85DEEB7C5677E88E511E0B337618F8C4EB61349B4BF2D153F649F7B53359FE8B94A38E44C","signed_blocks":[],"signed_attestations":[]}`)},
		{"whitespace around the document", "\n  " + doc(entry("", "")) + "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := protect.ParseInterchange([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseInterchangeRefusesWithTheFieldPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{"empty input", ``, "document ends early"},
		{"not JSON", `{"metadata":`, "document ends early"},
		{"syntax error", `{"metadata" 5}`, "malformed JSON"},
		{"top level is an array", `[]`, "want an object, got an array"},
		{"missing metadata", `{"data":[]}`, "metadata: missing"},
		{"missing data", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + zeroRoot + `}}`, "data: missing"},
		{"unknown top-level field", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + zeroRoot + `},"data":[],"extra":1}`, "extra: unknown field"},
		{"empty metadata", `{"metadata":{},"data":[]}`, "metadata.interchange_format_version: missing"},
		{"unknown field", doc(`{"pubkey":` + pubkey + `,"signed_blocks":[],"signed_attestations":[],"note":"x"}`), "data[0].note: unknown field"},
		{"repeated field", doc(`{"pubkey":` + pubkey + `,"pubkey":` + pubkey + `,"signed_blocks":[],"signed_attestations":[]}`), "data[0].pubkey: repeated field"},
		{"wrong version", `{"metadata":{"interchange_format_version":"4","genesis_validators_root":` + zeroRoot + `},"data":[]}`, `metadata.interchange_format_version: version "4" is not supported`},
		{"version as a number", `{"metadata":{"interchange_format_version":5,"genesis_validators_root":` + zeroRoot + `},"data":[]}`, "want a string, got a number"},
		{"short root", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x00"},"data":[]}`, "genesis_validators_root: has 2 hex digits, want 64"},
		{"root without 0x", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + strings.Repeat("0", 64) + `"},"data":[]}`, "must start with 0x"},
		{"missing signed_blocks", doc(`{"pubkey":` + pubkey + `,"signed_attestations":[]}`), "data[0].signed_blocks: missing"},
		{"bad hex in pubkey", doc(`{"pubkey":"0x` + strings.Repeat("g", 96) + `","signed_blocks":[],"signed_attestations":[]}`), `data[0].pubkey: invalid hex digit 'g'`},
		{"slot as a number", doc(entry(`{"slot":1}`, "")), "data[0].signed_blocks[0].slot: want a string, got a number"},
		{"slot with leading zero", doc(entry(`{"slot":"01"}`, "")), `data[0].signed_blocks[0].slot: "01" is not a canonical decimal integer`},
		{"negative slot", doc(entry(`{"slot":"-1"}`, "")), "is not a canonical decimal integer"},
		{"slot overflows", doc(entry(`{"slot":"18446744073709551616"}`, "")), "does not fit in 64 bits"},
		{"missing slot", doc(entry(`{"signing_root":`+zeroRoot+`}`, "")), "data[0].signed_blocks[0].slot: missing"},
		{"missing target", doc(entry("", `{"source_epoch":"1"}`)), "data[0].signed_attestations[0].target_epoch: missing"},
		{"null signing root", doc(entry("", `{"source_epoch":"1","target_epoch":"2","signing_root":null}`)), "signing_root: want a string, got null"},
		{"second record is bad", doc(entry("", `{"source_epoch":"1","target_epoch":"2"},{"source_epoch":"x","target_epoch":"2"}`)), "data[0].signed_attestations[1].source_epoch"},
		{"data after the document", doc(entry("", "")) + `{}`, "data after the end of the document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, err := protect.ParseInterchange([]byte(tc.in))
			if ic != nil || !errors.Is(err, protect.ErrInvalidInterchange) {
				t.Fatalf("got %v, %v", ic, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestInterchangeMarshalRoundTrips(t *testing.T) {
	in := doc(entry(`{"slot":"1"},{"slot":"2","signing_root":`+zeroRoot+`}`, `{"source_epoch":"0","target_epoch":"3","signing_root":`+zeroRoot+`}`))
	ic, err := protect.ParseInterchange([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ic.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip changed the document:\n%s\n%s", in, out)
	}
}

// FuzzParseInterchange feeds the parser arbitrary bytes. Whatever it accepts
// must write back to a document that parses to the same value and writes
// back to the same bytes.
func FuzzParseInterchange(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(vectorsDir(), "*.json"))
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var c struct {
			Steps []struct {
				Interchange json.RawMessage `json:"interchange"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			f.Fatal(err)
		}
		for _, s := range c.Steps {
			f.Add([]byte(s.Interchange))
		}
	}
	f.Add([]byte(doc(entry(`{"slot":"1","signing_root":`+zeroRoot+`}`, `{"source_epoch":"0","target_epoch":"1"}`))))
	f.Add([]byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":` + zeroRoot + `},"data":[],"data":[]}`))
	f.Add([]byte(`{"data":[{"pubkey":"0x","signed_blocks":[{"slot":"00"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ic, err := protect.ParseInterchange(data)
		if err != nil {
			if ic != nil || !errors.Is(err, protect.ErrInvalidInterchange) {
				t.Fatalf("error %v with result %v", err, ic)
			}
			return
		}
		out, err := ic.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := protect.ParseInterchange(out)
		if err != nil {
			t.Fatalf("own output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(ic, back) {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", ic, back)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("output is not canonical: %v\n%s\n%s", err, out, again)
		}
	})
}
