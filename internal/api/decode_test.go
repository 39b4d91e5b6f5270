package api_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/internal/api"
)

const (
	pk   = "0x97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
	root = "0xf5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
	sig  = "0x832aa3a6a5b6833e2cd87588ed18645484670b001e8f1553203da74625adb99b08f0c435af5ebe2a2c6340bf309e72f503bf7173a6db728cfe4917c4584cabd5bf819a5ea9cf42bfe5f5f20ec4b95056a712f9e5a71cfedab8e3db29c9f53889"
)

func TestDecodePartialSignature(t *testing.T) {
	good := `{"participant_id":"1","signing_root":"` + root + `","signature":"` + sig + `"}`
	p, err := api.DecodePartialSignature([]byte(good))
	if err != nil || p.ParticipantID != 1 || p.SigningRoot.String() != root || p.Signature.String() != sig {
		t.Fatalf("good body: %+v %v", p, err)
	}
	for name, body := range map[string]string{
		"refuses missing signature":     `{"participant_id":"1","signing_root":"` + root + `"}`,
		"refuses unknown field":         `{"participant_id":"1","signing_root":"` + root + `","signature":"` + sig + `","x":1}`,
		"refuses numeric id":            `{"participant_id":1,"signing_root":"` + root + `","signature":"` + sig + `"}`,
		"refuses leading zero id":       `{"participant_id":"01","signing_root":"` + root + `","signature":"` + sig + `"}`,
		"refuses negative id":           `{"participant_id":"-1","signing_root":"` + root + `","signature":"` + sig + `"}`,
		"refuses short root":            `{"participant_id":"1","signing_root":"0x00","signature":"` + sig + `"}`,
		"refuses root without prefix":   `{"participant_id":"1","signing_root":"` + root[2:] + `","signature":"` + sig + `"}`,
		"refuses trailing data":         good + `{}`,
		"refuses null signature":        `{"participant_id":"1","signing_root":"` + root + `","signature":null}`,
		"refuses id above uint64 range": `{"participant_id":"18446744073709551616","signing_root":"` + root + `","signature":"` + sig + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := api.DecodePartialSignature([]byte(body)); !errors.Is(err, api.ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeAccounts(t *testing.T) {
	acc := `{"participant_id":"1","public_key":"` + pk + `","composite_public_key":"` + pk + `","signing_threshold":"1","participants":[{"id":"1","endpoint":"https://a:1"}]}`
	as, err := api.DecodeAccounts([]byte("[" + acc + "]"))
	if err != nil || len(as) != 1 || as[0].SigningThreshold != 1 || as[0].Participants[0].Endpoint != "https://a:1" {
		t.Fatalf("%+v %v", as, err)
	}
	for name, body := range map[string]string{
		"refuses empty participants":   strings.Replace(acc, `[{"id":"1","endpoint":"https://a:1"}]`, `[]`, 1),
		"refuses participant sans id":  strings.Replace(acc, `"id":"1",`, ``, 1),
		"refuses missing threshold":    strings.Replace(acc, `"signing_threshold":"1",`, ``, 1),
		"refuses object instead of []": acc,
	} {
		t.Run(name, func(t *testing.T) {
			in := "[" + body + "]"
			if name == "refuses object instead of []" {
				in = body
			}
			if _, err := api.DecodeAccounts([]byte(in)); !errors.Is(err, api.ErrMalformed) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestDecodeBatchResults(t *testing.T) {
	okItem := `{"identifier":"` + pk + `","participant_id":"2","signing_root":"` + root + `","signature":"` + sig + `"}`
	errItem := `{"identifier":"` + pk + `","error":{"code":412,"message":"slashing"}}`
	rs, err := api.DecodePartialBatchResults([]byte("[" + okItem + "," + errItem + "]"))
	if err != nil || len(rs) != 2 || rs[0].Signature == nil || rs[1].Error.Code != 412 {
		t.Fatalf("%+v %v", rs, err)
	}
	for name, item := range map[string]string{
		"refuses both":             `{"identifier":"` + pk + `","participant_id":"2","signing_root":"` + root + `","signature":"` + sig + `","error":{"code":412,"message":"x"}}`,
		"refuses neither":          `{"identifier":"` + pk + `"}`,
		"refuses half a success":   `{"identifier":"` + pk + `","signature":"` + sig + `"}`,
		"refuses non-error status": `{"identifier":"` + pk + `","error":{"code":200,"message":"x"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := api.DecodePartialBatchResults([]byte("[" + item + "]")); !errors.Is(err, api.ErrMalformed) {
				t.Fatalf("got %v", err)
			}
		})
	}
	full := `[{"identifier":"` + pk + `","signature":"` + sig + `"},` + errItem + `]`
	if rs, err := api.DecodeBatchResults([]byte(full)); err != nil || len(rs) != 2 {
		t.Fatalf("%+v %v", rs, err)
	}
}

// FuzzDecodePartialBatchResults: no panics, and whatever decodes re-encodes
// to a body that decodes to the same value.
func FuzzDecodePartialBatchResults(f *testing.F) {
	f.Add([]byte(`[{"identifier":"` + pk + `","participant_id":"2","signing_root":"` + root + `","signature":"` + sig + `"}]`))
	f.Add([]byte(`[{"identifier":"` + pk + `","error":{"code":412,"message":"slashing"}}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"participant_id":"1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := api.DecodePartialBatchResults(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		rs2, err := api.DecodePartialBatchResults(again)
		if err != nil || !reflect.DeepEqual(rs, rs2) {
			t.Fatalf("round trip: %v\n%s", err, again)
		}
	})
}

func FuzzDecodeAccounts(f *testing.F) {
	f.Add([]byte(`[{"participant_id":"1","public_key":"` + pk + `","composite_public_key":"` + pk + `","signing_threshold":"1","participants":[{"id":"1","endpoint":"https://a:1"}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := api.DecodeAccounts(data)
		if err != nil {
			return
		}
		again, _ := json.Marshal(as)
		as2, err := api.DecodeAccounts(again)
		if err != nil || !reflect.DeepEqual(as, as2) {
			t.Fatalf("round trip: %v\n%s", err, again)
		}
	})
}

// TestDecodeErrorConflict: a conflict comes only with a 412 and carries a
// bounded JSON object, in a single answer and in a batch item alike.
func TestDecodeErrorConflict(t *testing.T) {
	root := `"0x` + strings.Repeat("ab", 32) + `"`
	ok := `{"code":412,"message":"double vote","conflict":{"signing_root":` + root + `,"attestation_data":{"slot":"1"}}}`
	e, err := api.DecodeError([]byte(ok))
	if err != nil || e.Conflict == nil || string(e.Conflict.AttestationData) != `{"slot":"1"}` {
		t.Fatalf("%+v, %v", e, err)
	}
	for name, body := range map[string]string{
		"with another status": `{"code":503,"message":"x","conflict":{"signing_root":` + root + `}}`,
		"data not an object":  `{"code":412,"message":"x","conflict":{"signing_root":` + root + `,"attestation_data":[1]}}`,
		"data too large":      `{"code":412,"message":"x","conflict":{"signing_root":` + root + `,"attestation_data":{"a":"` + strings.Repeat("x", api.MaxConflictData) + `"}}}`,
	} {
		if _, err := api.DecodeError([]byte(body)); !errors.Is(err, api.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
		item := `[{"identifier":"0x` + strings.Repeat("aa", 48) + `","error":` + body + `}]`
		if _, err := api.DecodePartialBatchResults([]byte(item)); !errors.Is(err, api.ErrMalformed) {
			t.Errorf("%s, in a batch: got %v, want ErrMalformed", name, err)
		}
	}
}
