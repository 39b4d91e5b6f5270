package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rampart-signer/rampart/tss/internal/wire"
)

var errOurs = errors.New("ours: malformed")

func TestTruncatedAndTrailingInputWrapTheCallersError(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		read       func(r *wire.Reader) error
	}{
		{"short field", "count: want 4 bytes, 2 left", func(r *wire.Reader) error { r.U32("count"); return r.End("thing") }},
		{"trailing bytes", "thing has 1 trailing bytes", func(r *wire.Reader) error { r.U8("a"); return r.End("thing") }},
		{"first failure stands", "first", func(r *wire.Reader) error { r.Fail("first"); r.Fail("second"); return r.End("thing") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(wire.NewReader([]byte{1, 2}, errOurs))
			if !errors.Is(err, errOurs) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %v naming %q", err, errOurs, tc.want)
			}
		})
	}
}

func TestForgedHeaderIsRefusedWithTheProtocolsErrors(t *testing.T) {
	errVersion := errors.New("ours: version")
	f := wire.Format{Magic: "TEST", Version: 1, Name: "test", IDField: "test id", Malformed: errOurs, BadVersion: errVersion}
	good := f.Append(nil, wire.Header{Kind: 3, ID: [32]byte{9}, From: 1, To: 2})
	if len(good) != wire.HeaderLen {
		t.Fatalf("header is %d bytes, want %d", len(good), wire.HeaderLen)
	}
	h, r, err := f.Parse(append(good, 7))
	if err != nil || h.Kind != 3 || h.ID != [32]byte{9} || h.From != 1 || h.To != 2 || r.Left() != 1 {
		t.Fatalf("parse = %+v, %v", h, err)
	}
	badMagic := append([]byte("XEST"), good[4:]...)
	if _, _, err := f.Parse(badMagic); !errors.Is(err, errOurs) || !strings.Contains(err.Error(), "not a test message") {
		t.Fatalf("bad magic: %v", err)
	}
	newer := append([]byte(nil), good...)
	newer[4] = 2
	if _, _, err := f.Parse(newer); !errors.Is(err, errVersion) {
		t.Fatalf("other version: %v", err)
	}
	if _, _, err := f.Parse(good[:20]); !errors.Is(err, errOurs) || !strings.Contains(err.Error(), "test id") {
		t.Fatalf("truncated: %v", err)
	}
}
