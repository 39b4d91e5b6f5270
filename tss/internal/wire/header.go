package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/rampart-signer/rampart/tss"
)

// HeaderLen is the length of the fixed header every message starts with:
//
//	magic [4] | version u8 | kind u8 | id [32] | sender u64 | recipient u64 (0: broadcast)
const HeaderLen = 4 + 1 + 1 + 32 + 8 + 8

// Header is the fixed header's content. ID is the ceremony's or session's.
type Header struct {
	Kind     uint8
	ID       [32]byte
	From, To tss.ID
}

// Format is one protocol's header: its magic and version, the words its
// errors name it and its id field with, and the errors they wrap.
type Format struct {
	Magic   string // 4 bytes
	Version uint8
	// Name names the protocol in "not a Name message (bad magic)".
	Name string
	// IDField names the id field in a short-message error.
	IDField string
	// Malformed and BadVersion are the package's sentinel errors.
	Malformed, BadVersion error
}

// Append appends h's encoding to b.
func (f Format) Append(b []byte, h Header) []byte {
	b = append(b, f.Magic...)
	b = append(b, f.Version, h.Kind)
	b = append(b, h.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.From))
	return binary.BigEndian.AppendUint64(b, uint64(h.To))
}

// Parse decodes the header of b and returns a reader positioned at the
// body. The kind is not checked: the protocol knows its kinds.
func (f Format) Parse(b []byte) (Header, *Reader, error) {
	var h Header
	r := NewReader(b, f.Malformed)
	if string(r.Bytes(4, "magic")) != f.Magic {
		return h, nil, fmt.Errorf("%w: not a %s message (bad magic)", f.Malformed, f.Name)
	}
	if v := r.U8("version"); v != f.Version {
		return h, nil, fmt.Errorf("%w: message version %d, this code speaks %d", f.BadVersion, v, f.Version)
	}
	h.Kind = r.U8("kind")
	copy(h.ID[:], r.Bytes(32, f.IDField))
	h.From = tss.ID(r.U64("sender"))
	h.To = tss.ID(r.U64("recipient"))
	if r.Err != nil {
		return h, nil, r.Err
	}
	return h, r, nil
}
