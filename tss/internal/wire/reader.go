// Package wire holds the big-endian field reader that the DKG (tss/dkg) and
// the resharing (tss/reshare) parse their messages and snapshots with. Each
// package keeps its own sentinel error: the reader wraps the one it is given.
package wire

import (
	"encoding/binary"
	"fmt"
)

// Reader decodes big-endian fields and remembers the first error, which
// names the field that was short. Every error it records wraps Malformed.
type Reader struct {
	B         []byte
	Off       int
	Err       error
	Malformed error
}

// NewReader reads b; its errors wrap malformed.
func NewReader(b []byte, malformed error) *Reader {
	return &Reader{B: b, Malformed: malformed}
}

// Left is the number of bytes not read yet.
func (r *Reader) Left() int { return len(r.B) - r.Off }

// Bytes reads n bytes (nil after an error).
func (r *Reader) Bytes(n int, field string) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || len(r.B)-r.Off < n {
		r.Err = fmt.Errorf("%w: %s: want %d bytes, %d left", r.Malformed, field, n, len(r.B)-r.Off)
		return nil
	}
	out := r.B[r.Off : r.Off+n]
	r.Off += n
	return out
}

// U8 reads one byte.
func (r *Reader) U8(field string) uint8 {
	if b := r.Bytes(1, field); b != nil {
		return b[0]
	}
	return 0
}

// U16 reads a big-endian uint16.
func (r *Reader) U16(field string) uint16 {
	if b := r.Bytes(2, field); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32(field string) uint32 {
	if b := r.Bytes(4, field); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64(field string) uint64 {
	if b := r.Bytes(8, field); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Fail records err unless an earlier error is already recorded.
func (r *Reader) Fail(format string, a ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%w: "+format, append([]any{r.Malformed}, a...)...)
	}
}

// End reports the first error, or trailing bytes after the last field.
func (r *Reader) End(what string) error {
	if r.Err == nil && r.Off != len(r.B) {
		r.Err = fmt.Errorf("%w: %s has %d trailing bytes", r.Malformed, what, len(r.B)-r.Off)
	}
	return r.Err
}
