package reshare

import (
	"encoding/binary"
	"fmt"
)

// reader decodes big-endian fields and remembers the first error, which
// names the field that was short.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w: %s: want %d bytes, %d left", ErrMalformed, field, n, len(r.b)-r.off)
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) u8(field string) uint8 {
	if b := r.bytes(1, field); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if b := r.bytes(2, field); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if b := r.bytes(4, field); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if b := r.bytes(8, field); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// fail records err unless an earlier error is already recorded.
func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
	}
}

// end reports the first error, or trailing bytes after the last field.
func (r *reader) end(what string) error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("%w: %s has %d trailing bytes", ErrMalformed, what, len(r.b)-r.off)
	}
	return r.err
}
